"""Procedure files: the presets load; broken definitions fail at load, naming file and step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from procedures import InvalidDefinition, load_procedure, preset_ids

GOOD = """
id = "mini"
version = "1"
zh = "小程序"
en = "mini"
[roles]
sponsor = { zh = "承办单位", en = "sponsor" }
[flags]
technical = { zh = "专业性强", en = "technical" }
[[steps]]
id = "initiation"
zh = "启动"
en = "initiation"
role = "sponsor"
article = "Art. 1"
at_registration = true
outcomes = [{ id = "started", zh = "已启动", en = "started", effect = "done" }]
[[steps]]
id = "drafting"
zh = "起草"
en = "drafting"
role = "sponsor"
article = "Art. 2"
after = ["initiation"]
outcomes = [{ id = "drafted", zh = "已起草", en = "drafted", effect = "done" }]
[steps.due]
amount = 10
unit = "working_days"
basis = { kind = "office_policy" }
[[steps]]
id = "review"
zh = "审查"
en = "review"
role = "sponsor"
article = "Art. 3"
after = ["drafting"]
outcomes = [
  { id = "ok", zh = "通过", en = "ok", effect = "done" },
  { id = "bad", zh = "不通过", en = "bad", effect = "return", return_to = "drafting" },
]
"""


def write(tmp_path: Path, text: str, name: str = "broken.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_three_presets_load():
    assert set(preset_ids()) >= {"national-2019", "tianjin-2020", "tianjin-district-2020"}
    for preset in preset_ids():
        proc = load_procedure(preset)
        assert proc.id == preset
        assert proc.step("legality_review").hard_gate
        assert proc.step("collective_discussion").hard_gate


def test_national_statutory_periods_carry_their_articles():
    proc = load_procedure("national-2019")
    comment = proc.step("public_participation").minimum
    assert (comment.amount, comment.unit, comment.basis.kind, comment.basis.article) == (
        30,
        "calendar_days",
        "statute",
        "Decree 713 Art. 15",
    )
    # Art. 26's 7 working days guarantee the reviewer time: a review time, not a minimum
    review = proc.step("legality_review").review_time
    assert (review.amount, review.unit, review.basis.article) == (
        7,
        "working_days",
        "Decree 713 Art. 26",
    )
    assert proc.step("legality_review").minimum is None
    assert proc.step("drafting").due.basis.kind == "office_policy"
    assert "office policy" in proc.step("drafting").due.basis.label


def test_a_good_minimal_file_loads(tmp_path):
    proc = load_procedure(write(tmp_path, GOOD, "mini.toml"))
    assert [s.id for s in proc.steps] == ["initiation", "drafting", "review"]


def test_a_file_may_extend_a_preset_and_override_a_step(tmp_path):
    text = (
        'id = "office"\nversion = "1"\nextends = "national-2019"\nzh = "本区"\nen = "ours"\n'
        '[[steps]]\nid = "drafting"\n[steps.due]\namount = 45\nunit = "calendar_days"\n'
        'basis = { kind = "office_policy" }\n'
    )
    proc = load_procedure(write(tmp_path, text, "office.toml"))
    assert proc.step("drafting").due.amount == 45
    assert proc.step("public_participation").minimum.amount == 30


BROKEN = [
    (
        'after = ["initiation"]\noutcomes = [{ id = "drafted"',
        'after = ["initation"]\noutcomes = [{ id = "drafted"',
        "drafting",
        "unknown step 'initation'",
    ),
    (
        'after = ["initiation"]\noutcomes = [{ id = "drafted"',
        'after = ["review"]\noutcomes = [{ id = "drafted"',
        "drafting",
        "cycle",
    ),
    ('unit = "working_days"', 'unit = "weeks"', "drafting", "unknown value 'weeks'"),
    ('return_to = "drafting"', 'return_to = "draftin"', "review", "unknown step 'draftin'"),
    (
        'after = ["drafting"]',
        'after = ["drafting:drafted|shelved"]',
        "review",
        "no outcome 'shelved'",
    ),
    (
        'role = "sponsor"\narticle = "Art. 3"',
        'role = "mayor"\narticle = "Art. 3"',
        "review",
        "unknown role 'mayor'",
    ),
    (
        'effect = "done" },\n  { id = "bad"',
        'effect = "pause" },\n  { id = "bad"',
        "review",
        "no outcome finishes the step",
    ),
    (
        '{ id = "drafted", zh = "已起草", en = "drafted", effect = "done" }',
        '{ id = "drafted", zh = "已起草", en = "drafted", effect = "done" }, '
        '{ id = "hold", zh = "暂停", en = "hold", effect = "pause" }',
        None,
        None,
    ),
]


@pytest.mark.parametrize("old,new,step,message", [b for b in BROKEN if b[2]])
def test_a_broken_definition_names_the_file_and_the_step(tmp_path, old, new, step, message):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(InvalidDefinition) as info:
        load_procedure(path)
    text = str(info.value)
    assert text.startswith("broken.toml: ")
    assert f"step {step!r}" in text
    assert message in text


def test_a_step_that_can_never_become_ready(tmp_path):
    text = GOOD.replace('after = ["drafting"]', 'after = ["drafting:hold"]').replace(
        '{ id = "drafted", zh = "已起草", en = "drafted", effect = "done" }',
        '{ id = "drafted", zh = "已起草", en = "drafted", effect = "done" }, '
        '{ id = "hold", zh = "暂停", en = "hold", effect = "pause" }',
    )
    with pytest.raises(InvalidDefinition, match=r"step 'review': can never become ready"):
        load_procedure(write(tmp_path, text))


def test_a_return_to_a_later_step_leads_nowhere(tmp_path):
    text = GOOD.replace(
        'outcomes = [{ id = "drafted", zh = "已起草", en = "drafted", effect = "done" }]',
        'outcomes = [{ id = "drafted", zh = "已起草", en = "drafted", effect = "done" },'
        ' { id = "x", zh = "x", en = "x", effect = "return", return_to = "review" }]',
    )
    with pytest.raises(InvalidDefinition, match=r"step 'drafting'.*does not come before it"):
        load_procedure(write(tmp_path, text))


def test_a_hard_gate_cannot_be_made_skippable(tmp_path):
    text = GOOD.replace(
        'article = "Art. 3"', 'article = "Art. 3"\nhard_gate = true\nskippable = true'
    )
    with pytest.raises(InvalidDefinition, match=r"step 'review': a hard gate"):
        load_procedure(write(tmp_path, text))


def test_an_unconditional_step_cannot_be_skippable(tmp_path):
    text = GOOD.replace('article = "Art. 3"', 'article = "Art. 3"\nskippable = true')
    with pytest.raises(InvalidDefinition, match=r"step 'review': only a conditional step"):
        load_procedure(write(tmp_path, text))


def test_an_unknown_flag_is_named(tmp_path):
    text = GOOD.replace('article = "Art. 3"', 'article = "Art. 3"\nrequired = { when = "urgent" }')
    with pytest.raises(InvalidDefinition, match=r"step 'review': unknown flag 'urgent'"):
        load_procedure(write(tmp_path, text))


def test_a_due_anchored_on_a_step_that_does_not_come_before(tmp_path):
    text = GOOD.replace('unit = "working_days"', 'unit = "working_days"\nanchor = "review"')
    with pytest.raises(InvalidDefinition, match=r"step 'drafting': due counts from 'review'"):
        load_procedure(write(tmp_path, text))


def test_unreadable_toml_and_unknown_parent_are_named(tmp_path):
    with pytest.raises(InvalidDefinition, match=r"^bad\.toml: cannot read the file"):
        load_procedure(write(tmp_path, "id = [", "bad.toml"))
    orphan = write(tmp_path, 'id = "x"\nextends = "nowhere-2030"\n', "orphan.toml")
    with pytest.raises(
        InvalidDefinition, match=re.escape("no procedure file or preset named 'nowhere-2030'")
    ):
        load_procedure(orphan)


def test_an_unknown_key_in_a_step_is_refused(tmp_path):
    text = GOOD.replace('article = "Art. 3"', 'article = "Art. 3"\nskipable = true')
    with pytest.raises(InvalidDefinition, match=r"step 'review': skipable: Extra inputs"):
        load_procedure(write(tmp_path, text))


COMMENT_1_DAY = (
    'id = "office"\nversion = "1"\nextends = "national-2019"\nzh = "本区"\nen = "ours"\n'
    '[[steps]]\nid = "public_participation"\n'
    'minimum = { amount = 1, unit = "calendar_days", basis = { kind = "%s", article = "%s" } }\n'
)


def test_a_statutory_period_shorter_than_the_extended_preset_is_refused(tmp_path):
    path = write(tmp_path, COMMENT_1_DAY % ("statute", "Decree 713 Art. 15"), "office.toml")
    with pytest.raises(InvalidDefinition) as info:
        load_procedure(path)
    message = str(info.value)
    assert info.value.source == "office.toml" and info.value.step == "public_participation"
    assert "national-2019 sets 30日 (30 calendar days)" in message
    assert "Decree 713 Art. 15" in message and "claims the statute" in message


def test_a_statutory_period_in_another_unit_than_the_presets_is_refused(tmp_path):
    text = (COMMENT_1_DAY % ("statute", "Decree 713 Art. 15")).replace(
        'amount = 1, unit = "calendar_days"', 'amount = 30, unit = "working_days"'
    )
    with pytest.raises(InvalidDefinition, match="claims the statute"):
        load_procedure(write(tmp_path, text, "office.toml"))


def test_a_shorter_period_on_the_offices_own_basis_or_a_longer_statutory_one_loads(tmp_path):
    own = load_procedure(write(tmp_path, COMMENT_1_DAY % ("local_rule", "区规定"), "own.toml"))
    assert own.step("public_participation").minimum.amount == 1
    longer = (COMMENT_1_DAY % ("statute", "Decree 713 Art. 15")).replace(
        "amount = 1", "amount = 40"
    )
    assert (
        load_procedure(write(tmp_path, longer, "longer.toml"))
        .step("public_participation")
        .minimum.amount
        == 40
    )


def test_an_edited_office_file_is_read_again(tmp_path):
    path = write(tmp_path, COMMENT_1_DAY % ("local_rule", "区规定"), "office.toml")
    assert load_procedure(path).step("public_participation").minimum.amount == 1
    path.write_text(path.read_text().replace("amount = 1", "amount = 2"), encoding="utf-8")
    assert load_procedure(path).step("public_participation").minimum.amount == 2


def test_a_pinned_definition_round_trips_and_refuses_content_not_matching_its_hash():
    from procedures.definition import pin, unpin

    proc = load_procedure("tianjin-2020")
    stored = pin(proc)
    assert unpin(stored).model_dump(exclude={"source_file"}) == proc.model_dump(
        exclude={"source_file"}
    )
    assert pin(unpin(stored)).sha256 == stored.sha256
    edited = stored.model_copy(
        update={"content": stored.content.replace('"amount":30', '"amount":3')}
    )
    with pytest.raises(InvalidDefinition, match="edited outside the engine"):
        unpin(edited)
