"""Whether an action is allowed, and what it does: the gates of SPEC §2.

``apply`` takes a decision's attempts and one action and returns the new attempts, or raises
``RuleViolation`` naming the rule, its article and what would make the action allowed (or
``InputError`` for input that names nothing in the procedure).  The gates enforced here:

1. no step starts before the steps it comes after are done or lawfully skipped;
2. no collective discussion without a passing legality review of the current draft (Art. 25);
3. no approval while the latest risk finding is uncontrollable (Art. 24);
4. a statutory period binds the party the law binds: no closing before a minimum has run
   (Art. 15), no response date requested sooner than the guaranteed review time after receipt
   (Art. 26) — each shortened only where the law allows, with a reason recorded when the step
   opens (for the review time: at each submission); the reviewer may answer sooner;
5. only a conditional step may be skipped, with a reason; hard gates never (Art. 25, Art. 30);
6. every refusal names the rule and its article, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from procedures.calendar import WorkCalendar
from procedures.errors import InputError, RuleViolation
from procedures.model import COUNTING, Method, Outcome, Procedure, Step
from procedures.names import MEETING_TYPES, resolve_meeting_type, resolve_outcome, resolve_step
from procedures.package import package_gaps
from procedures.planner import Situation, current_attempt, period_end, situation, step_dates
from procedures.state import (
    Action,
    Attach,
    Attempt,
    Complete,
    Deferral,
    Extend,
    MeetingRecord,
    Pause,
    Reuse,
    Skip,
    Start,
)

__all__ = ["MEETING_TYPES", "apply", "check", "register"]

ART_30 = "Decree 713 Art. 30"


def register(proc: Procedure, on: date) -> tuple[Attempt, ...]:
    """The attempts of a newly registered decision: the steps done at registration."""
    return tuple(
        Attempt(
            step=s.id, number=1, status="done", opened_on=on, closed_on=on, outcome=s.outcomes[0].id
        )
        for s in proc.steps
        if s.at_registration
    )


def check(
    proc: Procedure,
    flags: frozenset[str],
    attempts: Sequence[Attempt],
    action: Action,
    cal: WorkCalendar,
) -> RuleViolation | None:
    """The refusal ``apply`` would raise, or None when the action is allowed."""
    try:
        apply(proc, flags, attempts, action, cal)
    except RuleViolation as refusal:
        return refusal
    return None


def apply(
    proc: Procedure,
    flags: frozenset[str],
    attempts: Sequence[Attempt],
    action: Action,
    cal: WorkCalendar,
    *,
    where: dict[str, Situation] | None = None,
) -> tuple[Attempt, ...]:
    """The attempts after ``action``, or a refusal.  ``where``: ``situation`` of these
    attempts, when the caller has it already (a command plans once)."""
    step = proc.step(resolve_step(proc, action.step))
    assert step is not None
    if where is None:
        where = situation(proc, flags, attempts)
    sit = where[step.id]
    _check_history(proc, step, action.on, attempts)
    if sit.not_applicable:
        raise RuleViolation(
            "decision.ended",
            f"{step.label} 不再适用 no longer applies: {sit.reason}",
            article=step.article,
            remedy="nothing remains to do on this step",
        )
    if isinstance(action, Start):
        return _start(proc, flags, step, sit, where, list(attempts), action, cal)
    if isinstance(action, Complete):
        return _complete(proc, flags, step, sit, list(attempts), action, cal)
    if isinstance(action, Skip):
        return _skip(proc, step, sit, where, list(attempts), action)
    if isinstance(action, Reuse):
        return _reuse(proc, step, sit, list(attempts), action)
    if isinstance(action, Attach):
        return _attach(proc, step, sit, where, list(attempts), action)
    return _extend(step, sit, list(attempts), action)


def _replace(attempts: list[Attempt], old: Attempt, new: Attempt) -> tuple[Attempt, ...]:
    return tuple(new if a is old else a for a in attempts)


def _refuse_state(step: Step, sit: Situation, verb: str) -> RuleViolation:
    att = sit.attempt
    if sit.status == "skipped":
        return RuleViolation(
            "step.skipped",
            f"{step.label} 已跳过 is skipped: {sit.reason}",
            article=step.article,
            remedy=f"nothing to {verb}",
        )
    if sit.status == "done" and att is not None:
        return RuleViolation(
            "step.done",
            f"{step.label} 已于 {att.closed_on} 完成 was done on {att.closed_on} ({att.outcome})",
            article=step.article,
            remedy="a later outcome that returns to this step opens a new attempt",
        )
    if sit.status == "paused" and att is not None:
        return RuleViolation(
            "step.paused",
            f"{step.label} 材料已于 {att.pauses[-1].returned_on} 退回，计时暂停 "
            "materials were returned and the clock is stopped",
            article=step.article,
            remedy=f"resubmit with: start {step.id} --on DATE",
        )
    if sit.status == "open" and att is not None:
        return RuleViolation(
            "step.open",
            f"{step.label} 已于 {att.opened_on} 开始 is already open since {att.opened_on}",
            article=step.article,
            remedy=f"complete {step.id} instead",
        )
    return RuleViolation(
        "step.not_open",
        f"{step.label} 尚未开始 is not open ({sit.status})",
        article=step.article,
        remedy=f"start {step.id} first",
    )


def _refuse_order(proc: Procedure, step: Step, sit: Situation) -> RuleViolation:
    blocking = [proc.step(b) for b in sit.blocked_by]
    gate = next((b for b in blocking if b is not None and b.hard_gate), None)
    names = "、".join(f"{b.zh} ({b.id})" for b in blocking if b is not None)
    if gate is not None:  # a hard gate is never skipped: it must have passed
        rule, article = f"gate.{gate.id}", gate.article
        wait = f"须待 {names} 通过 must wait until {', '.join(sit.blocked_by)} has passed"
    else:
        rule, article = "order.after", step.article
        wait = (
            f"须待 {names} 完成或依法跳过 must wait until {', '.join(sit.blocked_by)} "
            "is done or lawfully skipped"
        )
    return RuleViolation(
        rule, f"{step.label} {wait}", article=article, remedy=f"finish {names} first"
    )


def _prerequisites_closed(proc: Procedure, step: Step, attempts: Sequence[Attempt]) -> date | None:
    days = [
        a.closed_on
        for p in step.after
        if (a := current_attempt(attempts, p.step)) is not None and a.closed_on is not None
    ]
    return max(days) if days else None


def _history_floor(proc: Procedure, step: Step, attempts: Sequence[Attempt]) -> date | None:
    """The latest date already recorded that an action on ``step`` may not precede: anything
    recorded on the step itself (superseded attempts, pauses, deferrals included), and every
    return that sent the procedure back to this step or before it."""
    days: list[date] = []
    for a in attempts:
        if a.step == step.id:
            days += [d for d in (a.opened_on, a.closed_on) if d is not None]
            days += [p.returned_on for p in a.pauses]
            days += [p.resubmitted_on for p in a.pauses if p.resubmitted_on is not None]
            days += [d.on for d in a.deferrals]
        other = proc.step(a.step)
        outcome = other.outcome(a.outcome) if other and a.outcome else None
        returned = outcome is not None and outcome.return_to is not None
        if (
            returned
            and a.closed_on is not None
            and outcome is not None
            and (
                step.id == outcome.return_to or step.id in proc.successors(outcome.return_to or "")
            )
        ):
            days.append(a.closed_on)
    return max(days) if days else None


def _check_history(proc: Procedure, step: Step, on: date, attempts: Sequence[Attempt]) -> None:
    floor = _history_floor(proc, step, attempts)
    if floor is not None and on < floor:
        raise RuleViolation(
            "date.order",
            f"{step.label}: {on} 早于已记录的 {floor} is before a fact already "
            f"recorded on {floor} (facts of a step are recorded in the order they happened)",
            article=step.article,
            remedy=f"use a date on or after {floor}",
        )


def _check_after_prerequisites(
    proc: Procedure, step: Step, on: date, attempts: Sequence[Attempt]
) -> None:
    """A step's new attempt is dated on or after the close of the steps it comes after."""
    _check_not_before(
        step,
        on,
        _prerequisites_closed(proc, step, attempts),
        "the close of the steps it comes after",
    )


def _check_not_before(step: Step, on: date, earliest: date | None, what: str) -> None:
    if earliest is not None and on < earliest:
        raise RuleViolation(
            "date.order",
            f"{step.label}: {on} 早于 is before {what} ({earliest})",
            article=step.article,
            remedy=f"use a date on or after {earliest}",
        )


def _start(
    proc: Procedure,
    flags: frozenset[str],
    step: Step,
    sit: Situation,
    where: dict[str, Situation],
    attempts: list[Attempt],
    action: Start,
    cal: WorkCalendar,
) -> tuple[Attempt, ...]:
    att = sit.attempt
    if sit.status == "paused" and att is not None:  # resubmission after "materials incomplete"
        if action.methods or action.comment_until:
            raise InputError(
                f"{step.label}: 重新提交材料时不适用 --method/--comment-until (they are given when "
                "the step opens)"
            )
        if action.shorten_reason and step.review_time is None:
            raise RuleViolation(
                "minimum.shorten_at_opening",
                f"{step.label}: 缩短期限须在开始时说明理由 a shorter "
                "period must be stated when the step opens",
                article=_min_article(step),
                remedy="resubmit without --shorten-reason",
            )
        _check_not_before(
            step, action.on, att.pauses[-1].returned_on, "the return of the materials"
        )
        # a resubmission is a new receipt: the guaranteed review time runs again from it (Art. 26)
        respond_by, reason = _review_request(step, action, cal)
        pauses = (*att.pauses[:-1], att.pauses[-1].model_copy(update={"resubmitted_on": action.on}))
        update: dict[str, object] = {"status": "open", "pauses": pauses}
        if step.review_time is not None:
            update |= {"respond_by": respond_by, "shorten_reason": reason}
        return _replace(attempts, att, att.model_copy(update=update))
    if sit.status == "waiting":
        raise _refuse_order(proc, step, sit)
    if sit.status != "ready":
        raise _refuse_state(step, sit, "start")
    respond_by, _ = _review_request(step, action, cal)
    methods, comment_until = _participation(proc, step, action)
    if step.requires_package:
        _check_package(proc, flags, step, attempts)
    if (
        step.review_time is None
        and action.shorten_reason
        and not (step.minimum and step.minimum.shortenable)
    ):
        raise RuleViolation(
            "minimum.not_shortenable",
            f"{step.label} 没有可以缩短的法定期限 has no minimum period the law allows to shorten",
            article=_min_article(step),
            remedy="start without --shorten-reason",
        )
    _check_after_prerequisites(proc, step, action.on, attempts)
    new = Attempt(
        step=step.id,
        number=sit.number,
        status="open",
        opened_on=action.on,
        shorten_reason=action.shorten_reason,
        respond_by=respond_by,
        methods=methods,
        comment_until=comment_until,
    )
    return (*attempts, new)


def _participation(
    proc: Procedure, step: Step, action: Start
) -> tuple[tuple[str, ...], date | None]:
    """The methods a participation step uses (Decree 713 Art. 14; the step's first by default)
    and, when one is the public comment window, the deadline its notice publishes: at least the
    statutory minimum after publication, the publication day not counted (Art. 15; Civil Code
    Arts. 201, 203 by analogy), shorter only with the urgency stated at publication."""
    if not step.methods:
        if action.methods or action.comment_until:
            raise RuleViolation(
                "method.not_participation",
                f"{step.label} 不是公众参与步骤 is not a public participation step: --method and "
                "--comment-until do not apply",
                article=step.article,
                remedy=f"start {step.id} without --method and --comment-until",
            )
        return (), None
    methods = tuple(dict.fromkeys(action.methods)) or (step.methods[0],)
    for m in methods:
        if m not in step.methods:
            listed = ", ".join(step.methods)
            raise InputError(f"{step.label} 不采用 does not use method {m!r}; 可选 valid: {listed}")
    window = step.minimum if step.minimum is not None and step.minimum.method else None
    if window is None or window.method not in methods:
        what = proc.method(window.method) if window and window.method else None
        name = f"{what.zh} ({what.id})" if what else "a comment window"
        if action.comment_until is not None:
            raise RuleViolation(
                "method.no_window",
                f"{step.label}: --comment-until 是{name}的截止日期 is the deadline of {name}, "
                f"which the methods given ({', '.join(methods)}) do not include",
                article=(window.basis.article if window else None) or step.article,
                remedy=f"add --method {window.method if window else ''} or leave out "
                "--comment-until",
            )
        if action.shorten_reason:
            raise RuleViolation(
                "minimum.not_shortenable",
                f"{step.label}: 所用方式没有法定最短期限 the methods given ({', '.join(methods)}) "
                "have no minimum period to shorten",
                article=window.basis.article if window and window.basis.article else step.article,
                remedy="start without --shorten-reason",
            )
        return methods, None
    article = window.basis.article or step.article
    earliest = action.on + timedelta(days=window.amount)
    until = action.comment_until or earliest
    if until <= action.on:
        raise InputError(
            f"征求意见截止日期 {until} 须晚于公布之日 {action.on} --comment-until must be after the "
            "day the notice is published (--on)"
        )
    days = (until - action.on).days
    short = days < window.amount
    counted = f"{days}日 ({days} days) from {action.on + timedelta(days=1)} to {until}"
    if short and not (window.shortenable and action.shorten_reason):
        allowed = (
            "; or state the urgency in the notice with --shorten-reason"
            if window.shortenable
            else ""
        )
        raise RuleViolation(
            f"minimum.{step.id}",
            f"{step.label}: 公开征求意见期限 {counted} 少于 {window.label}，一般不少于30日 the "
            f"published comment window is shorter than the statutory minimum ({COUNTING})",
            article=article,
            remedy=f"publish a deadline on or after {earliest} (--comment-until {earliest})"
            f"{allowed}",
        )
    if action.shorten_reason and not short:
        raise RuleViolation(
            "minimum.not_shortened",
            f"{step.label}: 征求意见期限 {counted} 未缩短，无需缩短理由 --shorten-reason applies "
            f"only to a window shorter than {window.label} (a deadline before {earliest})",
            article=article,
            remedy=f"give --comment-until before {earliest}, or leave out --shorten-reason",
        )
    return methods, until


def _check_package(
    proc: Procedure, flags: frozenset[str], step: Step, attempts: Sequence[Attempt]
) -> None:
    """The submission package must be complete before the step starts (Decree 713 Art. 29)."""
    gaps = package_gaps(proc, flags, attempts)
    if not gaps:
        return
    names = "；".join(
        f"{g.zh} ({g.kind}, {g.step}{' · ' + g.article if g.article else ''})" for g in gaps
    )
    first = gaps[0]
    raise RuleViolation(
        "package.incomplete",
        f"{step.label}: 提请讨论的材料不齐全，缺少 the submission package lacks: {names}",
        article="Decree 713 Art. 29",
        remedy=f"attach each document to its step, e.g. decide attach DECISION {first.step} "
        f"--attach {first.kind}=FILE",
    )


def _review_request(step: Step, action: Start, cal: WorkCalendar) -> tuple[date | None, str | None]:
    """The response date a submission asks for and its shortening reason, checked against the
    review time the law guarantees the reviewer (Decree 713 Art. 26: it binds the submitter)."""
    period = step.review_time
    if period is None:
        if action.respond_by is not None:
            raise RuleViolation(
                "review_time.none",
                f"{step.label} 没有保证审查时间，不适用请求答复日期 has no guaranteed review time: "
                "--respond-by does not apply",
                article=step.article,
                remedy=f"start {step.id} without --respond-by",
            )
        return None, action.shorten_reason
    article = period.basis.article or step.article
    respond = action.respond_by
    if respond is not None and respond < action.on:
        raise InputError(
            f"请求答复日期 {respond} 早于收到材料之日 {action.on} --respond-by is before the "
            "materials are received (--on)"
        )
    end = period_end(cal, action.on, period).on
    early = respond is not None and respond < end
    counted = (
        f"{period.label}, 自收到材料次日起算 counted from the day after receipt on {action.on} "
        "(参照民法典第201、203条 by analogy with Civil Code Arts. 201 and 203)"
    )
    if early and not (period.shortenable and action.shorten_reason):
        allowed = "; or state the reason with --shorten-reason" if period.shortenable else ""
        raise RuleViolation(
            f"review_time.{step.id}",
            f"{step.label}: 请求答复日期 {respond} 早于保证审查时间届满日 {end}，应当保证必要的审查时间 "
            f"the requested response date is before the end of the review time the law "
            f"guarantees the reviewer ({counted})",
            article=article,
            remedy=f"ask for a response on or after {end} (--respond-by {end}){allowed}",
        )
    if action.shorten_reason and not early:
        raise RuleViolation(
            "review_time.not_shortened",
            f"{step.label}: 未请求早于 {end} 的答复日期，无需缩短理由 --shorten-reason applies only "
            f"to a response date requested before the end of the guaranteed review time ({end})",
            article=article,
            remedy=f"give --respond-by before {end}, or leave out --shorten-reason",
        )
    return respond, action.shorten_reason


def _min_article(step: Step) -> str:
    if step.minimum and step.minimum.basis.article:
        return step.minimum.basis.article
    return step.article


def _resolve_outcome(step: Step, outcome_id: str | None) -> Outcome:
    if outcome_id is None:
        if len(step.outcomes) == 1:
            return step.outcomes[0]
        ids = ", ".join(f"{o.id} ({o.zh})" for o in step.outcomes)
        raise InputError(
            f"{step.label} 有多种结果，须写明 --outcome has several outcomes; give one of: {ids}"
        )
    outcome = step.outcome(resolve_outcome(step, outcome_id))
    assert outcome is not None
    return outcome


def _complete(
    proc: Procedure,
    flags: frozenset[str],
    step: Step,
    sit: Situation,
    attempts: list[Attempt],
    action: Complete,
    cal: WorkCalendar,
) -> tuple[Attempt, ...]:
    att = sit.attempt
    if sit.status == "waiting":
        raise _refuse_order(proc, step, sit)
    if sit.status != "open" or att is None:
        raise _refuse_state(step, sit, "complete")
    outcome = _resolve_outcome(step, action.outcome)
    _check_not_before(step, action.on, att.clock_start, "the day the step opened")
    dates = step_dates(proc, step, att, attempts, cal)
    if (
        dates.earliest_close is not None
        and action.on < dates.earliest_close
        and not outcome.ignores_minimum
        and not action.provisional  # accepted once on a provisional end: it stands on replay
    ):
        assert step.minimum is not None
        if step.minimum.method is not None and dates.minimum_end is not None:
            raise RuleViolation(
                f"minimum.{step.id}",
                f"{step.label}: 公开征求意见公告的期限至 {att.comment_until} 截止，期间持续至 "
                f"{dates.minimum_end.on} 二十四时，期满前不得结束 the published comment window "
                f"runs to the end of {dates.minimum_end.on}: the step may not close before it "
                f"has run ({COUNTING})",
                article=_min_article(step),
                remedy=f"complete on or after {dates.earliest_close}",
            )
        allowed = (
            "; the law allows a shorter period only with a reason stated when the step opens"
            if step.minimum.shortenable
            else ""
        )
        raise RuleViolation(
            f"minimum.{step.id}",
            f"{step.label} 的法定最短期限 {step.minimum.label} 至 "
            f"{dates.earliest_close} 届满，不得提前结束 may not close before its minimum period "
            f"ends on {dates.earliest_close}{allowed}",
            article=_min_article(step),
            remedy=f"complete on or after {dates.earliest_close}",
        )
    held = att.documents + action.documents  # filed earlier (decide attach) or now
    hearings = [m for m in att.methods if (x := proc.method(m)) is not None and x.materials_days]
    if action.hearing is not None and not hearings:
        raise RuleViolation(
            "hearing.not_a_method",
            f"{step.label} 未采用听证会 did not use a hearing (methods: "
            f"{', '.join(att.methods) or 'none'}): --hearing-* do not apply",
            article=step.article,
            remedy="leave out --hearing-notice-on/--hearing-materials-on/--hearing-on, or open "
            "the step with --method hearing",
        )
    missing = [d for d in outcome.requires_documents if d not in held]
    if missing:
        names = "、".join(f"{_doc_zh(proc, d)} ({d})" for d in missing)
        raise RuleViolation(
            "documents.required",
            f"{step.label} 结果「{outcome.zh}」须附 {names} "
            f"outcome {outcome.id} requires {', '.join(missing)}",
            article=outcome.article or step.article,
            remedy=f"attach {', '.join(missing)}",
        )
    if outcome.passing:
        _check_documents(proc, flags, step, att, held, action)
    if step.requires_meeting_record:
        _check_meeting(step, outcome, action.meeting)
    _check_blocks(proc, step, outcome, attempts)
    # a close that relies on a minimum end computed without the official schedule (SPEC §3)
    provisional = action.provisional or bool(
        dates.earliest_close is not None and dates.minimum_end and dates.minimum_end.provisional
    )
    return _effect(proc, step, outcome, att, attempts, action, provisional)


def _check_documents(
    proc: Procedure,
    flags: frozenset[str],
    step: Step,
    att: Attempt,
    held: tuple[str, ...],
    action: Complete,
) -> None:
    """What a passing close needs: the step's documents for the decision's flags (Art. 32), and
    what each participation method used needs — a hearing's dates and record (Arts. 16-17)."""
    needed: list[tuple[str, str]] = [
        (r.kind, r.article or step.article) for r in step.requires_documents if r.holds(flags)
    ]
    for method_id in att.methods:
        method = proc.method(method_id)
        if method is None:
            continue
        needed += [(k, method.article or step.article) for k in method.requires_documents]
        if method.materials_days:
            _check_hearing(step, method, method.materials_days, att, action)
    missing = [(k, a) for k, a in dict.fromkeys(needed) if k not in held]
    if missing:
        names = "、".join(f"{_doc_zh(proc, k)} ({k}, {a})" for k, a in missing)
        raise RuleViolation(
            "documents.required",
            f"{step.label} 须附 {names} needs {', '.join(k for k, _ in missing)}",
            article=missing[0][1],
            remedy="attach " + ", ".join(f"--attach {k}=FILE" for k, _ in missing),
        )


def _check_hearing(step: Step, method: Method, days: int, att: Attempt, action: Complete) -> None:
    method_id = method.id
    article = method.article or step.article
    materials_article = method.materials_article or article
    hearing = action.hearing or att.hearing
    if hearing is None:
        raise RuleViolation(
            "hearing.record_required",
            f"{step.label} 采用了听证会 used a hearing ({method_id}): 须记录听证公告日期、材料送达"
            "日期和听证会举行日期 record the day the notice was published, the day the materials "
            "reached the participants and the day it was held",
            article=article,
            remedy="give --hearing-notice-on DATE --hearing-materials-on DATE --hearing-on DATE",
        )
    opened = att.opened_on or hearing.notice_on
    in_order = (
        opened <= hearing.notice_on <= hearing.materials_on <= hearing.held_on <= action.on
        and hearing.notice_on < hearing.held_on
    )
    if not in_order:
        raise RuleViolation(
            "hearing.order",
            f"听证日期顺序不对 the hearing's dates must run: step opened ({opened}) ≤ notice "
            f"published in advance ({hearing.notice_on}, before the hearing: 提前公布) ≤ materials "
            f"delivered ({hearing.materials_on}) ≤ hearing held ({hearing.held_on}) ≤ step closed "
            f"({action.on})",
            article=article,
            remedy="give the dates as they happened",
        )
    latest = hearing.held_on - timedelta(days=days)
    if hearing.materials_on > latest:
        gap = (hearing.held_on - hearing.materials_on).days
        raise RuleViolation(
            "hearing.materials",
            f"听证会材料应当于召开听证会{days}日前送达听证参加人：材料 {hearing.materials_on} 送达，"
            f"听证会 {hearing.held_on} 召开，仅提前 {gap} 日 the hearing materials must reach the "
            f"participants at least {days} days before the hearing (they did {gap} days before)",
            article=materials_article,
            remedy=f"a hearing on {hearing.materials_on + timedelta(days=days)} or later, or the "
            f"materials delivered by {latest}",
        )


def _doc_zh(proc: Procedure, doc: str) -> str:
    kind = proc.document(doc)
    return kind.zh if kind else doc


def _effect(
    proc: Procedure,
    step: Step,
    outcome: Outcome,
    att: Attempt,
    attempts: list[Attempt],
    action: Complete,
    provisional: bool = False,
) -> tuple[Attempt, ...]:
    docs = tuple(dict.fromkeys((*att.documents, *action.documents)))
    if outcome.effect == "pause":
        new = att.model_copy(
            update={
                "status": "paused",
                "documents": docs,
                "pauses": (*att.pauses, Pause(returned_on=action.on)),
            }
        )
        return _replace(attempts, att, new)
    if outcome.effect == "stay_open":
        if action.next_meeting_on is None or action.next_meeting_on <= action.on:
            raise InputError(
                f"结果「{outcome.zh}」须写明下次会议日期（晚于 {action.on}）outcome {outcome.id} "
                f"keeps {step.label} open: give the next meeting date (--next-meeting), "
                f"after {action.on}"
            )
        deferral = Deferral(on=action.on, next_meeting_on=action.next_meeting_on)
        new = att.model_copy(update={"documents": docs, "deferrals": (*att.deferrals, deferral)})
        return _replace(attempts, att, new)
    update: dict[str, object] = {
        "status": "done",
        "closed_on": action.on,
        "outcome": outcome.id,
        "documents": docs,
    }
    if action.hearing is not None:
        update["hearing"] = action.hearing
    if provisional:
        update["close_provisional"] = True
    closed = att.model_copy(update=update)
    result = _replace(attempts, att, closed)
    if outcome.effect == "return":
        assert outcome.return_to is not None
        rerun = proc.successors(outcome.return_to) | {outcome.return_to}
        result = tuple(
            a.model_copy(update={"superseded": True}) if a.step in rerun and not a.superseded else a
            for a in result
        )
    return result


def _check_meeting(step: Step, outcome: Outcome, record: MeetingRecord | None) -> None:
    if record is None:
        raise RuleViolation(
            "meeting.record_required",
            f"{step.label} 须有会议记录 needs the meeting record",
            article=ART_30,
            remedy="give the meeting type, attendees, the chair and each member's position",
        )
    if resolve_meeting_type(record.meeting_type) not in MEETING_TYPES:
        raise RuleViolation(
            "meeting.type",
            f"会议类型 {record.meeting_type!r} 不可：决策草案应当经决策机关常务会议或者全体会议讨论 "
            "(Decree 713 Art. 30)；不得以传阅、会签代替 (地方规定，如各地政府工作规则、常务会议议事"
            "规则 local rules such as governments' working and executive-meeting rules, not the "
            "decree's text) only an executive or plenary meeting may decide, never circulation "
            "or countersigning",
            article=f"{ART_30}; 不得以传阅、会签代替: local rules",
            remedy="meeting type executive (常务会议) or plenary (全体会议)",
        )
    attendees = [a.strip() for a in record.attendees]
    if not attendees or any(not a for a in attendees) or len(set(attendees)) != len(attendees):
        raise InputError(
            "出席人员须为互不相同的姓名 attendees must be a non-empty list of distinct names"
        )
    if record.chair not in attendees:
        raise InputError(f"主持人 {record.chair!r} 须在出席人员之中 must be among the attendees")
    allowed = {o.id for o in step.outcomes} | {"abstain"}
    for name, position in record.positions.items():
        if name not in attendees:
            raise InputError(
                f"{name!r} 不在出席人员之中 position given for {name!r}, who is not among the "
                "attendees"
            )
        if position not in allowed:
            raise InputError(
                f"未知表态 unknown position {position!r} for {name!r}; "
                f"可选 positions: {', '.join(sorted(allowed))}"
            )
    members = [a for a in attendees if a != record.chair]
    if not members:
        raise RuleViolation(
            "meeting.members",
            "集体讨论须有会议组成人员参加并发表意见，行政首长一人不构成集体讨论 "
            "a collective discussion needs the meeting's members, not the head alone",
            article=ART_30,
            remedy="give each attending member's position (--position NAME=…)",
        )
    unrecorded = [m for m in members if m not in record.positions]
    if unrecorded:
        raise RuleViolation(
            "meeting.positions",
            f"未记录 {', '.join(unrecorded)} 的意见 the positions of "
            "every member must be recorded (dissent recorded truthfully)",
            article=ART_30,
            remedy="give a position for every attending member",
        )
    chair_position = record.positions.get(record.chair)
    if chair_position is not None and chair_position != outcome.id:
        raise InputError(
            f"主持人的决定「{outcome.zh}」与其表态不一致 the chair decided {outcome.id!r} but is "
            f"recorded as {chair_position!r}"
        )
    for name in record.dissent:
        if name not in attendees:
            raise InputError(
                f"{name!r} 不在出席人员之中 dissent given for {name!r}, who is not among the "
                "attendees"
            )
    majority = majority_position(record)
    if majority is not None and majority != outcome.id and not record.head_reason:
        raise RuleViolation(
            "meeting.head_reason",
            f"行政首长的决定「{outcome.id}」与多数人意见「{majority}」不一致，"
            f"应当说明理由 the head departs from the majority ({majority}) and must give reasons",
            article=ART_30,
            remedy="record the head's reasons",
        )


def majority_position(record: MeetingRecord) -> str | None:
    """The position held by more than half of the attending members (the chair not counted)."""
    members = [a for a in record.attendees if a != record.chair]
    for position in set(record.positions[m] for m in members if m in record.positions):
        if 2 * sum(record.positions.get(m) == position for m in members) > len(members):
            return position
    return None


def _check_blocks(proc: Procedure, step: Step, outcome: Outcome, attempts: list[Attempt]) -> None:
    pair = f"{step.id}:{outcome.id}"
    for other in proc.steps:
        for finding in other.outcomes:
            if pair not in finding.blocks:
                continue
            latest = next(
                (a for a in reversed(attempts) if a.step == other.id and a.outcome is not None),
                None,
            )
            if latest is not None and latest.outcome == finding.id:
                raise RuleViolation(
                    f"gate.{other.id}",
                    f"最近一次{other.zh}结论为「{finding.zh}」，不得作出 "
                    f"{outcome.zh} the latest {other.en} found {finding.id}; {outcome.id} is not "
                    "allowed",
                    article=finding.article or other.article,
                    remedy=f"a new {other.id} must find otherwise first",
                )


def _skip(
    proc: Procedure,
    step: Step,
    sit: Situation,
    where: dict[str, Situation],
    attempts: list[Attempt],
    action: Skip,
) -> tuple[Attempt, ...]:
    if step.hard_gate or not step.skippable:
        why = (
            "不得跳过 can never be skipped"
            if step.hard_gate
            else "不是可依法跳过的步骤 may not be skipped"
        )
        raise RuleViolation(
            "skip.not_allowed",
            f"{step.label} {why}",
            article=step.skip_article or step.article,
            remedy=f"run {step.id}" if sit.status != "skipped" else "nothing to do",
        )
    if sit.status == "waiting":
        raise _refuse_order(proc, step, sit)
    if sit.status not in ("ready", "open"):
        raise _refuse_state(step, sit, "skip")
    latest = next((a for a in reversed(attempts) if a.step == step.id and a.outcome), None)
    finding = step.outcome(latest.outcome) if latest and latest.outcome else None
    if finding is not None and finding.blocks:
        raise RuleViolation(
            f"gate.{step.id}",
            f"最近一次{step.zh}结论为「{finding.zh}」，须重新{step.zh}，不得跳过 "
            f"the latest {step.en} found {finding.id}: a new {step.id} must follow, not a skip",
            article=finding.article or step.article,
            remedy=f"start {step.id}",
        )
    if not action.reason:
        raise RuleViolation(
            "skip.reason_required",
            f"跳过 {step.label} 须记录理由 a skip needs a recorded reason",
            article=step.skip_article or step.article,
            remedy="give --reason (for example: 已按有关规定评估 already assessed under …)",
        )
    att = sit.attempt
    if att is not None:
        _check_not_before(step, action.on, att.opened_on, "the day the step opened")
        return _replace(
            attempts,
            att,
            att.model_copy(
                update={"status": "skipped", "closed_on": action.on, "skip_reason": action.reason}
            ),
        )
    _check_after_prerequisites(proc, step, action.on, attempts)
    return (
        *attempts,
        Attempt(
            step=step.id,
            number=sit.number,
            status="skipped",
            opened_on=action.on,
            closed_on=action.on,
            skip_reason=action.reason,
        ),
    )


def _reuse(
    proc: Procedure, step: Step, sit: Situation, attempts: list[Attempt], action: Reuse
) -> tuple[Attempt, ...]:
    """Keep the step's earlier result after a return instead of running it again (沿用前次
    结果): the sponsor's judgment that it still stands for the revised draft, with the reason
    (Arts. 24, 28 ask for the necessary adjustments only).  Never a hard gate (the legality
    review and the collective discussion of a changed draft always run again, Arts. 25, 30),
    never a finding that forbids the decision (an uncontrollable risk, Art. 24)."""
    if not step.reusable:
        if step.hard_gate:
            why = (
                "审查的是提交的草案，草案修改后须重新审查 reviews the draft submitted: a changed "
                "draft is reviewed again"
                if not step.decides
                else "修改后的草案须重新讨论决定 a changed draft is discussed and decided again"
            )
        else:
            why = "不可沿用前次结果 may not keep an earlier result"
        raise RuleViolation(
            "reuse.not_allowed",
            f"{step.label} {why}",
            article=step.article,
            remedy=f"run {step.id} again (decide start … {step.id})",
        )
    if sit.status == "waiting":
        raise _refuse_order(proc, step, sit)
    if sit.status != "ready":
        raise _refuse_state(step, sit, "reuse")
    earlier = next((a for a in reversed(attempts) if a.step == step.id and a.superseded), None)
    if earlier is None:
        raise RuleViolation(
            "reuse.nothing",
            f"{step.label} 没有可沿用的前次结果 has no earlier result to keep (it has not run "
            "before a return)",
            article=step.article,
            remedy=f"start {step.id}",
        )
    latest = next((a for a in reversed(attempts) if a.step == step.id and a.outcome), None)
    bad = step.outcome(latest.outcome or "") if latest is not None else None
    if bad is not None and bad.blocks:  # the latest finding forbids the decision (Art. 24)
        raise RuleViolation(
            f"gate.{step.id}",
            f"最近一次{step.zh}结论为「{bad.zh}」，不得沿用 the latest {step.en} found "
            f"{bad.id}: a new {step.id} must follow",
            article=bad.article or step.article,
            remedy=f"start {step.id}",
        )
    finding = step.outcome(earlier.outcome or "") if earlier.status == "done" else None
    if finding is None or not finding.passing:
        raise RuleViolation(
            "reuse.not_done",
            f"{step.label} 第{earlier.number}次未以可沿用的结果完成 attempt {earlier.number} "
            f"ended {earlier.outcome or earlier.status}: there is no result that stands",
            article=step.article,
            remedy=f"start {step.id}"
            + (" (or skip it again)" if earlier.status == "skipped" else ""),
        )
    if not action.reason:
        raise RuleViolation(
            "reuse.reason_required",
            f"沿用 {step.label} 前次结果须说明理由 keeping the earlier result needs the reason it "
            "still stands for the revised draft",
            article=step.article,
            remedy="give --reason",
        )
    _check_after_prerequisites(proc, step, action.on, attempts)
    new = Attempt(
        step=step.id,
        number=sit.number,
        status="done",
        opened_on=action.on,
        closed_on=action.on,
        outcome=earlier.outcome,
        reused_from=earlier.number,  # the attempt whose result stands (itself perhaps reused)
        reuse_reason=action.reason,
    )
    return (*attempts, new)


def _attach(
    proc: Procedure,
    step: Step,
    sit: Situation,
    where: dict[str, Situation],
    attempts: list[Attempt],
    action: Attach,
) -> tuple[Attempt, ...]:
    """Documents filed on the step's current attempt after the fact (open, paused or done):
    only kinds the step produces; a package document once, never replaced; and nothing on a
    step before the collective discussion once it has opened — the package it was given is the
    one it decides on (Decree 713 Arts. 25, 29)."""
    att = sit.attempt
    if att is None or sit.status not in ("open", "paused", "done"):
        raise _refuse_state(step, sit, "attach to")
    if not action.documents:
        raise InputError("没有要附加的文件 nothing to attach: give KIND=FILE")
    takes = {*step.documents, *(r.kind for r in step.requires_documents)}
    takes |= {k for o in step.outcomes for k in o.requires_documents}
    takes |= {k for m in step.methods if (x := proc.method(m)) for k in x.requires_documents}
    foreign = [d for d in action.documents if d not in takes]
    if foreign:
        listed = ", ".join(sorted(takes)) or "none"
        raise InputError(
            f"{step.label} 不产生文件类型 {foreign[0]} does not take documents of kind "
            f"{foreign[0]!r}; 可选 it takes: {listed}"
        )
    deciding = next((s for s in proc.steps if s.decides), None)
    if deciding is not None and step.id != deciding.id and deciding.id in proc.successors(step.id):
        opened = where[deciding.id].attempt
        if opened is not None and where[deciding.id].status in ("open", "done"):
            raise RuleViolation(
                "documents.submitted",
                f"{step.label}: {deciding.label} 已于 {opened.opened_on} 开始，提请讨论的材料已报送，"
                f"不得补充或替换 the package went to the discussion on {opened.opened_on}: "
                "its documents are not added to or replaced afterwards",
                article="Decree 713 Art. 29",
                remedy="a changed draft goes back through the legality review (Art. 25): "
                "complete the discussion with outcome revise",
            )
    packaged = {r.kind for r in proc.package}
    again = [d for d in action.documents if d in packaged and d in att.documents]
    if again:
        raise RuleViolation(
            "documents.filed",
            f"{step.label} 第{att.number}次已有 {again[0]}，不得替换 attempt {att.number} already "
            f"holds its {again[0]}: a package document is filed once and never replaced",
            article="Decree 713 Art. 29",
            remedy="a corrected document belongs to a new attempt of the step",
        )
    _check_not_before(step, action.on, att.opened_on, "the day the step opened")
    docs = tuple(dict.fromkeys((*att.documents, *action.documents)))
    return _replace(attempts, att, att.model_copy(update={"documents": docs}))


def _extend(
    step: Step, sit: Situation, attempts: list[Attempt], action: Extend
) -> tuple[Attempt, ...]:
    ext = step.due.extension if step.due else None
    if ext is None:
        raise RuleViolation(
            "due.not_extendable",
            f"{step.label} 的办理期限不可延长 cannot be extended",
            article=step.article,
            remedy="none",
        )
    att = sit.attempt
    if sit.status != "open" or att is None:
        raise _refuse_state(step, sit, "extend")
    if len(att.extensions) >= ext.max_times:
        raise RuleViolation(
            "due.extension_used",
            f"{step.label} 已延长 {len(att.extensions)} 次 was already extended "
            f"{ext.max_times} time(s)",
            article=ext.basis.article or "office policy",
            remedy="none",
        )
    if not action.reason:
        raise RuleViolation(
            "due.extension_reason",
            f"延长 {step.label} 须说明理由 needs a reason",
            article=ext.basis.article or "office policy",
            remedy="give --reason",
        )
    _check_not_before(step, action.on, att.clock_start, "the day the step opened")
    return _replace(
        attempts, att, att.model_copy(update={"extensions": (*att.extensions, action.reason)})
    )
