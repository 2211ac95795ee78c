"""Legal fidelity (issue 12): public participation by method and the published comment window
(Decree 713 Arts. 14-18), reuse after a return (Arts. 24, 28), the Art. 29 package as a gate,
Art. 31 before issue, publication (Art. 32; 政府信息公开条例 Art. 26) and the law's own terms.

The A and B cases are real published notices (docs/legal-cases.md sections A and B), run through
the engine on the official calendar (``WorkCalendar.official()``, chinesecalendar 2004-2026).
Pure: no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date as D
from datetime import timedelta

import pytest

from procedures import (
    Complete,
    InputError,
    Start,
    WorkCalendar,
    load_procedure,
    resolve_action,
    state,
)
from procedures import package as pkg
from tests.conftest import Run, meeting

CAL = WorkCalendar.official()
PP = "public_participation"


def published(proc, on: D, flags=()) -> Run:
    """A decision whose draft was finished on ``on``, the day the comment notice is published."""
    run = Run(proc, flags, on=on - timedelta(days=60), cal=CAL)
    run.start("drafting", on - timedelta(days=30)).complete("drafting", on)
    return run


def returned(proc, flags=()) -> Run:
    """Every step run once, the legality review found the draft unlawful (back to drafting,
    Decree 713 Art. 25) and the revised draft finished on 2025-05-12."""
    run = Run(proc, flags).to_legality_review()
    run.complete("legality_review", D(2025, 4, 30), "unlawful")
    run.start("drafting", D(2025, 5, 6)).complete("drafting", D(2025, 5, 12))
    return run


def passed_review(proc, flags=()) -> Run:
    run = Run(proc, flags).to_legality_review()
    return run.complete("legality_review", D(2025, 4, 30), "lawful")


def state_of(run: Run, step: str):
    return next(a for a in reversed(run.attempts) if a.step == step and not a.superseded)


def window(run: Run, as_of: D):
    return run.plan(as_of).step(PP)


# A. Real public comment notices (Decree 713 Art. 15) ------------------------------------------


def test_a1_huainan_29_day_window_is_refused_decree_713_art_15(national):
    """Decree 713 Art. 15 — A1, http://www.huainan.gov.cn/public/6596035/1258552950.html:
    published 2020-12-01, deadline 2020-12-30 (printed "2020年1230日"): 29 days, no urgency
    stated; the deadline had to be 2020-12-31 or later."""
    run = published(national, D(2020, 12, 1))
    refusal = run.refused(
        Start(
            step=PP, on=D(2020, 12, 1), methods=("public_comment",), comment_until=D(2020, 12, 30)
        )
    )
    assert refusal.rule == "minimum.public_participation"
    assert refusal.article == "Decree 713 Art. 15"
    assert "2020-12-31" in refusal.remedy
    assert "29" in refusal.message


def test_a2_huainan_31_day_window_is_accepted_and_closes_the_day_after(national):
    """Decree 713 Art. 15; Civil Code Art. 203 by analogy — A2,
    https://cgj.huainan.gov.cn/content/article/551579124?type=0: 2021-03-15 to 2021-04-15
    (31 days, a Thursday). The last day runs to 24:00: the step may close from 2021-04-16."""
    run = published(national, D(2021, 3, 15))
    run.start(PP, D(2021, 3, 15), comment_until=D(2021, 4, 15))
    view = window(run, D(2021, 3, 16))
    assert view.methods == ("public_comment",)
    assert view.comment_until == D(2021, 4, 15)
    assert view.window_until == D(2021, 4, 15)
    assert view.earliest_close_on == D(2021, 4, 16)
    assert not view.shortened
    refusal = run.refused(
        Complete(step=PP, on=D(2021, 4, 15), documents=("opinion_adoption_report",))
    )
    assert refusal.rule == "minimum.public_participation"
    run.complete(PP, D(2021, 4, 16))
    assert run.status(PP) == "done"


def test_a3_chongming_29_days_to_a_saturday_is_refused_decree_713_art_15(national):
    """Decree 713 Art. 15 — A3,
    https://www.shcm.gov.cn/govxxgk/qmzj/2021-09-08/42e8b2ff-f67c-4813-9280-35f0f10dc539.html:
    2021-06-18 to Saturday 2021-07-17, 29 days; a weekend deadline does not lengthen the
    published count."""
    run = published(national, D(2021, 6, 18))
    refusal = run.refused(Start(step=PP, on=D(2021, 6, 18), comment_until=D(2021, 7, 17)))
    assert refusal.rule == "minimum.public_participation"
    assert refusal.article == "Decree 713 Art. 15"
    assert "2021-07-18" in refusal.remedy


def test_a4_ningjin_deadline_on_qingming_runs_to_the_next_working_day(national):
    """Decree 713 Art. 15; Civil Code Arts. 201/203 by analogy — A4,
    http://www.sdningjin.gov.cn/n50593881/n50593903/n50593963/n60837477/c81700726/content.html:
    2023-03-06 to 2023-04-05 is 30 days (lawful), but 04-05 is 清明 (a holiday): the window runs
    to 2023-04-06 and the step may close from 2023-04-07."""
    assert not CAL.is_working_day(D(2023, 4, 5))
    run = published(national, D(2023, 3, 6))
    run.start(PP, D(2023, 3, 6), comment_until=D(2023, 4, 5))
    view = window(run, D(2023, 3, 7))
    assert (view.comment_until, view.window_until) == (D(2023, 4, 5), D(2023, 4, 6))
    assert view.earliest_close_on == D(2023, 4, 7)
    assert view.due_on == D(2023, 4, 21)  # office policy: 15 days after the window (Art. 18)
    for early in (D(2023, 4, 5), D(2023, 4, 6)):
        refusal = run.refused(Complete(step=PP, on=early, documents=("opinion_adoption_report",)))
        assert refusal.rule == "minimum.public_participation"
        assert "2023-04-07" in refusal.remedy
    run.complete(PP, D(2023, 4, 7))
    assert run.status(PP) == "done"


def test_a5_nantong_exactly_30_days_to_a_friday_is_accepted(national):
    """Decree 713 Art. 15 — A5,
    https://www.nantong.gov.cn/ntsrmzf/jgfk/content/5be1f6d3-2688-41d9-b38e-8b6444f0727e.htm:
    2022-11-02 to Friday 2022-12-02, exactly 30 days; may close from 2022-12-03."""
    run = published(national, D(2022, 11, 2))
    run.start(PP, D(2022, 11, 2), comment_until=D(2022, 12, 2))
    view = window(run, D(2022, 11, 3))
    assert view.window_until == D(2022, 12, 2)
    assert view.earliest_close_on == D(2022, 12, 3)


def test_a6_hongqiao_32_days_to_a_sunday_runs_to_monday(national):
    """Decree 713 Art. 15; Civil Code Art. 203 by analogy — A6 (township, 参照),
    https://zwgk.shmh.gov.cn/mh-xxgk-cms/website/mh_xxgk/zdjc_ggnr/content/01b1d29c-043e-44d6-b90f-b63a66bc5379.htm:
    2023-02-15 to Sunday 2023-03-19: window to Monday 03-20, close from 03-21."""
    run = published(national, D(2023, 2, 15))
    run.start(PP, D(2023, 2, 15), comment_until=D(2023, 3, 19))
    view = window(run, D(2023, 2, 16))
    assert view.window_until == D(2023, 3, 20)
    assert view.earliest_close_on == D(2023, 3, 21)


def test_a7_putuo_deadline_only_counts_from_the_publication_day(national):
    """Decree 713 Art. 15 — A7,
    https://www.shpt.gov.cn/hudong/opinionCollect/detail/0ceac512273f401ba647d1e7cb21b53c:
    published 2025-11-19, "征求意见截止日期为2025年12月19日" (30 days, a Friday)."""
    run = published(national, D(2025, 11, 19))
    run.start(PP, D(2025, 11, 19), comment_until=D(2025, 12, 19))
    view = window(run, D(2025, 11, 20))
    assert view.window_until == D(2025, 12, 19)
    assert view.earliest_close_on == D(2025, 12, 20)


def test_a8_xinhai_from_today_40_days_is_accepted(national):
    """Decree 713 Art. 15 — A8 (township, 参照),
    https://www.shcm.gov.cn/jzpd/014017/014017002/20251010/66f24073-85fe-4ea4-9193-df98185a2455.html:
    "即日起至2025年11月19日" from 2025-10-10, 40 days; may close from 2025-11-20."""
    run = published(national, D(2025, 10, 10))
    run.start(PP, D(2025, 10, 10), comment_until=D(2025, 11, 19))
    view = window(run, D(2025, 10, 11))
    assert view.window_until == D(2025, 11, 19)
    assert view.earliest_close_on == D(2025, 11, 20)


@pytest.mark.parametrize("deadline", [D(2021, 7, 25), D(2021, 7, 26)], ids=["before", "by"])
def test_a9_huzhou_ten_or_eleven_days_is_refused_either_reading(national, deadline):
    """Decree 713 Art. 15 — A9, http://jtysj.huzhou.gov.cn/art/2021/7/15/art_1229515934_32105.html:
    published 2021-07-15, "7月26日前" read either way (10 or 11 days) is far short of 30."""
    run = published(national, D(2021, 7, 15))
    refusal = run.refused(Start(step=PP, on=D(2021, 7, 15), comment_until=deadline))
    assert refusal.rule == "minimum.public_participation"
    assert "2021-08-14" in refusal.remedy


# B. Real hearing notices (Decree 713 Arts. 16-17) ----------------------------------------------


def pingyuan(materials_on: D) -> tuple[Run, Complete]:
    run = published(load_procedure("national-2019"), D(2021, 4, 22))
    run.start(PP, D(2021, 4, 22), methods=("hearing",))
    close = Complete(
        step=PP,
        on=D(2021, 5, 28),
        documents=("hearing_record", "opinion_adoption_report"),
        hearing=state.Hearing(
            notice_on=D(2021, 4, 22), materials_on=materials_on, held_on=D(2021, 5, 26)
        ),
    )
    return run, close


def test_b1_pingyuan_hearing_materials_sent_with_the_list_are_in_time():
    """Decree 713 Art. 16 (材料应当于召开听证会7日前送达) — B1,
    http://www.pingyuan.gov.cn/zwgk/zwwgkzl/jcgk/jcygk/content/post_2164383.html: announced
    2021-04-22, hearing 2021-05-26, list and materials by 2021-05-06 (20 days ahead)."""
    run, close = pingyuan(D(2021, 5, 6))
    run._do(close)
    view = window(run, D(2021, 5, 28))
    assert view.status == "done" and view.methods == ("hearing",)
    assert view.comment_until is None and view.window_until is None
    done = state_of(run, PP)
    assert done.hearing is not None and done.hearing.held_on == D(2021, 5, 26)


def test_b1_pingyuan_materials_on_the_seventh_day_before_pass_the_sixth_is_refused():
    """Decree 713 Art. 16 — B1,
    http://www.pingyuan.gov.cn/zwgk/zwwgkzl/jcgk/jcygk/content/post_2164383.html: for the
    2021-05-26 hearing the latest lawful delivery is 2021-05-19; 2021-05-20 is one day late."""
    run, close = pingyuan(D(2021, 5, 20))
    refusal = run.refused(close)
    assert refusal.rule == "hearing.materials"
    assert refusal.article == "Decree 713 Art. 16"
    assert "2021-05-19" in refusal.remedy
    run, close = pingyuan(D(2021, 5, 19))
    run._do(close)
    assert run.status(PP) == "done"


def test_b2_lingling_sign_up_on_a_make_up_sunday_and_materials_a_week_ahead(national):
    """Decree 713 Art. 16 — B2,
    http://www.cnll.gov.cn/cnll/zdjcygk/202309/589cc61fc1c044c3a74b8c63420ae520.shtml: sign-up
    closes Sunday 2023-10-08, an official make-up working day (调休); hearing 2023-10-20, so
    materials by 2023-10-13. The announcement date is unverified: the notice is taken as
    published 2023-09-01 (the URL's month)."""
    assert CAL.is_working_day(D(2023, 10, 8))
    for materials_on, ok in ((D(2023, 10, 13), True), (D(2023, 10, 14), False)):
        run = published(national, D(2023, 9, 1))
        run.start(PP, D(2023, 9, 1), methods=("hearing",))
        close = Complete(
            step=PP,
            on=D(2023, 10, 23),
            documents=("hearing_record", "opinion_adoption_report"),
            hearing=state.Hearing(
                notice_on=D(2023, 9, 1), materials_on=materials_on, held_on=D(2023, 10, 20)
            ),
        )
        if ok:
            run._do(close)
            assert run.status(PP) == "done"
        else:
            assert run.refused(close).rule == "hearing.materials"


# Participation methods and the comment window (Decree 713 Arts. 14-18) --------------------------


def test_decree_713_art_15_default_is_public_comment_with_a_30_day_deadline(national):
    """Decree 713 Arts. 14-15, 18: no method given means 公开征求意见 with the deadline at
    publication + 30 days; the office-policy due is 15 days after the window."""
    run = published(national, D(2025, 3, 11))
    run.start(PP, D(2025, 3, 11))
    view = window(run, D(2025, 3, 12))
    assert view.methods == ("public_comment",)
    assert view.comment_until == D(2025, 4, 10)
    assert view.window_until == D(2025, 4, 10)
    assert view.earliest_close_on == D(2025, 4, 11)
    assert view.due_on == D(2025, 4, 25) and view.due_basis == "office_policy"


def test_decree_713_art_15_a_shorter_window_needs_the_urgency_stated_and_is_flagged(national):
    """Decree 713 Art. 15 (因情况紧急等原因需要缩短期限的，公开征求意见时应当予以说明): the A3 dates
    with an urgency statement are accepted, flagged shortened, and the published window still
    runs its course (to Monday 2021-07-19; close from 2021-07-20)."""
    run = published(national, D(2021, 6, 18))
    run.start(PP, D(2021, 6, 18), shorten_reason="汛期临近，情况紧急", comment_until=D(2021, 7, 17))
    view = window(run, D(2021, 6, 19))
    assert view.shortened and view.reason == "汛期临近，情况紧急"
    assert view.window_until == D(2021, 7, 19)
    assert view.earliest_close_on == D(2021, 7, 20)
    refusal = run.refused(
        Complete(step=PP, on=D(2021, 7, 19), documents=("opinion_adoption_report",))
    )
    assert refusal.rule == "minimum.public_participation"


@pytest.mark.parametrize("until", [None, D(2021, 7, 18), D(2021, 8, 30)])
def test_decree_713_art_15_no_shorten_reason_for_a_full_window(national, until):
    """Decree 713 Art. 15: a reason for shortening applies only to a window under 30 days."""
    run = published(national, D(2021, 6, 18))
    refusal = run.refused(
        Start(step=PP, on=D(2021, 6, 18), shorten_reason="紧急", comment_until=until)
    )
    assert refusal.rule == "minimum.not_shortened"
    assert refusal.article == "Decree 713 Art. 15"


@pytest.mark.parametrize("methods", [("symposium",), ("hearing", "survey")])
def test_decree_713_art_14_a_comment_deadline_needs_the_public_comment_method(national, methods):
    """Decree 713 Arts. 14-15: --comment-until is the deadline of 公开征求意见 only."""
    run = published(national, D(2025, 3, 11))
    refusal = run.refused(
        Start(step=PP, on=D(2025, 3, 11), methods=methods, comment_until=D(2025, 4, 30))
    )
    assert refusal.rule == "method.no_window"


def test_decree_713_art_15_no_shortening_without_a_window(national):
    """Decree 713 Art. 15: a symposium alone has no minimum, so nothing to shorten."""
    run = published(national, D(2025, 3, 11))
    refusal = run.refused(
        Start(step=PP, on=D(2025, 3, 11), methods=("symposium",), shorten_reason="紧急")
    )
    assert refusal.rule == "minimum.not_shortenable"


def test_decree_713_art_14_symposium_only_has_no_minimum_and_is_due_in_15_days(national):
    """Decree 713 Art. 14 (座谈会): no statutory minimum, the step may close the day it opens;
    due (office policy) 15 days after the opening."""
    run = published(national, D(2025, 3, 11))
    run.start(PP, D(2025, 3, 11), methods=("symposium",))
    view = window(run, D(2025, 3, 11))
    assert view.methods == ("symposium",)
    assert view.earliest_close_on is None and view.window_until is None
    assert view.due_on == D(2025, 3, 26)
    run.complete(PP, D(2025, 3, 11))
    assert run.status(PP) == "done"


def test_decree_713_art_14_methods_by_chinese_name_resolve_and_combine(national):
    """Decree 713 Art. 14: 公开征求意见、听证会、座谈会 typed in Chinese resolve to their ids (once
    each); with a comment window and a hearing both rules bind."""
    action = resolve_action(
        national,
        Start(
            step="公众参与",
            on=D(2023, 3, 6),
            methods=("公开征求意见", "听证会", "座谈会", "听证会"),
        ),
    )
    assert action.step == PP
    assert action.methods == ("public_comment", "hearing", "symposium")
    run = published(national, D(2023, 3, 6))
    run._do(action.model_copy(update={"comment_until": D(2023, 4, 5)}))
    assert window(run, D(2023, 3, 7)).earliest_close_on == D(2023, 4, 7)
    no_hearing = run.refused(
        Complete(step=PP, on=D(2023, 4, 7), documents=("hearing_record", "opinion_adoption_report"))
    )
    assert no_hearing.rule == "hearing.record_required"


def test_decree_713_art_14_unknown_methods_and_non_participation_steps(national):
    """Decree 713 Art. 14: only the listed methods, and only on the participation step."""
    with pytest.raises(InputError, match="symposium"):
        resolve_action(national, Start(step=PP, on=D(2025, 3, 11), methods=("座谈",)))
    run = Run(national)
    refusal = run.refused(Start(step="drafting", on=D(2025, 3, 3), methods=("symposium",)))
    assert refusal.rule == "method.not_participation"
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    with pytest.raises(InputError):
        run.start(PP, D(2025, 3, 11), methods=("lecture",))
    with pytest.raises(InputError):  # the deadline must come after publication
        run.start(PP, D(2025, 3, 11), comment_until=D(2025, 3, 11))


def test_decree_713_art_17_a_hearing_needs_its_dates_and_its_record(national):
    """Decree 713 Arts. 16-17: closing a step that used a hearing needs the hearing's dates and
    its record (听证会笔录)."""
    run = published(national, D(2025, 3, 11))
    run.start(PP, D(2025, 3, 11), methods=("hearing",))
    hearing = state.Hearing(
        notice_on=D(2025, 3, 11), materials_on=D(2025, 3, 20), held_on=D(2025, 4, 1)
    )
    no_dates = run.refused(
        Complete(step=PP, on=D(2025, 4, 2), documents=("hearing_record", "opinion_adoption_report"))
    )
    assert no_dates.rule == "hearing.record_required"
    no_record = run.refused(
        Complete(step=PP, on=D(2025, 4, 2), documents=("opinion_adoption_report",), hearing=hearing)
    )
    assert no_record.rule == "documents.required" and "hearing_record" in no_record.message
    late = run.refused(  # held after the step closed
        Complete(step=PP, on=D(2025, 3, 31), documents=("hearing_record",), hearing=hearing)
    )
    assert late.rule == "hearing.order"
    same_day = state.Hearing(  # announced on the day itself: not 提前公布 (in advance)
        notice_on=D(2025, 4, 1), materials_on=D(2025, 4, 1), held_on=D(2025, 4, 1)
    )
    assert (
        run.refused(
            Complete(step=PP, on=D(2025, 4, 2), documents=("hearing_record",), hearing=same_day)
        ).rule
        == "hearing.order"
    )
    before_notice = state.Hearing(  # materials before the hearing was even announced
        notice_on=D(2025, 3, 20), materials_on=D(2025, 3, 12), held_on=D(2025, 4, 1)
    )
    assert (
        run.refused(
            Complete(
                step=PP, on=D(2025, 4, 2), documents=("hearing_record",), hearing=before_notice
            )
        ).rule
        == "hearing.order"
    )


def test_decree_713_art_16_hearing_dates_without_a_hearing_are_refused(national):
    """Decree 713 Art. 16 (review finding): hearing dates given for a step that used no hearing
    would be stored unchecked — refused."""
    run = published(national, D(2025, 3, 11))
    run.start(PP, D(2025, 3, 11), methods=("symposium", "survey"))
    hearing = state.Hearing(
        notice_on=D(2025, 3, 11), materials_on=D(2025, 3, 11), held_on=D(2025, 3, 12)
    )
    refusal = run.refused(
        Complete(
            step=PP, on=D(2025, 3, 12), documents=("opinion_adoption_report",), hearing=hearing
        )
    )
    assert refusal.rule == "hearing.not_a_method"


# Returns and reuse (SPEC §2; Decree 713 Arts. 24, 28) ----------------------------------------


def test_decree_713_art_28_after_a_return_public_participation_may_be_reused(national):
    """Decree 713 Arts. 25, 28: after "unlawful" the sponsor may keep the earlier participation
    result with a reason (沿用前次结果); the legality review then runs again."""
    run = returned(national)
    assert run.status(PP) == "ready"
    run.reuse(PP, D(2025, 5, 13), "修改仅涉及文字表述，公众意见仍然适用")
    view = window(run, D(2025, 5, 13))
    assert view.status == "done" and view.attempt == 2 and view.reused_from == 1
    assert view.reason == "修改仅涉及文字表述，公众意见仍然适用"
    assert view.outcome == "done"
    assert run.status("legality_review") == "ready"


def test_decree_713_art_28_reuse_needs_a_reason(national):
    """Decree 713 Art. 28 (SPEC §2): keeping an earlier result needs the sponsor's reason."""
    run = returned(national)
    for reason in (None, "   "):
        refusal = run.refused(state.Reuse(step=PP, on=D(2025, 5, 13), reason=reason))
        assert refusal.rule == "reuse.reason_required"


@pytest.mark.parametrize(
    ("step", "article"),
    [("legality_review", "Decree 713 Art. 25"), ("collective_discussion", "Decree 713 Art. 30")],
)
def test_decree_713_arts_25_30_hard_gates_are_never_reused(national, step, article):
    """Decree 713 Art. 25 / Art. 30: a changed draft is reviewed and discussed again."""
    run = returned(national).reuse(PP, D(2025, 5, 13), "仍然适用")
    refusal = run.refused(state.Reuse(step=step, on=D(2025, 5, 14), reason="仍然适用"))
    assert refusal.rule == "reuse.not_allowed"
    assert refusal.article == article


def test_decree_713_art_28_expert_review_and_risk_assessment_may_be_reused(national):
    """Decree 713 Arts. 19, 22, 28: expert review and a controllable risk finding may be kept."""
    run = returned(national, ("technical", "stability_risk"))
    run.reuse("expert_review", D(2025, 5, 13), "论证结论仍然适用")
    run.reuse("risk_assessment", D(2025, 5, 13), "风险未变")
    view = run.plan(D(2025, 5, 13))
    assert view.step("expert_review").reused_from == 1
    assert view.step("risk_assessment").reused_from == 1
    assert view.step("risk_assessment").outcome == "controllable"
    assert view.step("legality_review").status == "waiting"  # participation still to do
    assert run.refused(state.Reuse(step=PP, on=D(2025, 5, 13))).rule == "reuse.reason_required"


def uncontrollable(national) -> Run:
    run = Run(national, ("stability_risk",))
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    run.start("risk_assessment", D(2025, 3, 11))
    run.complete("risk_assessment", D(2025, 3, 20), "uncontrollable")
    run.start("drafting", D(2025, 3, 21)).complete("drafting", D(2025, 3, 25))
    return run


def test_decree_713_art_24_an_uncontrollable_risk_finding_is_never_reused(national):
    """Decree 713 Art. 24: after "uncontrollable" a new assessment must follow."""
    run = uncontrollable(national)
    refusal = run.refused(state.Reuse(step="risk_assessment", on=D(2025, 3, 26), reason="x"))
    assert refusal.rule in ("gate.risk_assessment", "reuse.not_done")
    assert "uncontrollable" in refusal.message
    nothing = run.refused(state.Reuse(step=PP, on=D(2025, 3, 26), reason="x"))
    assert nothing.rule == "reuse.nothing"  # it never ran before the return


def test_decree_713_art_24_uncontrollable_reuse_refusal_names_the_risk_gate(national):
    """Decree 713 Art. 24 (SPEC gate 3): the refusal names rule gate.risk_assessment."""
    run = uncontrollable(national)
    refusal = run.refused(state.Reuse(step="risk_assessment", on=D(2025, 3, 26), reason="x"))
    assert refusal.rule == "gate.risk_assessment"
    assert refusal.article == "Decree 713 Art. 24"


def test_decree_713_art_24_a_later_controllable_finding_may_be_reused(national):
    """Decree 713 Art. 24: once a new assessment found the risk controllable, that result may be
    kept after a later return; the earlier uncontrollable one does not block it."""
    run = uncontrollable(national)
    run.start("risk_assessment", D(2025, 3, 26))
    run.complete("risk_assessment", D(2025, 4, 3), "controllable")
    run.start(PP, D(2025, 3, 26)).complete(PP, D(2025, 4, 27))
    run.start("legality_review", D(2025, 4, 28))
    run.complete("legality_review", D(2025, 5, 8), "unlawful")
    run.start("drafting", D(2025, 5, 9)).complete("drafting", D(2025, 5, 12))
    run.reuse("risk_assessment", D(2025, 5, 13), "风险评估结论仍然适用")
    assert run.plan(D(2025, 5, 13)).step("risk_assessment").reused_from == 2


@dataclass(frozen=True)
class Doc:
    step: str
    attempt: int
    kind: str


def test_decree_713_art_29_the_package_counts_a_reused_attempts_origin_documents(national):
    """Decree 713 Art. 29(2): the opinion-adoption report of the kept attempt counts, through
    two returns (origin attempt 1), both in the pure gate and with stored documents."""
    run = returned(national).reuse(PP, D(2025, 5, 13), "仍然适用")
    run.start("legality_review", D(2025, 5, 14))
    run.complete("legality_review", D(2025, 5, 26), "unlawful")
    run.start("drafting", D(2025, 5, 27)).complete("drafting", D(2025, 5, 28))
    run.reuse(PP, D(2025, 5, 29), "仍然适用")
    assert window(run, D(2025, 5, 29)).reused_from == 2  # which itself keeps attempt 1
    run.start("legality_review", D(2025, 5, 30)).complete(
        "legality_review", D(2025, 6, 10), "lawful"
    )
    assert pkg.package_gaps(national, run.flags, run.attempts) == ()
    docs = [
        Doc("drafting", 3, "draft"),
        Doc("public_participation", 1, "opinion_adoption_report"),
        Doc("legality_review", 3, "legality_opinion"),
        Doc("legality_review", 3, "legal_advisers_opinion"),
    ]
    full = pkg.package_state(national, run.flags, run.attempts, docs)
    assert full.complete
    entry = next(e for e in full.present if e.kind == "opinion_adoption_report")
    assert (entry.attempt, entry.reused_from, entry.document) == (3, 2, docs[1])
    lacking = pkg.package_state(
        national, run.flags, run.attempts, [d for d in docs if d != docs[1]]
    )
    assert [(e.kind, e.reused_from) for e in lacking.missing] == [("opinion_adoption_report", 2)]
    run.start("collective_discussion", D(2025, 6, 11))


# The Art. 29 package is a gate ------------------------------------------------------------------


def without_documents(national, flags, drafting=("draft",), review=None) -> Run:
    """Every step done, each filing only the documents given (none by default)."""
    run = Run(national, flags)
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10), documents=drafting)
    for step in (PP, "expert_review", "risk_assessment"):
        if run.status(step) == "ready":
            run.start(step, D(2025, 3, 11))
    for step in (PP, "expert_review"):
        if run.status(step) == "open":
            run.complete(step, D(2025, 4, 14), documents=())
    if run.status("risk_assessment") == "open":
        run.complete("risk_assessment", D(2025, 4, 14), "controllable", documents=())
    run.start("legality_review", D(2025, 4, 15))
    kw = {} if review is None else {"documents": review}
    return run.complete("legality_review", D(2025, 4, 30), "lawful", **kw)


def test_decree_713_art_29_refusal_names_each_missing_document_and_its_article(national):
    """Decree 713 Art. 29(1)-(5), Art. 28: the collective discussion may not start; the refusal
    names every missing kind, its step and its article."""
    run = without_documents(national, ("market_activity", "technical", "stability_risk"), review=())
    refusal = run.refused(Start(step="collective_discussion", on=D(2025, 5, 6)))
    assert refusal.rule == "package.incomplete"
    assert refusal.article == "Decree 713 Art. 29"
    for kind, step, article in [
        ("fair_competition_review", "drafting", "Art. 29(1)"),
        ("opinion_adoption_report", PP, "Art. 29(2)"),
        ("expert_adoption_report", "expert_review", "Art. 29(3)"),
        ("risk_report", "risk_assessment", "Art. 29(4)"),
        ("legality_opinion", "legality_review", "Art. 29(5)"),
        ("legal_advisers_opinion", "legality_review", "Art. 28"),
    ]:
        assert f"{kind}, {step} · Decree 713 {article}" in refusal.message
    assert "(draft," not in refusal.message  # the draft was filed


def test_decree_713_art_29_1_fair_competition_review_only_for_market_activity(national):
    """Decree 713 Art. 29(1): the fair-competition review is needed only where the draft touches
    market players' economic activity; without technical/stability flags no expert or risk
    report is asked for."""
    run = without_documents(national, ())
    run._do(state.Attach(step=PP, on=D(2025, 5, 5), documents=("opinion_adoption_report",)))
    run.start("collective_discussion", D(2025, 5, 6))
    market = without_documents(national, ("market_activity",))
    market._do(state.Attach(step=PP, on=D(2025, 5, 5), documents=("opinion_adoption_report",)))
    refusal = market.refused(Start(step="collective_discussion", on=D(2025, 5, 6)))
    assert "fair_competition_review" in refusal.message
    assert "opinion_adoption_report" not in refusal.message


def test_decree_713_art_28_the_legal_advisers_opinion_is_part_of_the_package(national):
    """Decree 713 Art. 28 (应当组织法律顾问、公职律师提出法律意见)."""
    run = without_documents(national, (), review=("legality_opinion",))
    run._do(state.Attach(step=PP, on=D(2025, 5, 5), documents=("opinion_adoption_report",)))
    refusal = run.refused(Start(step="collective_discussion", on=D(2025, 5, 6)))
    assert refusal.rule == "package.incomplete"
    assert "legal_advisers_opinion, legality_review · Decree 713 Art. 28" in refusal.message
    assert "legality_opinion," not in refusal.message


def test_decree_713_art_22_a_lawfully_skipped_risk_assessment_needs_no_report(national):
    """Decree 713 Arts. 22, 29(4): a risk assessment skipped as already assessed under other
    rules needs no risk report in the package."""
    run = Run(national, ("stability_risk",))
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    run.skip("risk_assessment", D(2025, 3, 11), "已按有关规定进行社会稳定风险评估")
    run.start(PP, D(2025, 3, 11)).complete(PP, D(2025, 4, 14))
    run.start("legality_review", D(2025, 4, 15)).complete(
        "legality_review", D(2025, 4, 30), "lawful"
    )
    assert pkg.package_gaps(national, run.flags, run.attempts) == ()
    run.start("collective_discussion", D(2025, 5, 6))


def test_decree_713_art_29_attach_files_a_missing_document_after_the_fact(national):
    """Decree 713 Art. 29: a document filed late on its step's attempt completes the package."""
    run = without_documents(national, (), drafting=())
    refusal = run.refused(Start(step="collective_discussion", on=D(2025, 5, 6)))
    assert "(draft, drafting · Decree 713 Art. 29(1))" in refusal.message
    run._do(state.Attach(step="drafting", on=D(2025, 5, 5), documents=("draft",)))
    run._do(state.Attach(step=PP, on=D(2025, 5, 5), documents=("opinion_adoption_report",)))
    assert "draft" in state_of(run, "drafting").documents
    run.start("collective_discussion", D(2025, 5, 6))
    assert run.status("collective_discussion") == "open"


def test_decree_713_art_29_attach_is_checked(national):
    """Decree 713 Art. 29 (SPEC gate 6: a refusal writes nothing): nothing to attach, a date
    before the step's facts, or a step that has not run."""
    run = without_documents(national, ())
    with pytest.raises(InputError):
        run._do(state.Attach(step="drafting", on=D(2025, 5, 5), documents=()))
    early = run.refused(state.Attach(step="drafting", on=D(2025, 3, 1), documents=("draft",)))
    assert early.rule == "date.order"
    waiting = run.refused(state.Attach(step="publication", on=D(2025, 5, 5), documents=("x",)))
    assert waiting.rule == "step.not_open"


def test_decree_713_art_28_an_attached_revised_draft_counts_for_lawful_with_changes(national):
    """Decree 713 Art. 28 (lawful_with_changes needs the revised draft): filed with Attach on
    the open review before the opinion is given, it is held by the attempt."""
    run = Run(national).to_legality_review()
    run._do(state.Attach(step="legality_review", on=D(2025, 4, 29), documents=("revised_draft",)))
    assert "revised_draft" in state_of(run, "legality_review").documents
    run.complete("legality_review", D(2025, 4, 30), "lawful_with_changes")
    assert run.status("legality_review") == "done"


# Art. 31 before issue; publication (Art. 32) ----------------------------------------------------


def test_decree_713_art_31_party_report_may_start_once_the_legality_review_passed(national):
    """Decree 713 Art. 31 (出台前): after a passing legality review, before the discussion."""
    early = Run(national).to_legality_review()
    refusal = early.refused(Start(step="party_committee_report", on=D(2025, 4, 16)))
    assert refusal.rule == "gate.legality_review"
    run = passed_review(national)
    assert run.status("party_committee_report") == "ready"
    run.start("party_committee_report", D(2025, 5, 6)).complete(
        "party_committee_report", D(2025, 5, 7)
    )
    run.start("collective_discussion", D(2025, 5, 8))
    run.complete("collective_discussion", D(2025, 5, 20), "approved", meeting=meeting("approved"))
    assert run.status("publication") == "ready"


def test_decree_713_art_31_publication_needs_both_the_approval_and_the_party_report(national):
    """Decree 713 Arts. 31-32: publication needs collective_discussion:approved and the party
    report, whichever comes last — reported first, it waits for the approval; approved first,
    it waits for the report."""
    early = passed_review(national)
    early.start("party_committee_report", D(2025, 5, 6))
    early.complete("party_committee_report", D(2025, 5, 7))
    early.start("collective_discussion", D(2025, 5, 8))
    view = early.plan(D(2025, 5, 9)).step("publication")
    assert view.status == "waiting" and view.blocked_by == ("collective_discussion",)
    gate = early.refused(Start(step="publication", on=D(2025, 5, 9)))
    assert gate.rule == "gate.collective_discussion"
    run = passed_review(national)
    run.start("collective_discussion", D(2025, 5, 6))
    run.complete("collective_discussion", D(2025, 5, 20), "approved", meeting=meeting("approved"))
    view = run.plan(D(2025, 5, 21)).step("publication")
    assert view.status == "waiting" and view.blocked_by == ("party_committee_report",)
    refusal = run.refused(Start(step="publication", on=D(2025, 5, 21)))
    assert refusal.rule == "order.after"
    run.start("party_committee_report", D(2025, 5, 21))
    run.complete("party_committee_report", D(2025, 5, 22))
    run.start("publication", D(2025, 5, 23))


def test_decree_713_art_33_a_rejected_decision_leaves_only_archiving(national):
    """Decree 713 Arts. 31, 33: after "rejected" the open party report no longer applies,
    publication is skipped, archiving remains and closes the decision."""
    run = passed_review(national)
    run.start("party_committee_report", D(2025, 5, 6))
    run.start("collective_discussion", D(2025, 5, 6))
    run.complete("collective_discussion", D(2025, 5, 20), "rejected", meeting=meeting("rejected"))
    view = run.plan(D(2025, 5, 21))
    assert view.status == "rejected"
    assert view.step("party_committee_report").status == "skipped"
    assert view.step("publication").status == "skipped"
    assert view.step("archiving").status == "ready"
    refusal = run.refused(Complete(step="party_committee_report", on=D(2025, 5, 22)))
    assert refusal.rule == "decision.ended"
    run.start("archiving", D(2025, 5, 22)).complete("archiving", D(2025, 5, 23))
    assert run.plan(D(2025, 5, 23)).status == "closed"


def approved(national, flags=()) -> Run:
    run = Run(national, flags).to_discussion()  # discussion opened 2025-05-06
    run.complete("collective_discussion", D(2025, 5, 20), "approved", meeting=meeting("approved"))
    run.start("party_committee_report", D(2025, 5, 20)).complete(
        "party_committee_report", D(2025, 5, 21)
    )
    return run


def test_ogi_regulation_art_26_publication_due_20_working_days_after_the_decision(national):
    """政府信息公开条例 Art. 26 (basis statute), Decree 713 Art. 32: due 20 working days from the
    collective discussion's close (2025-05-20, across 端午 2025-05-31..06-02) — 2025-06-18."""
    run = approved(national)
    view = run.plan(D(2025, 5, 22)).step("publication")
    assert view.due_on == D(2025, 6, 18) == CAL.add_working_days(D(2025, 5, 20), 20).on
    assert view.due_basis == "statute"
    run.start("publication", D(2025, 5, 23))
    assert run.plan(D(2025, 5, 23)).step("publication").due_on == D(2025, 6, 18)
    run.complete("publication", D(2025, 5, 26))  # no flags: no explanation or interpretation


@pytest.mark.parametrize("flag", ["public_concern", "technical"])
def test_decree_713_art_32_explanation_and_interpretation_for_concern_or_technical(national, flag):
    """Decree 713 Art. 32: a matter of wide public concern or a technical one is published with
    the explanation of how opinions were adopted and its policy interpretation."""
    run = approved(national, (flag,))
    run.start("publication", D(2025, 5, 22))
    both = run.refused(Complete(step="publication", on=D(2025, 5, 26)))
    assert both.rule == "documents.required" and both.article == "Decree 713 Art. 32"
    assert "adoption_explanation" in both.message and "policy_interpretation" in both.message
    one = run.refused(
        Complete(step="publication", on=D(2025, 5, 26), documents=("adoption_explanation",))
    )
    assert "policy_interpretation" in one.message and "adoption_explanation," not in one.message
    attach = state.Attach(
        step="publication", on=D(2025, 5, 23), documents=("adoption_explanation",)
    )
    run._do(attach)
    run.complete("publication", D(2025, 5, 26), documents=("policy_interpretation",))
    assert run.status("publication") == "done"


# The law's own terms and the Tianjin district preset --------------------------------------------


def test_decree_713_arts_12_19_31_terms_and_roles(national):
    """Decree 713 Art. 12 (拟订), Art. 19 (决策承办单位应当组织专家论证), Art. 31 (向同级党委请示报告)."""
    assert national.step("drafting").zh == "拟订决策草案"
    assert national.step("party_committee_report").zh == "向同级党委请示报告"
    assert national.step("expert_review").role == "sponsor"
    assert national.step("party_committee_report").after[0].step == "legality_review"


def test_tianjin_district_dossier_review_by_the_district_justice_bureau():
    """北辰区、津南区2022年度目录通知 (local rule): the sponsor sends the dossier to 区司法局 within 10
    days of the decision (the period binds the sending, review finding), the bureau reviews it —
    steps of their own, before and apart from archiving (Decree 713 Art. 33)."""
    proc = load_procedure("tianjin-district-2020")
    step = proc.step("dossier_review")
    assert step is not None and step.role == "legal_office"
    assert proc.role("legal_office").zh == "区司法局"
    sending = proc.step("dossier_submission")
    assert sending.role == "sponsor" and sending.due.amount == 10
    assert sending.due.unit == "calendar_days" and sending.due.basis.kind == "local_rule"
    assert step.due.basis.kind == "office_policy"
    assert "dossier_review" in {p.step for p in proc.step("archiving").after}
    run = Run(proc).to_legality_review(review=False)
    run.start("internal_legality_review", D(2025, 4, 15))
    run.complete("internal_legality_review", D(2025, 4, 22), "passed")
    run.start("legality_review", D(2025, 4, 23)).complete(
        "legality_review", D(2025, 5, 8), "lawful"
    )
    run.start("collective_discussion", D(2025, 5, 9))
    run.complete("collective_discussion", D(2025, 5, 20), "rejected", meeting=meeting("rejected"))
    view = run.plan(D(2025, 5, 21))
    sending = view.step("dossier_submission")
    assert sending.status == "ready" and sending.role == "sponsor"
    assert sending.due_on == D(2025, 5, 30) and sending.due_basis == "local_rule"
    assert view.step("dossier_review").status == "waiting"  # still applies after rejection
    assert view.step("archiving").status == "waiting"
    run.start("dossier_submission", D(2025, 5, 26)).complete("dossier_submission", D(2025, 5, 26))
    run.start("dossier_review", D(2025, 5, 27)).complete("dossier_review", D(2025, 6, 10))
    assert run.plan(D(2025, 6, 10)).step("archiving").status == "ready"


def test_ogi_regulation_art_26_publication_is_due_and_alerted_while_the_party_report_waits(
    national,
):
    """政府信息公开条例 Art. 26: the 20 working days run from the decision whatever else is
    awaited — a publication still waiting for the report to the Party committee (Art. 31) shows
    its statutory due date and falls overdue (review finding: it showed no date and no alert)."""
    run = Run(national).to_discussion()
    run.complete("collective_discussion", D(2025, 5, 20), "approved", meeting=meeting("approved"))
    view = run.plan(D(2025, 6, 19))
    publication = view.step("publication")
    assert publication.status == "waiting" and publication.blocked_by == ("party_committee_report",)
    assert publication.due_on == D(2025, 6, 18) and publication.due_basis == "statute"
    assert publication.alert == "overdue" and publication in view.falling_due
    # a step counted from its own opening has no due date while it waits
    fresh = Run(national).plan(D(2025, 3, 4)).step("legality_review")
    assert fresh.status == "waiting" and fresh.due_on is None


# Review findings on filing documents late (Decree 713 Arts. 25, 28, 29) -----------------------


def test_decree_713_art_29_documents_are_not_replaced_or_added_once_the_discussion_opened(
    national,
):
    """Decree 713 Arts. 25, 29: the package the discussion was given is the one it decides on — a
    second legality opinion, a late draft, or a kind the step does not produce are refused."""
    run = Run(national).to_legality_review()
    run.complete("legality_review", D(2025, 4, 30), "lawful", documents=("legality_opinion",))
    swap = run.refused(
        state.Attach(step="legality_review", on=D(2025, 5, 5), documents=("legality_opinion",))
    )
    assert swap.rule == "documents.filed"
    with pytest.raises(InputError, match="does not take documents of kind"):
        run._do(state.Attach(step="legality_review", on=D(2025, 5, 5), documents=("draft",)))
    run._do(
        state.Attach(
            step="legality_review", on=D(2025, 5, 5), documents=("legal_advisers_opinion",)
        )
    )
    run.start("collective_discussion", D(2025, 5, 6))
    late = run.refused(
        state.Attach(step="drafting", on=D(2025, 5, 7), documents=("consultation_record",))
    )
    assert (late.rule, late.article) == ("documents.submitted", "Decree 713 Art. 29")
    # after the discussion, the publication's own documents may still be filed
    run.complete("collective_discussion", D(2025, 5, 8), "approved", meeting=meeting("approved"))
    run.start("party_committee_report", D(2025, 5, 9)).complete(
        "party_committee_report", D(2025, 5, 9)
    )
    run.start("publication", D(2025, 5, 12))
    run._do(
        state.Attach(step="publication", on=D(2025, 5, 12), documents=("policy_interpretation",))
    )


def test_decree_713_art_29_a_document_filed_on_a_reused_attempt_counts_after_the_next_reuse(
    national,
):
    """Review finding: attempt 3 keeps attempt 2, which keeps attempt 1 — a report filed on
    attempt 2 (after the first reuse) still counts for the package."""
    run = Run(national, ["technical"])
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    run.start(PP, D(2025, 3, 11), methods=("symposium",)).complete(PP, D(2025, 3, 14))
    run.start("expert_review", D(2025, 3, 11)).complete(
        "expert_review", D(2025, 3, 14), documents=("expert_opinions",)
    )
    for n, (review_on, back_on) in enumerate(
        [(D(2025, 3, 17), D(2025, 3, 26)), (D(2025, 4, 7), D(2025, 4, 16))]
    ):
        run.start("legality_review", review_on).complete("legality_review", back_on, "unlawful")
        run.start("drafting", back_on).complete("drafting", back_on)
        run.reuse(PP, back_on, reason="不影响").reuse("expert_review", back_on, reason="不影响")
        if n == 0:
            run._do(
                state.Attach(
                    step="expert_review", on=back_on, documents=("expert_adoption_report",)
                )
            )
    run.start("legality_review", D(2025, 4, 17)).complete(
        "legality_review", D(2025, 4, 30), "lawful"
    )
    assert run.plan(D(2025, 4, 30)).step("collective_discussion").package_missing == ()
    run.start("collective_discussion", D(2025, 5, 6))


def test_decree_713_art_29_a_ready_discussion_shows_what_the_package_lacks(national):
    """Review finding: the collective discussion showed "ready" while its start would be
    refused — the status names the missing documents (Art. 28's legal advisers' opinion)."""
    run = Run(national).to_legality_review()
    run.complete("legality_review", D(2025, 4, 30), "lawful", documents=("legality_opinion",))
    view = run.plan(D(2025, 5, 5)).step("collective_discussion")
    assert view.status == "ready" and view.package_missing == ("legal_advisers_opinion",)


def test_decree_713_art_25_the_review_of_an_undisclosable_plain_matter_waits_for_the_draft(
    national,
):
    """Review finding: with public participation (undisclosable), expert review and risk
    assessment all not required, the legality review was ready at registration — before any
    draft existed.  It reviews the draft (Art. 25): it waits for drafting."""
    run = Run(national, ["undisclosable"])
    refusal = run.refused(Start(step="legality_review", on=D(2025, 3, 3)))
    assert refusal.rule == "gate.drafting" or refusal.rule == "order.after"
    run.start("drafting", D(2025, 3, 3)).complete("drafting", D(2025, 3, 10))
    assert run.status("legality_review") == "ready"
