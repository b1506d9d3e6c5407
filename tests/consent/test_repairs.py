"""The repair rules as data: a broken repairs file is refused naming what is wrong, and no fee may be set."""

from __future__ import annotations

import copy

import pytest

from consent.errors import RepairsInvalid
from consent.repairs import _shipped, load_default_rules, parse_rules


def test_the_shipped_rules_load_and_are_free_of_charge() -> None:
    public = load_default_rules().to_public()
    assert public["free_of_charge"] is True
    assert not [key for key in public if "fee" in key]


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["decide"].update(working_days=0), "working_days must be 1 to 60"),
    (lambda d: d["decide"].update(working_days=61), "working_days must be 1 to 60"),
    (lambda d: d["decide"].update(working_days=True), "working_days must be 1 to 60"),
    (lambda d: d["methods"][0].update(reason=" "), "reason is empty"),
    (lambda d: d.update(methods=[]), "methods is empty"),
    (lambda d: d["effects"].pop(), "effects must be exactly"),
    (lambda d: d["effects"][0].update(reason=""), "an effect's reason is empty"),
    (lambda d: d.update(fee_yuan=10), "free of charge"),
    (lambda d: d.pop("decide"), "malformed"),
])
def test_a_broken_repairs_file_is_refused_naming_what_is_wrong(change: object, message: str) -> None:
    raw = copy.deepcopy(_shipped())
    change(raw)  # type: ignore[operator]
    with pytest.raises(RepairsInvalid, match=message):
        parse_rules(raw)
