"""Calendar durations: parsed from ISO 8601, counted forwards and backwards, as days where they must be."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.durations import Duration, add_duration, not_longer, parse_days, parse_duration, subtract_duration

# --- durations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P0D", Duration()),
        ("P3M", Duration(months=3)),
        ("P1Y", Duration(years=1)),
        ("P1Y2M3D", Duration(1, 2, 3)),
        ("P2W", Duration(days=14)),
        ("P1W2D", Duration(days=9)),
        ("P10Y", Duration(years=10)),
    ],
)
def test_date_durations_parse(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "P",
        "PT1H",
        "P1DT12H",
        "P1D1M",
        "P1Y1Y",
        "P-1D",
        "P1.5Y",
        "P1,5Y",
        "p1y",
        "1Y",
        " P1Y",
        "P1Y ",
        "P\uff11D",  # a full-width digit
        "P1234567D",
    ],
)
def test_anything_but_a_date_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_duration(text)


def test_duration_refuses_negative_or_boolean_parts() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        Duration(months=-1)
    with pytest.raises(ValueError, match="non-negative"):
        Duration(years=True)


def test_duration_prints_as_iso_8601() -> None:
    assert str(Duration(1, 6, 0)) == "P1Y6M"
    assert Duration().isoformat() == "P0D"
    assert parse_duration("P2W").isoformat() == "P14D"


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (date(2023, 1, 31), "P1M", date(2023, 2, 28)),
        (date(2024, 1, 31), "P1M", date(2024, 2, 29)),
        (date(2024, 3, 31), "P1M", date(2024, 4, 30)),
        (date(2024, 2, 29), "P1Y", date(2025, 2, 28)),
        (date(2024, 2, 29), "P4Y", date(2028, 2, 29)),
        (date(2025, 11, 30), "P3M", date(2026, 2, 28)),
        (date(2025, 12, 15), "P1M", date(2026, 1, 15)),
        (date(2023, 1, 31), "P1M1D", date(2023, 3, 1)),
        (date(2024, 12, 31), "P1D", date(2025, 1, 1)),
        (date(2024, 2, 28), "P1W", date(2024, 3, 6)),
        (date(2026, 5, 20), "P0D", date(2026, 5, 20)),
    ],
)
def test_adding_a_duration_clamps_to_the_end_of_the_month(
    start: date, duration: str, expected: date
) -> None:
    assert add_duration(start, parse_duration(duration)) == expected


def test_adding_past_the_last_representable_date_overflows() -> None:
    with pytest.raises(OverflowError):
        add_duration(date(9999, 6, 1), Duration(years=1))
    with pytest.raises(OverflowError):
        add_duration(date(9999, 12, 31), Duration(days=1))


durations = st.builds(
    Duration,
    years=st.integers(0, 50),
    months=st.integers(0, 40),
    days=st.integers(0, 4000),
)
days = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))


@given(days)
def test_adding_nothing_leaves_the_date_alone(day: date) -> None:
    assert add_duration(day, Duration()) == day


@given(days, days, durations)
def test_adding_a_duration_keeps_dates_in_order(
    a: date, b: date, duration: Duration
) -> None:
    early, late = sorted((a, b))
    assert add_duration(early, duration) <= add_duration(late, duration)


@given(days, durations)
def test_adding_a_duration_never_goes_back(day: date, duration: Duration) -> None:
    assert add_duration(day, duration) >= day


@given(durations)
def test_a_duration_survives_its_iso_form(duration: Duration) -> None:
    assert parse_duration(duration.isoformat()) == duration


def test_subtracting_past_the_first_representable_date_overflows() -> None:
    with pytest.raises(OverflowError):
        subtract_duration(date(1, 6, 1), Duration(years=1))


short_durations = st.builds(
    Duration,
    years=st.integers(0, 5),
    months=st.integers(0, 24),
    days=st.integers(0, 400),
)


@given(days, short_durations)
def test_subtracting_a_duration_never_goes_forward(day: date, duration: Duration) -> None:
    assert subtract_duration(day, duration) <= day


@given(days, days, short_durations)
def test_subtracting_a_duration_keeps_dates_in_order(a: date, b: date, duration: Duration) -> None:
    early, late = sorted((a, b))
    assert subtract_duration(early, duration) <= subtract_duration(late, duration)


# --- durations in days ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("P7D", 7), ("P30D", 30), ("P2W", 14), ("P1W", 7), ("P0D", 0)],
)
def test_days_are_read_from_days_and_weeks(text: str, expected: int) -> None:
    assert parse_days(text) == Duration(days=expected)
    assert parse_days(text).as_timedelta() == timedelta(days=expected)


@pytest.mark.parametrize(
    "text",
    ["P1M", "P1Y", "PT1H", "P1DT1H", "P1W2D", "P", "", "7D", "p7d", "P-1D", "P1.5D", " P7D", "P7D ", "seven"],
)
def test_days_are_refused_in_anything_but_days_or_weeks(text: str) -> None:
    with pytest.raises(ValueError, match="days or weeks"):
        parse_days(text)


def test_days_are_refused_in_a_value_that_is_not_text() -> None:
    with pytest.raises(ValueError, match="days or weeks"):
        parse_days(7)  # type: ignore[arg-type]


def test_only_a_duration_in_days_becomes_a_timedelta() -> None:
    assert Duration(days=30).as_timedelta() == timedelta(days=30)
    with pytest.raises(ValueError, match="no fixed length in days"):
        Duration(months=1).as_timedelta()
    with pytest.raises(ValueError, match="no fixed length in days"):
        Duration(years=1, days=1).as_timedelta()


@pytest.mark.parametrize(
    ("shorter", "longer", "expected"),
    [
        ("P1M", "P31D", True),
        ("P30D", "P1M", False),  # longer than February
        ("P4Y12M", "P5Y", True),
        ("P4Y11M28D", "P5Y", True),
        ("P4Y11M31D", "P5Y", False),  # from 2024-02-29: 2029-03-01 is past 2029-02-28
    ],
)
def test_not_longer_holds_from_every_reference_date(shorter: str, longer: str, expected: bool) -> None:
    assert not_longer(parse_duration(shorter), parse_duration(longer)) is expected
