"""Names as clerks type them: ids, Chinese or English names resolve to the ids; near misses are
suggested with every valid value listed."""

from __future__ import annotations

from datetime import date

import pytest

from procedures import Complete, InputError, MeetingRecord, load_procedure, resolve_action
from procedures.names import (
    resolve_document,
    resolve_flags,
    resolve_meeting_type,
    resolve_outcome,
    resolve_step,
)

PROC = load_procedure("national-2019")


def test_chinese_and_english_names_resolve_to_the_ids():
    assert resolve_step(PROC, "合法性审查") == "legality_review"
    assert resolve_step(PROC, "Legality review") == "legality_review"
    risk = PROC.step("risk_assessment")
    assert risk is not None and resolve_outcome(risk, "风险可控") == "controllable"
    assert resolve_flags(PROC, ["专业性、技术性较强", "stability_risk"]) == {
        "technical",
        "stability_risk",
    }
    assert resolve_document(PROC, "决策草案及其说明") == "draft"
    assert resolve_meeting_type("常务会议") == "executive"
    assert resolve_meeting_type("全体会议") == "plenary"


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("专家论正", "expert_review"),
        ("legality_reveiw", "legality_review"),
        ("风险", "risk_assessment"),
    ],
)
def test_a_near_miss_is_refused_with_did_you_mean_and_the_valid_steps(typed, suggested):
    with pytest.raises(InputError) as refused:
        resolve_step(PROC, typed)
    text = str(refused.value)
    assert "未知步骤 unknown step" in text
    assert f"did you mean: {suggested}" in text
    assert "可选 valid steps:" in text and "archiving (过程记录和材料归档)" in text


def test_an_action_is_resolved_whole_meeting_positions_included():
    meeting = MeetingRecord(
        meeting_type="常务会议",
        chair="张区长",
        attendees=("张区长", "王"),
        positions={"张区长": "通过", "王": "弃权"},
    )
    action = Complete(step="集体讨论决定", on=date(2025, 9, 1), outcome="通过", meeting=meeting)
    resolved = resolve_action(PROC, action)
    assert isinstance(resolved, Complete) and resolved.meeting is not None
    assert (resolved.step, resolved.outcome) == ("collective_discussion", "approved")
    assert resolved.meeting.meeting_type == "executive"
    assert resolved.meeting.positions == {"张区长": "approved", "王": "abstain"}


def test_an_unknown_meeting_type_is_left_for_the_art_30_refusal():
    assert resolve_meeting_type("传阅") == "传阅"


def test_a_name_two_roles_share_is_refused_naming_both():
    """An office file may give two roles one name (a district's 区司法局 reviews legality and
    keeps the dossier): the name alone may not silently pick one (review finding)."""
    from procedures import InputError, resolve
    from procedures.model import Role

    roles = [
        Role(id="legal_office", zh="区司法局", en="district justice bureau"),
        Role(id="archivist", zh="区司法局", en="district justice bureau"),
        Role(id="sponsor", zh="决策承办单位", en="sponsor"),
    ]
    with pytest.raises(InputError, match="ambiguous") as info:
        resolve("role", "区司法局", roles)
    assert "legal_office" in str(info.value) and "archivist" in str(info.value)
    assert resolve("role", "archivist", roles) == "archivist"
