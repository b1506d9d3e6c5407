"""`records import` checks a line's shape with plain code that must agree with the API's RecordIn schema."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from gateway.usecases.records import ShapeInvalid, record_shape
from gateway.web.schemas import RecordIn

SCHEMA = RecordIn()

GOOD = {"citizen_id": "11010519491231002X", "name": "王芳", "category": "TAX_ARREARS", "decided_at": "2026-10-01",
        "document": {"type": "tax_decision", "number": "常税欠〔2026〕1号", "authority": "国家税务总局常州市税务局",
                     "effective_at": "2026-10-01"},
        "payload": {"tax_type": "individual_income_tax", "arrears_amount": "100.00"}}
_odd = st.one_of(
    st.text(max_size=3), st.text(min_size=59, max_size=61), st.text(min_size=99, max_size=101),
    st.text(min_size=199, max_size=201), st.sampled_from(["2026-02-30", "20261001", "2026-W40-1", "٢٠٢٦-10-01",
                                                          "2026-10-01T00:00", " 2026-10-01", "\x00", "\x7f"]),
    st.none(), st.integers(), st.booleans(), st.just([]), st.just({}),
    st.dictionaries(st.text(max_size=61), st.integers(), max_size=3),
)
# A good line with a few of its values, or its document's, replaced by odd ones, removed, or added to.
_mutation = st.tuples(st.sampled_from([*GOOD, "document.type", "document.number", "document.authority",
                                       "document.effective_at", "payload.key", "unknown", "document.unknown"]),
                      st.sampled_from(["replace", "remove"]), _odd)


def _mutated(changes: list[tuple[str, str, Any]]) -> dict[str, Any]:
    raw: dict[str, Any] = {**GOOD, "document": dict(GOOD["document"]), "payload": dict(GOOD["payload"])}
    for path, how, value in changes:
        where, _, name = path.rpartition(".")
        target = raw if not where else raw.get(where)
        if not isinstance(target, dict):
            continue
        if name == "key":
            target[value if isinstance(value, str) else str(value)] = "1"
        elif how == "remove":
            target.pop(name, None)
        else:
            target[name] = value
    return raw


_lines = st.lists(_mutation, max_size=2).map(_mutated)


def _schema_load(raw: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return dict(SCHEMA.load(raw))
    except ValidationError:
        return None


def _shape(raw: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return record_shape(raw)
    except ShapeInvalid:
        return None


@settings(max_examples=1500, deadline=None)
@given(_lines)
def test_the_import_accepts_a_line_exactly_when_the_schema_would_and_reads_it_the_same(raw: dict[str, Any]) -> None:
    assert _shape(raw) == _schema_load(raw)


def test_the_import_reads_a_well_formed_line_as_the_schema_does() -> None:
    assert _shape(GOOD) is not None
    assert _shape(GOOD) == _schema_load(GOOD)


@pytest.mark.parametrize(("change", "field"), [
    ({"unknown": 1}, "unknown"),
    ({"decided_at": "2026-02-30"}, "decided_at"),
    ({"document": {**GOOD["document"], "effective_at": None}}, "document.effective_at"),
    ({"payload": {"\x00": "1"}}, "payload.\x00"),
    ({"category": ""}, "category"),
])
def test_a_malformed_line_names_its_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ShapeInvalid) as caught:
        record_shape({**GOOD, **change})
    assert caught.value.field == field
