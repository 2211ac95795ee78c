"""Who may do what: one place, used by every interface (the CLI, the JSON API, the console).

Acting on a step needs the step's role (the sponsor also opens steps and files documents, and
decides on reuse) and, for the roles tied to a decision, a unit that takes part in it:

- ``sponsor``: the decision's lead sponsor or a co-sponsor (Decree 713 Art. 11);
- ``risk_assessor``, ``expert``: a unit assigned to that role on the decision, or the sponsor's
  (Art. 22: 决策承办单位或者负责风险评估工作的其他单位);
- ``decision_body``, ``head``, ``legal_office``, ``archivist``, ``party_committee``: their work
  spans every decision of their government (registration, the legality review of every draft,
  the collective discussion, publication, archiving).

``admin`` manages accounts, grants and procedures and acts on no step by virtue of it;
``auditor`` reads and verifies everything and changes nothing.  Reading: the office
(``decision_body``, ``head``), the justice bureau, archivists, auditors and admins see every
decision; others the decisions their unit takes part in; a decision flagged ``undisclosable``
only the units taking part, the office, the justice bureau and auditors.

Without accounts (a single-user home) everything is allowed and the act is recorded as
unauthenticated; with accounts, an unauthenticated caller is refused (exit 6).
"""

from __future__ import annotations

from typing import Any

from app.accounts import Identity
from procedures import AccessDenied, Procedure
from procedures.model import Step
from procedures.state import Action, Decision, Reuse, Start
from store.repository import no_decision
from store.todo import Lane

__all__ = [
    "BUILDERS",
    "SPANNING",
    "act_roles",
    "as_admin",
    "check_act",
    "check_build",
    "check_read",
    "hidden_flag",
    "lanes",
    "may_read",
    "reads_all",
    "reads_undisclosable",
    "require",
    "takes_part",
]

ROLE_RULE = "本系统角色规则 role rule (office policy)"
# roles whose work spans every decision of their government
SPANNING = frozenset({"decision_body", "head", "legal_office", "archivist", "party_committee"})
READ_ALL = frozenset({"decision_body", "head", "legal_office", "archivist", "auditor"})
# the archivist archives every decision, the undisclosable ones too: it reads what it acts on
READ_UNDISCLOSABLE = frozenset({"decision_body", "head", "legal_office", "archivist", "auditor"})
UNIT_BOUND = frozenset({"risk_assessor", "expert"})


def takes_part(identity: Identity, decision: Decision) -> bool:
    """The caller's unit is the decision's sponsor, a co-sponsor, or assigned to a role."""
    unit = identity.unit
    if unit is None:
        return False
    return (
        unit == decision.sponsor
        or unit in decision.co_sponsors
        or any(unit in units for units in decision.assignments.values())
    )


def reads_all(identity: Identity | None) -> bool:
    """The caller sees every decision (bar the undisclosable ones, ``reads_undisclosable``)."""
    return (
        identity is None
        or not identity.authenticated
        or identity.admin
        or bool(identity.roles & READ_ALL)
    )


def reads_undisclosable(identity: Identity | None) -> bool:
    """The caller sees undisclosable decisions without taking part in them."""
    return (
        identity is None or not identity.authenticated or bool(identity.roles & READ_UNDISCLOSABLE)
    )


def hidden_flag(identity: Identity | None) -> str | None:
    """The flag whose decisions a query over every decision may leave out before ``may_read``
    decides: ``undisclosable`` for a caller who reads every decision but not the undisclosable
    ones (an admin).  A caller limited to its unit's decisions reads those, undisclosable or
    not (None: the unit filter narrows, ``may_read`` decides)."""
    if reads_all(identity) and not reads_undisclosable(identity):
        return "undisclosable"
    return None


def may_read(identity: Identity, decision: Decision) -> bool:
    if not identity.authenticated:
        return True  # single-user home (an unauthenticated caller with accounts never gets here)
    if "undisclosable" in decision.flags:
        return bool(identity.roles & READ_UNDISCLOSABLE) or takes_part(identity, decision)
    return identity.admin or bool(identity.roles & READ_ALL) or takes_part(identity, decision)


def _hide(identity: Identity, decision: Decision) -> None:
    """An undisclosable decision the caller may not read is answered as an unknown id: even its
    existence is not disclosed (the ordinary ones are in the published catalogue, Decree 713
    Art. 10, so a refusal there names the rule instead)."""
    if "undisclosable" in decision.flags and not may_read(identity, decision):
        raise no_decision(decision.id)


def check_read(identity: Identity, decision: Decision) -> None:
    _hide(identity, decision)
    if not may_read(identity, decision):
        raise AccessDenied(
            f"{identity.name}（{identity.unit}）无权查看决策 {decision.id} may not read this "
            "decision: its unit takes no part in it",
            rule="permission.read",
            remedy="the sponsor, a co-sponsor or an assigned unit reads it; or the office",
        )


def act_roles(step: Step, action: Action) -> frozenset[str]:
    """The roles that may take ``action`` on ``step``: its own role (which alone files its
    documents: the review office the legal advisers' opinion, Art. 28); the sponsor also opens
    it (handing the materials over); a reuse is the sponsor's judgment alone."""
    if isinstance(action, Reuse):
        return frozenset({"sponsor"})
    if isinstance(action, Start):
        return frozenset({step.role, "sponsor"})
    return frozenset({step.role})


def _unit_allows(identity: Identity, role: str, decision: Decision) -> bool:
    if role in SPANNING:
        return True
    sponsor_unit = identity.unit == decision.sponsor or identity.unit in decision.co_sponsors
    if role == "sponsor":
        return sponsor_unit
    if role in UNIT_BOUND:
        return sponsor_unit or identity.unit in decision.assignments.get(role, ())
    return takes_part(identity, decision)


def check_act(
    identity: Identity, proc: Procedure, decision: Decision, step: Step, action: Action
) -> None:
    """Refuse (exit 6) a caller who may not take ``action`` on this decision's ``step``."""
    if not identity.authenticated:
        return
    _hide(identity, decision)
    allowed = act_roles(step, action)
    held = identity.roles & allowed
    if not held:
        ids = " or ".join(sorted(allowed))
        names = "或".join(r.zh for a in sorted(allowed) if (r := proc.role(a)) is not None)
        admin = (
            "（管理员不因管理员身份办理步骤 an admin acts on no step as admin）"
            if identity.admin
            else ""
        )
        raise AccessDenied(
            f"{identity.name} 无权办理 {step.label}，须由{names}办理{admin} is not permitted "
            f"(needs role {ids}; has {', '.join(sorted(identity.roles)) or 'no role'}) "
            f"[{step.article}; {ROLE_RULE}]",
            rule="permission.role",
            remedy=f"an account with role {ids} acts on it",
        )
    if not any(_unit_allows(identity, role, decision) for role in held):
        raise AccessDenied(
            f"{identity.name}（{identity.unit}）不是决策 {decision.id} 的承办、协办或指定单位 "
            f"its unit takes no part in this decision (sponsor {decision.sponsor})",
            rule="permission.unit",
            remedy="an account of the sponsor, a co-sponsor or an assigned unit acts on it",
        )


# who may have a built file made now rather than wait for the flows (``app.builds``): the Art.
# 29 package is assembled by the sponsor (its lead or a co-sponsor: SPEC §1, Art. 11-29) for the
# decision body, which holds the collective discussion it is submitted to (Art. 30), and it ends
# with the justice bureau's legality opinion (Art. 25-28): each of them needs the manifest in
# hand.  The archive bundle is the archivist's (Art. 33: the units charged with archiving hand
# the record over).  Not the head or the Party committee (they receive, they do not assemble),
# nor an auditor (reads and changes nothing: a build is an audit event), nor an admin as such.
BUILDERS = {
    "package": (frozenset({"sponsor", "decision_body", "legal_office"}), "Decree 713 Art. 29"),
    "archive": (frozenset({"archivist"}), "Decree 713 Art. 33"),
}
BUILT_ZH = {"package": "提请审议材料清单 the Art. 29 package", "archive": "归档包 the archive"}


def check_build(identity: Identity, decision: Decision, kind: str) -> None:
    """Refuse (exit 6) a caller who may not have ``kind`` (``package``, ``archive``) built now
    for the decision: one of ``BUILDERS``' roles, and for the sponsor a unit sponsoring it."""
    if not identity.authenticated:
        return
    check_read(identity, decision)
    allowed, article = BUILDERS[kind]
    held = identity.roles & allowed
    if not held:
        ids = " or ".join(sorted(allowed))
        raise AccessDenied(
            f"{identity.name} 无权生成{BUILT_ZH[kind]} is not permitted to build it now (needs "
            f"role {ids}; has {', '.join(sorted(identity.roles)) or 'no role'}) "
            f"[{article}; {ROLE_RULE}]",
            rule="permission.role",
            remedy=f"an account with role {ids} builds it, or wait for decide serve's flows",
        )
    if not any(_unit_allows(identity, role, decision) for role in held):
        raise AccessDenied(
            f"{identity.name}（{identity.unit}）不是决策 {decision.id} 的承办或协办单位 its unit "
            f"does not sponsor this decision (sponsor {decision.sponsor}) [{article}]",
            rule="permission.unit",
            remedy="an account of the sponsor or a co-sponsor builds it, or the office",
        )


def lanes(identity: Identity) -> list[Lane]:
    """Where in the to-do index (``store.todo``) the steps ``identity`` may act on lie — a
    superset, which ``check_act`` then decides item by item: the roles whose work spans every
    decision in every unit's rows; any other role, and the sponsor opening any step
    (``act_roles``), only in the rows of the decisions its unit takes part in."""
    if not identity.authenticated:
        return [Lane("")]  # a single-user home: everything
    found = [Lane("", role) for role in sorted(identity.roles & SPANNING)]
    if identity.unit:
        found += [Lane(identity.unit, role) for role in sorted(identity.roles - SPANNING)]
        if "sponsor" in identity.roles:
            found.append(Lane(identity.unit, status="ready"))
    return found


def require(identity: Identity, *, roles: frozenset[str] = frozenset(), admin: bool = False,
            what: str) -> None:  # fmt: skip
    """Refuse unless the caller is an admin (``admin``) or holds one of ``roles``."""
    if not identity.authenticated:
        return
    if (admin and identity.admin) or identity.roles & roles:
        return
    need = " or ".join([*(["admin"] if admin else []), *sorted(roles)])
    raise AccessDenied(
        f"{identity.name} 无权 {what} is not permitted (needs {need})",
        rule="permission.role",
        remedy=f"an account with {need} does it",
    )


def as_admin(uow: Any, who: Identity, what: str) -> None:
    """Once accounts exist, only an admin may do ``what`` (calendar imports, procedure
    migrations): an unauthenticated caller or a non-admin is refused (exit 6)."""
    if not uow.accounts.any():
        return
    if not who.authenticated:
        raise AccessDenied(
            f"须以管理员身份登录 {what} needs an admin's token",
            rule="auth.required",
            remedy="decide tokens create LOGIN --password-stdin, then set DECIDE_TOKEN",
            authenticated=False,
        )
    if not who.admin:
        raise AccessDenied(
            f"{who.name} 不是管理员 is not an admin: {what} is for admins",
            rule="permission.admin",
            remedy="ask an admin",
        )
