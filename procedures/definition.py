"""A procedure definition pinned to a decision: its canonical content and that content's SHA-256.

A decision runs under the definition it was registered with for its whole life (SPEC §5): the
resolved ``Procedure`` (presets and ``extends`` already merged, validated) is serialised
canonically — JSON with sorted keys, every field written out, defaults included, so that a later
change of a model default cannot change what a stored definition means — and hashed.  The store
keeps the content by hash; ``unpin`` turns stored content back into the ``Procedure``, refusing
content that no longer matches its hash.  ``source_file`` is where a definition was read from,
not part of what it says, so it is left out of the content (the same file moved hashes the same).
"""

from __future__ import annotations

import functools
import hashlib
import json

from pydantic import BaseModel, ConfigDict, ValidationError

from procedures.errors import InvalidDefinition
from procedures.model import Procedure

__all__ = ["Definition", "pin", "unpin"]


class Definition(BaseModel):
    """A definition as stored: id, version, canonical content and its SHA-256 (hex)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str
    id: str
    version: str
    content: str


def _canonical(proc: Procedure) -> str:
    data = proc.model_dump(mode="json", exclude={"source_file"})
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def pin(proc: Procedure) -> Definition:
    """The definition to store for ``proc``."""
    content = _canonical(proc)
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    return Definition(sha256=digest, id=proc.id, version=proc.version, content=content)


def unpin(definition: Definition) -> Procedure:
    """The ``Procedure`` a stored definition holds; ``InvalidDefinition`` when the content does
    not hash to its key (the row was edited outside the engine) or does not parse."""
    digest = hashlib.sha256(definition.content.encode("utf-8")).hexdigest()
    source = f"stored definition {definition.sha256[:12]}"
    if digest != definition.sha256:
        raise InvalidDefinition(
            f"存储的程序定义已被改动 the stored content hashes to {digest[:12]}…, not to its key "
            f"{definition.sha256[:12]}…: the procedure_definitions row was edited outside the "
            "engine",
            source=source,
        )
    return _parsed(definition.content, source)


@functools.lru_cache(maxsize=64)
def _parsed(content: str, source: str) -> Procedure:
    try:
        return Procedure.model_validate_json(content).model_copy(update={"source_file": source})
    except ValidationError as exc:
        raise InvalidDefinition(f"stored content does not parse: {exc}", source=source) from None
