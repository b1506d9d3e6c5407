"""Reviewing the log without the web: filters, stable pages, working hours, and the anomaly rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from audit import entries as audit
from audit import review
from audit.clock import FrozenClock
from audit.entries import EntryDraft
from audit.review import Activity, EntryFilter, Thresholds
from audit.tags import Outcome, Tag
from gateway.runtime import Runtime
from tests.conftest import NOW

CST = timezone(timedelta(hours=8))
LIMITS = Thresholds(volume_factor=5.0, min_queries=20, refusal_rate=0.3, off_hours_share=0.25)
KINDS = {"employment_screening": frozenset({"employer"}), "tenancy": frozenset({"landlord"})}


def _draft(actor: str = "inst_a", action: str = Tag.QUERY_RELEASED, **changes: Any) -> EntryDraft:
    return EntryDraft(actor=actor, role="institution", action=action, **changes)


def _append(rt: Runtime, clock: FrozenClock, *drafts: EntryDraft, at: datetime | None = None) -> list[int]:
    if at is not None:
        clock.set(at)
    with rt.sessions() as session, session.begin():
        return audit.append_many(session, clock, drafts)


def _newest(rt: Runtime, f: EntryFilter, before: int | None = None, limit: int = 100) -> list[int]:
    with rt.sessions() as session, session.begin():
        return [v.seq for v in review.newest_first(session, f, before=before, limit=limit)]


# --- filters and pages --------------------------------------------------------------------------


def test_each_condition_narrows_and_together_they_all_hold(rt: Runtime, clock: FrozenClock) -> None:
    a, b, c, d = _append(
        rt, clock,
        _draft("inst_a", detail={"institution": "inst_a"}, purpose="employment_screening"),
        _draft("inst_b", Tag.QUERY_DENIED, outcome=Outcome.DENIED, detail={"institution": "inst_b"}),
        EntryDraft(actor="ref_1", role="person", action=Tag.CONSENT_APPROVED, subject_ref="ref_1",
                   detail={"institution": "inst_a"}),
        _draft("inst_a", Tag.CONSENT_REQUESTED, subject_ref="ref_1"),
    )
    (later,) = _append(rt, clock, _draft("inst_b", subject_ref="ref_2"), at=NOW + timedelta(hours=1))
    assert _newest(rt, EntryFilter()) == [later, d, c, b, a]
    assert _newest(rt, EntryFilter(actor="inst_a")) == [d, a]
    assert _newest(rt, EntryFilter(institution="inst_a")) == [d, c, a]
    assert _newest(rt, EntryFilter(action="consent:query:")) == [later, b, a]
    assert _newest(rt, EntryFilter(action="consent:query:released")) == [later, a]
    assert _newest(rt, EntryFilter(action="consent:query")) == []  # no colon: an exact tag, and there is none
    assert _newest(rt, EntryFilter(outcome="denied")) == [b]
    assert _newest(rt, EntryFilter(subject_ref="ref_1")) == [d, c]
    assert _newest(rt, EntryFilter(since=NOW + timedelta(hours=1))) == [later]
    assert _newest(rt, EntryFilter(until=NOW + timedelta(hours=1))) == [d, c, b, a]
    assert _newest(rt, EntryFilter(institution="inst_a", subject_ref="ref_1", action="consent:")) == [d, c]


def test_a_prefix_filter_treats_like_wildcards_as_plain_characters(rt: Runtime, clock: FrozenClock) -> None:
    percent, plain = _append(rt, clock, _draft(action="x%_:y"), _draft(action="xab:y"))
    assert _newest(rt, EntryFilter(action="x%_:")) == [percent]
    assert _newest(rt, EntryFilter(action="xab:")) == [plain]
    assert _newest(rt, EntryFilter(action="x__:")) == []


def test_pages_below_a_number_and_batches_up_to_a_number_cover_the_log_once(rt: Runtime, clock: FrozenClock) -> None:
    seqs = _append(rt, clock, *(_draft() for _ in range(7)))
    assert _newest(rt, EntryFilter(), limit=3) == seqs[::-1][:3]
    assert _newest(rt, EntryFilter(), before=seqs[4], limit=3) == [seqs[3], seqs[2], seqs[1]]
    with rt.sessions() as session, session.begin():
        batch = review.oldest_first(session, EntryFilter(), after=seqs[1], upto=seqs[5], limit=100)
        assert [v.seq for v in batch] == seqs[2:6]
        assert review.count(session, EntryFilter(), upto=seqs[5]) == 6
        assert review.count(session, EntryFilter(actor="nobody")) == 0
        assert review.last_seq(session) == seqs[-1]
    assert batch[0].index == batch[0].seq - 1
    assert len(batch[0].leaf_hash) == 32


def test_a_filter_describes_itself_without_the_conditions_not_given() -> None:
    f = EntryFilter(actor="inst_a", since=datetime(2026, 11, 1, 8, tzinfo=CST), subject_ref="ab" * 32)
    assert f.describe() == {"actor": "inst_a", "subject_ref": "ab" * 32, "since": "2026-11-01T00:00:00.000000Z"}


# --- working hours ------------------------------------------------------------------------------


@pytest.mark.parametrize(("local", "off"), [
    (datetime(2026, 11, 23, 7, 59, 59), True),  # Monday, before 08:00
    (datetime(2026, 11, 23, 8, 0), False),
    (datetime(2026, 11, 23, 19, 59, 59), False),
    (datetime(2026, 11, 23, 20, 0), True),
    (datetime(2026, 11, 22, 10, 0), True),  # Sunday
    (datetime(2026, 10, 1, 10, 0), True),  # Thursday, National Day
    (datetime(2026, 10, 10, 10, 0), False),  # Saturday, a working day swapped for National Day
    (datetime(2040, 1, 2, 10, 0), False),  # a Monday past chinesecalendar's data: weekdays work
    (datetime(2040, 1, 7, 10, 0), True),  # a Saturday past chinesecalendar's data
])
def test_off_hours_are_counted_in_china_standard_time_on_chinas_working_days(local: datetime, off: bool) -> None:
    at = local.replace(tzinfo=CST).astimezone(UTC)
    assert review.is_off_hours(at) is off


def test_days_outside_chinesecalendars_range_fall_back_to_monday_to_friday() -> None:
    assert review.is_working_day(date(1990, 1, 1)) is True  # a Monday before the data begins
    assert review.is_working_day(date(2099, 12, 26)) is False  # a Saturday


# --- anomaly rules ------------------------------------------------------------------------------


def _kinds(activity: dict[str, Activity], limits: Thresholds = LIMITS) -> list[tuple[str, str]]:
    return [(a.institution, a.kind) for a in review.find_anomalies(activity, limits)]


def test_volume_stands_out_only_above_both_the_floor_and_the_factor_times_the_median() -> None:
    quiet = {f"i{n}": Activity(queries=4) for n in range(3)}
    assert _kinds({**quiet, "busy": Activity(queries=20)}) == []  # 5 x 4 = 20, and the floor is 20: not above
    assert _kinds({**quiet, "busy": Activity(queries=21)}) == [("busy", "volume")]
    assert _kinds({**quiet, "busy": Activity(queries=21)}, Thresholds(5.0, 50, 0.3, 0.25)) == []  # under the floor
    assert _kinds({**quiet, "busy": Activity(queries=13)}, Thresholds(3.0, 1, 0.3, 0.25)) == [("busy", "volume")]
    assert _kinds({"alone": Activity(queries=10_000)}) == []  # nobody to compare with
    assert _kinds({}) == []
    assert review.median_queries({}) == 0.0


def test_rates_are_judged_only_from_the_minimum_number_of_queries_and_only_above_the_threshold() -> None:
    assert _kinds({"a": Activity(queries=19, denied=19, off_hours=19)}) == []
    assert _kinds({"a": Activity(queries=20, denied=6, off_hours=5)}) == []  # exactly 30% and 25%
    assert _kinds({"a": Activity(queries=20, denied=7, off_hours=6)}) == [("a", "refusal_rate"), ("a", "off_hours")]


def test_query_activity_counts_by_institution_and_finds_purposes_that_do_not_fit(
    rt: Runtime, clock: FrozenClock
) -> None:
    working, night = datetime(2026, 11, 23, 10, tzinfo=CST), datetime(2026, 11, 23, 2, tzinfo=CST)
    fits = _append(rt, clock, _draft("emp", purpose="employment_screening", detail={"institution": "emp"}),
                   at=working)
    wrong = _append(rt, clock, _draft("emp", purpose="tenancy", detail={"institution": "emp"}),
                    _draft("emp", purpose="gone_purpose", detail={"institution": "emp"}), at=night)
    refused_early = _append(rt, clock, _draft("emp", Tag.QUERY_DENIED, outcome=Outcome.DENIED), at=working)
    no_purpose = _append(rt, clock, _draft("ghost"), at=working)
    _append(rt, clock, _draft("emp", Tag.CONSENT_REQUESTED, purpose="tenancy"), at=working)  # not a query
    with rt.sessions() as session, session.begin():
        found = review.query_activity(session, working - timedelta(days=1), working + timedelta(hours=1), KINDS,
                                      {"emp": "employer"})
    assert set(found) == {"emp", "ghost"}
    emp = found["emp"]
    assert (emp.queries, emp.denied, emp.off_hours) == (4, 1, 2)
    assert emp.mismatched == {
        ("tenancy", "purpose tenancy is for landlord institutions, but this institution is an employer"): [wrong[0]],
        ("gone_purpose", "purpose gone_purpose is not a registered purpose"): [wrong[1]],
    }
    assert refused_early[0] not in [s for seqs in emp.mismatched.values() for s in seqs]
    assert found["ghost"].mismatched == {(None, "no purpose was recorded for a released report"): no_purpose}
    assert fits[0] not in [s for seqs in emp.mismatched.values() for s in seqs]
    anomalies = review.find_anomalies(found, LIMITS)
    assert [(a.institution, a.kind, a.purpose, a.entries) for a in anomalies] == [
        ("emp", "purpose_mismatch", "gone_purpose", (wrong[1],)),
        ("emp", "purpose_mismatch", "tenancy", (wrong[0],)),
        ("ghost", "purpose_mismatch", None, tuple(no_purpose)),
    ]
    assert anomalies[1].reason == ("1 query does not fit the institution's kind: purpose tenancy is for landlord "
                                   "institutions, but this institution is an employer")
