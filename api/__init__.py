"""The JSON API (FastAPI) under ``/api/v1``: parse, call the application layer, render.  No rule
and no SQL here; ``decide web`` serves it (``cli.web``)."""

from api.app import create_app

__all__ = ["create_app"]
