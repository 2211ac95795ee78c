"""The procedure library: definitions as data, the legal calendar, and the planner.

Pure: no database, no Prefect, no scheduler, no CLI, no clock.  Time comes in as a parameter.
"""

from procedures.calendar import Dated, Schedule, WorkCalendar, load_schedule, parse_schedule
from procedures.errors import (
    AccessDenied,
    CalendarError,
    Conflict,
    DecideError,
    InputError,
    InvalidDefinition,
    NotFound,
    RuleViolation,
)
from procedures.loader import load_procedure, parse_procedure, preset_ids
from procedures.model import Procedure, Step
from procedures.names import resolve, resolve_action
from procedures.planner import Plan, StepView, check_flags, plan
from procedures.state import Attempt, Complete, Extend, MeetingRecord, Skip, Start
from procedures.transitions import apply, check, register

__all__ = [
    "AccessDenied",
    "Attempt",
    "CalendarError",
    "Complete",
    "Conflict",
    "Dated",
    "DecideError",
    "Extend",
    "InputError",
    "InvalidDefinition",
    "MeetingRecord",
    "NotFound",
    "Plan",
    "Procedure",
    "RuleViolation",
    "Schedule",
    "Skip",
    "Start",
    "Step",
    "StepView",
    "WorkCalendar",
    "apply",
    "check",
    "check_flags",
    "load_procedure",
    "load_schedule",
    "parse_procedure",
    "parse_schedule",
    "plan",
    "preset_ids",
    "register",
    "resolve",
    "resolve_action",
]
