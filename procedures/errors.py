"""The project's exceptions: one base, a shallow tree, context carried as attributes.

    DecideError                 anything the user can cause; the CLI prints one line for it
    ├── InvalidDefinition       a procedure file is wrong (names the file and the step)
    ├── CalendarError           a schedule file is wrong, or a date outside the supported range
    ├── InputError              malformed or unknown input (unknown step, outcome, flag, bad date)
    ├── NotFound                an unknown decision, procedure or document
    ├── RuleViolation           the procedure refuses the action (names the rule and its article)
    ├── Conflict                the decision changed meanwhile (optimistic concurrency)
    ├── AccessDenied            not authenticated, or not permitted (exit 6)
    └── Unavailable             the database cannot be opened or reached

Each class has an ``exit_code`` the CLI uses and a stable ``code`` for ``--json`` output.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "CalendarError",
    "Conflict",
    "DecideError",
    "InputError",
    "InvalidDefinition",
    "NotFound",
    "RuleViolation",
    "Unavailable",
]


class DecideError(Exception):
    """Base of every error a user can cause."""

    code = "error"
    exit_code = 1

    def to_dict(self) -> dict[str, object]:
        return {"error": self.code, "message": str(self)}


class InvalidDefinition(DecideError):
    """A procedure definition failed validation when it was loaded."""

    code = "invalid_definition"
    exit_code = 2

    def __init__(self, message: str, *, source: str, step: str | None = None) -> None:
        self.source = source
        self.step = step
        where = f"{source}: step {step!r}: " if step else f"{source}: "
        super().__init__(where + message)

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "source": self.source, "step": self.step}


class CalendarError(DecideError):
    """A schedule file is malformed, or a date lies outside the supported range."""

    code = "calendar_error"
    exit_code = 2


class InputError(DecideError):
    """Input that is malformed or names something that does not exist in the procedure."""

    code = "bad_input"
    exit_code = 2


class NotFound(DecideError):
    code = "not_found"
    exit_code = 4


class Conflict(DecideError):
    code = "conflict"
    exit_code = 5


class RuleViolation(DecideError):
    """The procedure refuses an action.

    ``rule`` is a stable id (for example ``gate.legality_review``), ``article`` the legal basis
    (for example ``Decree 713 Art. 25``) or ``office policy``, ``remedy`` what would make the
    action allowed. ``message`` is the Chinese-and-English explanation.
    """

    code = "refused"
    exit_code = 3

    def __init__(self, rule: str, message: str, *, article: str, remedy: str) -> None:
        self.rule = rule
        self.article = article
        self.remedy = remedy
        self.message = message
        super().__init__(f"{message} [{rule}; {article}] — {remedy}")

    def to_dict(self) -> dict[str, object]:
        return {
            "error": self.code,
            "rule": self.rule,
            "article": self.article,
            "message": self.message,
            "remedy": self.remedy,
        }


class AccessDenied(DecideError):
    """Not authenticated (no credential, or a wrong, expired or revoked one: ``code``
    ``not_authenticated``) or not permitted (``not_permitted``, with the permission ``rule``
    that refuses and what would allow it)."""

    code = "not_permitted"
    exit_code = 6

    def __init__(
        self,
        message: str,
        *,
        rule: str = "permission",
        remedy: str = "",
        authenticated: bool = True,
    ) -> None:
        self.rule = rule
        self.remedy = remedy
        self.message = message
        self.code = "not_permitted" if authenticated else "not_authenticated"
        super().__init__(f"{message} [{rule}]" + (f" — {remedy}" if remedy else ""))

    def to_dict(self) -> dict[str, object]:
        return {
            "error": self.code,
            "rule": self.rule,
            "message": self.message,
            "remedy": self.remedy,
        }


class Unavailable(DecideError):
    """A service cannot be reached: the database (a wrong DECIDE_HOME or DECIDE_DATABASE_URL), or
    Prefect's server for the automated work."""

    code = "unavailable"
    exit_code = 1
