"""Records where they enter: checked against the catalogue, their display period fixed, fingerprinted."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from consent.entry import prepare as prepare_record
from consent.errors import CategoryNotAllowed, PayloadInvalid, UnknownCategory
from gateway.runtime import Runtime
from tests.conftest import NOW, People, new_record
from vault.types import Document, NewRecord, Prepared, Provider

GENERAL = "ADMINISTRATIVE_PENALTY_GENERAL"
MINOR = "ADMINISTRATIVE_PENALTY_MINOR"
TODAY = NOW.date()
PROVIDER = Provider("prov_a", frozenset({GENERAL, MINOR}))
OTHER = Provider("prov_b", frozenset({GENERAL, MINOR}))


def prepare(rt: Runtime, record: NewRecord, provider: Provider = PROVIDER, today: date = TODAY) -> Prepared:
    return prepare_record(rt.catalogue, rt.vault.fingerprint, provider, record, today)


# --- prepare ------------------------------------------------------------------------------------


def test_a_category_outside_the_catalogue_is_refused(rt: Runtime, people: People) -> None:
    provider = Provider("prov_a", frozenset({"FRIENDSHIP_POINTS"}))
    with pytest.raises(UnknownCategory):
        prepare(rt, new_record(people.new(), category="FRIENDSHIP_POINTS"), provider)


def test_a_category_the_provider_is_not_registered_for_is_refused(rt: Runtime, people: People) -> None:
    provider = Provider("prov_a", frozenset({MINOR}))
    with pytest.raises(CategoryNotAllowed) as caught:
        prepare(rt, new_record(people.new(), category=GENERAL), provider)
    assert caught.value.code == GENERAL


def test_a_decision_dated_after_today_is_refused(rt: Runtime, people: People) -> None:
    record = new_record(people.new(), decided=TODAY + timedelta(days=1),
                        document=Document("administrative_penalty_decision", "1", "局", TODAY))
    with pytest.raises(PayloadInvalid) as caught:
        prepare(rt, record)
    assert caught.value.field == "decided_at"


def test_a_decision_dated_today_is_accepted(rt: Runtime, people: People) -> None:
    assert prepare(rt, new_record(people.new(), decided=TODAY)).display_from == TODAY


def test_a_document_not_yet_effective_is_refused(rt: Runtime, people: People) -> None:
    record = new_record(people.new(), document=Document(
        "administrative_penalty_decision", "常市监罚〔2026〕12号", "常州市市场监督管理局", TODAY + timedelta(days=1)))
    with pytest.raises(PayloadInvalid) as caught:
        prepare(rt, record)
    assert caught.value.field == "document.effective_at"


@pytest.mark.parametrize("document_type", ["tax_decision", "court_judgment", "commendation_decision"])
def test_a_document_type_the_category_does_not_rest_on_is_refused(
    rt: Runtime, people: People, document_type: str
) -> None:
    record = new_record(people.new(), document=Document(document_type, "1", "局", date(2026, 10, 1)))
    with pytest.raises(PayloadInvalid) as caught:
        prepare(rt, record)
    assert caught.value.field == "document.type"


def test_a_document_type_outside_the_catalogue_is_refused(rt: Runtime, people: People) -> None:
    record = new_record(people.new(), document=Document("napkin_note", "1", "局", date(2026, 10, 1)))
    with pytest.raises(PayloadInvalid) as caught:
        prepare(rt, record)
    assert caught.value.field == "document.type"


def test_a_negative_record_without_a_document_is_refused(rt: Runtime, people: People) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        prepare(rt, new_record(people.new(), document=None))
    assert caught.value.field == "document"


def test_a_payload_field_outside_the_category_is_refused(rt: Runtime, people: People) -> None:
    record = new_record(people.new())
    with pytest.raises(PayloadInvalid) as caught:
        prepare(rt, replace(record, payload={**record.payload, "hobby": "chess"}))
    assert caught.value.field == "payload.hobby"


def test_the_fingerprint_tells_one_request_from_another(rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    first = prepare(rt, new_record(citizen_id)).fingerprint
    assert prepare(rt, new_record(citizen_id)).fingerprint == first
    assert prepare(rt, new_record(citizen_id, category=MINOR)).fingerprint != first
    assert prepare(rt, new_record(people.new())).fingerprint != first
    assert prepare(rt, new_record(citizen_id), OTHER).fingerprint != first


# --- display periods ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decided", "until"),
    [
        (date(2026, 8, 15), date(2026, 11, 15)),
        (date(2026, 5, 31), date(2026, 8, 31)),  # the day is kept when the month has it
        (date(2026, 3, 31), date(2026, 6, 30)),
        (date(2023, 11, 30), date(2024, 2, 29)),  # clamped to a leap February's last day
        (date(2025, 12, 31), date(2026, 3, 31)),  # across a year end
    ],
)
def test_a_minor_penalty_ends_three_calendar_months_after_its_decision(
    rt: Runtime, people: People, decided: date, until: date
) -> None:
    assert prepare(rt, new_record(people.new(), category=MINOR, decided=decided)).display_until == until


def test_a_general_penalty_decided_on_the_thirty_first_ends_on_the_thirty_first(rt: Runtime, people: People) -> None:
    assert prepare(rt, new_record(people.new(), decided=date(2026, 1, 31))).display_until == date(2027, 1, 31)
