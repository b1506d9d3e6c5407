"""The lists as data: the black list's window, lowest level and period are the catalogue's, and a broken lists
file is refused naming what is wrong."""

from __future__ import annotations

import copy
import json
from datetime import date
from importlib import resources
from typing import Any

import pytest

from consent.catalogue import load_default, parse_catalogue
from consent.errors import ListsInvalid
from consent.listings import _shipped, first_status, load_default_rules, parse_rules


def _catalogue_raw() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (resources.files("consent") / "data" / "catalogue.json").read_text(encoding="utf-8"))
    return loaded


def test_the_black_lists_window_level_and_period_are_the_catalogues_serious_dishonesty_rules() -> None:
    catalogue = load_default()
    category = catalogue.category("SERIOUS_DISHONESTY_LIST")
    black = load_default_rules(catalogue).kinds["black"]
    assert category.notice is not None
    assert (black.window_days, black.window_reason) == (category.notice.working_days, category.notice.reason)
    assert (black.min_level, black.period) == (category.min_provider_level, category.display_period)
    red = load_default_rules(catalogue).kinds["red"]
    assert (red.window_days, red.min_level) == (None, "county")  # LIST-12: district level or above


def test_a_longer_notice_in_the_catalogue_lengthens_the_objection_window() -> None:
    raw = _catalogue_raw()
    [listing] = [c for c in raw["categories"] if c["code"] == "SERIOUS_DISHONESTY_LIST"]
    listing["notice_before_decision"]["working_days"] = 10
    black = parse_rules(_shipped(), parse_catalogue(raw)).kinds["black"]
    assert black.window_days == 10
    # Proposed on Monday 12 October 2026: ten working days run until Monday 26 October.
    assert first_status(black, date(2026, 10, 12)) == ("proposed", date(2026, 10, 26), None)


def test_the_published_rules_name_every_remedy_route_and_each_measures_type() -> None:
    public = load_default_rules(load_default()).to_public()
    assert {"objection", "administrative_reconsideration", "administrative_litigation", "credit_repair"} == {
        r["code"] for r in public["remedies"]}
    for kind in public["kinds"]:
        assert kind["removal"]["zh"]
        assert kind["removal"]["en"]
        assert {m["type"] for m in kind["measures"]} <= {"mandatory", "recommended"}
    [black] = [k for k in public["kinds"] if k["code"] == "black"]
    assert black["prior_notice"]["objection_window_working_days"] == 5
    assert black["monitoring_after_exit"]["period"] == "P1Y"


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["kinds"].pop(), "exactly black and red"),
    (lambda d: d["kinds"][0].update(category="NO_SUCH"), "is not in the catalogue"),
    (lambda d: d["kinds"][1].update(prior_notice=True), "no notice_before_decision"),
    (lambda d: d["kinds"][1].update(min_provider_level="village"), "lowest agency level"),
    (lambda d: d["kinds"][1].update(min_provider_level_reason=" "), "lowest agency level"),
    (lambda d: d["kinds"][0]["measures"][0].update(type="optional"), "mandatory or recommended"),
    (lambda d: d["kinds"][0].update(measures=[]), "mandatory or recommended"),
    (lambda d: d["remedies"].pop(1), "reconsideration and litigation"),
    (lambda d: d.pop("rights"), "malformed"),
])
def test_a_broken_lists_file_is_refused_naming_what_is_wrong(change: Any, message: str) -> None:
    raw = copy.deepcopy(_shipped())
    change(raw)
    with pytest.raises(ListsInvalid, match=message):
        parse_rules(raw, load_default())
