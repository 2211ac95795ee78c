"""The decision page's "build now" buttons (the Art. 29 package manifest, the archive ZIP) and
the form they post: ``app.builds.build_now`` decides who may and builds, as the flows would."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from app import permissions
from app.accounts import Identity
from app.commands import Commands
from procedures import AccessDenied, DecideError, InputError, RuleViolation
from procedures.state import Decision
from web.common import Services, caller, form_of

__all__ = ["BuildOffer", "offers", "router"]

ZH = {"package": "生成提请审议材料清单", "archive": "生成归档包"}
NOT_YET = {  # what the button says when the decision's state refuses it
    "archive": "决策作出后方可生成 once the decision is made (Decree 713 Art. 33)",
}


@dataclass(frozen=True)
class BuildOffer:
    kind: str
    zh: str
    refused: str | None = None  # why it would be refused now (the button is then disabled)


def offers(who: Identity, decision: Decision, status: str) -> list[BuildOffer]:
    """The builds ``who`` may ask for on this decision (those refused by the permission rule
    are not offered, as a step's actions are not)."""
    found: list[BuildOffer] = []
    for kind in ("package", "archive"):
        try:
            permissions.check_build(who, decision, kind)
        except AccessDenied:
            continue
        undecided = kind == "archive" and status == "in_progress"
        found.append(BuildOffer(kind, ZH[kind], NOT_YET[kind] if undecided else None))
    return found


def router(services: Services) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    Cmds = Annotated[Commands, Depends(services)]

    @r.post("/decisions/{decision_id}/builds/{kind}")
    async def build(request: Request, decision_id: str, kind: str, cmds: Cmds) -> Response:
        from app.builds import build_now
        from web import steps

        await form_of(request)
        who = await run_in_threadpool(caller, request, cmds)
        try:
            out = await run_in_threadpool(build_now, cmds, who, decision_id, kind)
        except (AccessDenied, RuleViolation, InputError) as exc:
            refusal: DecideError = exc
        else:
            done = kind if out.built else f"{kind}-current"
            return RedirectResponse(f"/decisions/{decision_id}?done={done}#built", status_code=303)
        code = 403 if isinstance(refusal, AccessDenied) else 409
        code = 400 if isinstance(refusal, InputError) else code
        return await run_in_threadpool(
            lambda: steps.decision_page(
                request, cmds, who, decision_id, refusal=refusal, status=code
            )
        )

    return r
