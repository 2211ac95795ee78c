"""Serving the API: uvicorn over ``create_app`` (what ``decide web`` runs)."""

from __future__ import annotations

from collections.abc import Callable

from app.commands import Commands

__all__ = ["serve"]


def serve(cmds_factory: Callable[[], Commands], *, host: str, port: int) -> None:
    import uvicorn

    from api.app import create_app

    uvicorn.run(create_app(cmds_factory), host=host, port=port, log_level="warning")
