"""The web console (issue 14): server-rendered pages in Chinese over the application layer,
mounted on the API's FastAPI app (``install``).  Pages parse, ask ``app`` and render; no rule
and no SQL here."""

from web.pages import install

__all__ = ["install"]
