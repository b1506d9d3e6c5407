"""Citizen IDs (GB 11643-1999): what is accepted, and which check names each refusal."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import numdb

from vault.errors import InvalidCitizenId
from vault.identity import mask_citizen_id, normalise_citizen_id

TODAY = date(2026, 11, 22)
CHECK_CHARACTERS = "0123456789X"
WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]  # GB 11643: W_i = 2^(i-1) mod 11, i counted from the right


def check_character(body: str) -> str:
    """The ISO 7064 MOD 11-2 check character of 17 digits, computed here from the standard's formula."""
    total = sum(int(digit) * weight for digit, weight in zip(body, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[(12 - total % 11) % 11]


def _divisions_valid_in_every_year() -> list[str]:
    """Division codes whose county carries no date range in the division table (assigned in every year)."""
    codes = []
    for _, province, _, _, counties in numdb.get("cn/loc").prefixes:
        for _, low, high, props, _ in counties:
            county = props.get("county", "")
            if low == high and county and "[" not in county:
                codes.append(province + low)
    return sorted(codes)


DIVISIONS = _divisions_valid_in_every_year()


def make_id(division: str, born: date, sequence: int) -> str:
    body = f"{division}{born:%Y%m%d}{sequence:03d}"
    return body + check_character(body)


VALID = make_id("110105", date(1949, 12, 31), 2)  # 11010519491231002X

valid_ids = st.builds(
    make_id,
    st.sampled_from(DIVISIONS),
    st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    st.integers(min_value=0, max_value=999),
)


def check_of(raw: object) -> str:
    with pytest.raises(InvalidCitizenId) as caught:
        normalise_citizen_id(raw, TODAY)
    assert caught.value.field == "citizen_id"
    return caught.value.check


def test_the_local_check_character_agrees_with_the_standards_worked_example() -> None:
    assert VALID == "11010519491231002X"


@settings(max_examples=100)
@given(valid_ids)
def test_any_real_past_birth_date_and_known_division_with_its_check_character_is_accepted(citizen_id: str) -> None:
    assert normalise_citizen_id(citizen_id, TODAY) == citizen_id


def make_id_ending_in_x(division: str, born: date, start: int) -> str:
    """The first ID from sequence number `start` on whose check character is X (about one in eleven)."""
    return next(cid for n in range(start, start + 1000) if (cid := make_id(division, born, n % 1000)).endswith("X"))


@settings(max_examples=50)
@given(st.builds(make_id_ending_in_x, st.sampled_from(DIVISIONS),
                 st.dates(min_value=date(1900, 1, 1), max_value=TODAY), st.integers(min_value=0, max_value=999)))
def test_a_lowercase_x_is_normalised_to_upper_case(citizen_id: str) -> None:
    assert citizen_id.endswith("X")
    assert normalise_citizen_id(citizen_id[:-1] + "x", TODAY) == citizen_id


def test_surrounding_whitespace_is_dropped() -> None:
    assert normalise_citizen_id(f"  {VALID.lower()}\n", TODAY) == VALID


@settings(max_examples=50)
@given(valid_ids)
def test_every_other_check_character_is_refused_as_a_checksum_error(citizen_id: str) -> None:
    for wrong in CHECK_CHARACTERS.replace(citizen_id[-1], ""):
        assert check_of(citizen_id[:-1] + wrong) == "checksum"


@settings(max_examples=50)
@given(valid_ids, st.integers(min_value=0, max_value=16), st.integers(min_value=1, max_value=9))
def test_changing_any_one_body_digit_breaks_the_checksum(citizen_id: str, position: int, shift: int) -> None:
    digit = str((int(citizen_id[position]) + shift) % 10)
    changed = citizen_id[:position] + digit + citizen_id[position + 1:]
    assert check_of(changed) == "checksum"


@pytest.mark.parametrize("raw", ["", VALID[:17], VALID + "0", VALID[:15], "1" * 30])
def test_a_wrong_length_is_refused_as_a_length_error(raw: str) -> None:
    assert check_of(raw) == "length"


@pytest.mark.parametrize(
    "raw",
    [
        "A" + VALID[1:],
        VALID[:8] + "X" + VALID[9:],
        VALID[:17] + "Y",
        VALID[:10] + "-" + VALID[11:],
        "１" + VALID[1:],  # a full-width digit is not an ASCII digit
    ],
)
def test_letters_or_symbols_are_refused_as_a_characters_error(raw: str) -> None:
    assert check_of(raw) == "characters"


def test_february_the_thirtieth_is_refused_as_a_birth_date_error() -> None:
    body = "110105" + "19900230" + "123"
    assert check_of(body + check_character(body)) == "birth_date"


def test_month_thirteen_is_refused_as_a_birth_date_error() -> None:
    body = "110105" + "19901301" + "123"
    assert check_of(body + check_character(body)) == "birth_date"


def test_a_birth_date_after_today_is_refused_as_a_birth_date_error() -> None:
    assert check_of(make_id("110105", date(2026, 11, 23), 1)) == "birth_date"


def test_a_birth_on_today_is_accepted() -> None:
    citizen_id = make_id("110105", TODAY, 1)
    assert normalise_citizen_id(citizen_id, TODAY) == citizen_id


# 110199: a known province (Beijing) with an unknown county, which python-stdnum answers with a KeyError.
@pytest.mark.parametrize("division", ["999999", "110199", "000000"])
def test_an_unknown_division_is_refused_as_a_division_code_error(division: str) -> None:
    assert check_of(make_id(division, date(1980, 5, 17), 12)) == "division_code"


def test_a_division_not_yet_assigned_in_the_birth_year_is_refused_as_a_division_code_error() -> None:
    # 450403 (万秀区) exists only from 1983 in the division table.
    assert normalise_citizen_id(make_id("450403", date(1990, 1, 1), 5), TODAY)
    assert check_of(make_id("450403", date(1970, 1, 1), 5)) == "division_code"


@pytest.mark.parametrize("raw", [None, 11010519491231002, b"11010519491231002X", ["11010519491231002X"]])
def test_anything_but_a_string_is_refused_as_a_type_error(raw: object) -> None:
    assert check_of(raw) == "type"


@settings(max_examples=50)
@given(valid_ids)
def test_a_masked_id_shows_only_the_first_four_and_last_four_characters(citizen_id: str) -> None:
    masked = mask_citizen_id(citizen_id)
    assert len(masked) == 18
    assert masked[:4] == citizen_id[:4]
    assert masked[-4:] == citizen_id[-4:]
    assert masked[4:14] == "*" * 10
