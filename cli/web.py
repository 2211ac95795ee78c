"""``decide web``: the console (``web``) and the JSON API (``api``), served by uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import app, commands


@app.command()
def web(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="port")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, max=64, help="processes serving the same socket (default 1)"
        ),
    ] = 1,
) -> None:
    """网页 serve the web console at / and the JSON API under /api/v1 (OpenAPI at
    /api/v1/openapi.json)."""
    from api.serve import serve

    cmds = commands()  # a wrong DECIDE_HOME or database URL fails here, before listening
    serve(lambda: cmds, host=host, port=port, workers=workers)
