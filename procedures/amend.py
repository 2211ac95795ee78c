"""Whether a decision's flags may change after registration (``decide amend``).

The flags say which conditional steps the law requires: public participation unless the matter
may not be disclosed (Decree 713 Art. 14), expert review when it is highly technical (Art. 19),
risk assessment when it may harm social stability (Art. 22).  A flag may change while the steps
it governs have not run; afterwards the change would rewrite history, so it is refused:

* a step that ran (open, paused or done) under the old flags keeps them: removing ``technical``
  once expert review has run is refused (a lawful skip with a recorded reason is not a run);
* a step the change makes required must still come before the steps after it: once one of
  those has started (the legality review checks the steps before it were performed, Art. 26-27)
  the flag can be added only after a return to drafting.
"""

from __future__ import annotations

from collections.abc import Sequence

from procedures.errors import RuleViolation
from procedures.model import Procedure
from procedures.planner import current_attempt
from procedures.state import Attempt

__all__ = ["check_amend"]


def check_amend(
    proc: Procedure, old: frozenset[str], new: frozenset[str], attempts: Sequence[Attempt]
) -> None:
    """Raise ``RuleViolation`` when changing the flags from ``old`` to ``new`` is not allowed."""
    for step in proc.steps:
        before, after = step.required.holds(old), step.required.holds(new)
        if before == after:
            continue
        flag = proc.flag(step.required.flag or "")
        flag_id = flag.id if flag else step.required.flag
        article = (flag.article if flag else None) or step.article
        ran = current_attempt(attempts, step.id)
        if before and ran is not None and ran.status != "skipped":
            raise RuleViolation(
                "amend.flag_in_use",
                f"{step.label} 已按「{flag.zh if flag else flag_id}」办理 already ran under the "
                f"flag {flag_id} (attempt {ran.number}, {ran.status}); the flag cannot change now",
                article=article,
                remedy="record the facts as they happened; a return to drafting starts the "
                "steps again",
            )
        if after:
            started = [
                s
                for s in proc.steps
                if s.id in proc.successors(step.id) and current_attempt(attempts, s.id)
            ]
            if started:
                raise RuleViolation(
                    "amend.step_order",
                    f"{step.label} 须在 {started[0].label} 之前办理 must come before "
                    f"{started[0].id}, which has already started: the flag {flag_id} cannot "
                    "be changed now",
                    article=f"{article}; Decree 713 Art. 26-27",
                    remedy="change the flag after a return to drafting (or before the later "
                    "steps start)",
                )
