"""The second clock as data: every category keeps its records a stated time after display, with its reason."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from consent import retention
from consent.catalogue import load_default, parse_catalogue
from consent.durations import Duration
from consent.errors import CatalogueInvalid
from tests.consent.test_catalogue import broken, category_doc


def test_every_category_keeps_its_records_a_while_after_display_and_says_why() -> None:
    catalogue = load_default()
    for category in catalogue.categories.values():
        assert category.retention_period != Duration(), category.code
        assert len(category.retention_period_reason) > 80, category.code
        public = category.to_public()
        assert public["retention_period"] == category.retention_period.isoformat()
        assert public["retention_period_reason"] == category.retention_period_reason


def test_negative_records_are_kept_five_years_after_display_and_others_three() -> None:
    for category in load_default().categories.values():
        expected = Duration(years=5) if category.polarity == "negative" else Duration(years=3)
        assert category.retention_period == expected, category.code


@pytest.mark.parametrize("value", ["P0D", "P31Y", "P1YT1H", 5])
def test_a_retention_period_of_nothing_too_long_or_not_a_date_duration_is_refused(value: Any) -> None:
    def change(doc: dict[str, Any]) -> None:
        category_doc(doc, "TAX_ARREARS")["retention_period"] = value

    assert "category TAX_ARREARS: retention_period:" in broken(change)


@pytest.mark.parametrize("key", ["retention_period", "retention_period_reason"])
def test_a_category_without_its_retention_period_or_reason_is_refused(key: str) -> None:
    doc = copy.deepcopy(load_default().raw)
    del category_doc(doc, "COMMENDATION")[key]
    with pytest.raises(CatalogueInvalid, match=f"category COMMENDATION: {key}: missing key"):
        parse_catalogue(doc)


def test_a_record_is_past_retention_once_its_display_ended_that_long_ago() -> None:
    catalogue = load_default()
    bounds = retention.bounds(catalogue, date(2032, 10, 1))
    # Five years for a general penalty: a display that ended on 1 October 2027 is past it on 1 October 2032.
    assert bounds["ADMINISTRATIVE_PENALTY_GENERAL"] == date(2027, 10, 1)
    assert bounds["COMMENDATION"] == date(2029, 10, 1)
    # Counting back from a month's end never erases a day early: 29 February 2028 minus five years is the 28th.
    assert catalogue.category("TAX_ARREARS").retention_bound(date(2033, 2, 28)) == date(2028, 2, 28)
    assert "P5Y" in retention.basis(catalogue, "TAX_ARREARS")
