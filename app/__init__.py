"""The application layer: the use cases every interface shares (the CLI, the Prefect flows, the
demo, and next the JSON API and the web console).

Load → check with ``procedures`` → persist through one unit of work → answer.  No rule lives here
(``procedures`` decides), no SQL (``store`` holds it), no rendering (the entry points do it).
``app.bootstrap.bootstrap`` is the composition root.
"""

from app.bootstrap import bootstrap
from app.commands import Attachment, Commands

__all__ = ["Attachment", "Commands", "bootstrap"]
