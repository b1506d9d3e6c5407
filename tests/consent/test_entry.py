"""Records where they enter: checked against the catalogue, their display period fixed, fingerprinted."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from consent.catalogue import DocumentOrder
from consent.entry import prepare as prepare_record
from consent.entry import window_end
from consent.errors import CategoryNotAllowed, PayloadInvalid, UnknownCategory
from gateway.runtime import Runtime
from tests.conftest import NOW, People, new_record
from vault.types import Document, NewRecord, Prepared, Provider

GENERAL = "ADMINISTRATIVE_PENALTY_GENERAL"
MINOR = "ADMINISTRATIVE_PENALTY_MINOR"
TODAY = NOW.date()
PROVIDER = Provider("prov_a", frozenset({GENERAL, MINOR}), "any_competent_authority")
OTHER = Provider("prov_b", frozenset({GENERAL, MINOR}), "any_competent_authority")


def prepare(rt: Runtime, record: NewRecord, provider: Provider = PROVIDER, today: date = TODAY) -> Prepared:
    return prepare_record(rt.catalogue, rt.vault.fingerprint, provider, record, today)


# --- prepare ------------------------------------------------------------------------------------


def test_a_category_outside_the_catalogue_is_refused(rt: Runtime, people: People) -> None:
    provider = Provider("prov_a", frozenset({"FRIENDSHIP_POINTS"}), "any_competent_authority")
    with pytest.raises(UnknownCategory):
        prepare(rt, new_record(people.new(), category="FRIENDSHIP_POINTS"), provider)


def test_a_category_the_provider_is_not_registered_for_is_refused(rt: Runtime, people: People) -> None:
    provider = Provider("prov_a", frozenset({MINOR}), "any_competent_authority")
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


# --- the person's age (DATA-8) ------------------------------------------------------------------

ACADEMIC = "ACADEMIC_MISCONDUCT"
LOAN = "STUDENT_LOAN_DEFAULT"
STUDENT = Provider("prov_edu", frozenset({ACADEMIC, LOAN, GENERAL}), "education")


def academic(citizen_id: str, decided: date) -> NewRecord:
    return new_record(citizen_id, category=ACADEMIC, decided=decided,
                      document=Document("academic_misconduct_decision", "常大学〔2026〕3号", "常州大学", decided),
                      payload={"institution": "常州大学", "misconduct_type": "exam_cheating",
                               "finding": "期末考试夹带", "sanction": "demerit"})


@pytest.mark.parametrize("category", [ACADEMIC, LOAN])
def test_the_student_categories_state_a_minimum_age_of_eighteen(rt: Runtime, category: str) -> None:
    rule = rt.catalogue.category(category).minimum_age
    assert rule is not None
    assert rule.years == 18
    assert rule.reason


def test_a_student_record_decided_before_the_person_turned_eighteen_is_refused(rt: Runtime, people: People) -> None:
    citizen_id = people.new(born=date(2008, 10, 2))
    with pytest.raises(PayloadInvalid) as caught:
        prepare(rt, academic(citizen_id, date(2026, 10, 1)), STUDENT)
    assert caught.value.field == "decided_at"
    assert "under 18" in caught.value.reason


def test_age_in_full_years_counts_from_the_day_after_the_eighteenth_birthday(rt: Runtime, people: People) -> None:
    citizen_id = people.new(born=date(2008, 10, 1))
    with pytest.raises(PayloadInvalid):
        prepare(rt, academic(citizen_id, date(2026, 10, 1)), STUDENT)
    assert prepare(rt, academic(citizen_id, date(2026, 10, 2)), STUDENT).display_from == date(2026, 10, 2)


def test_someone_born_on_the_twenty_ninth_of_february_is_of_age_from_the_first_of_march(
    rt: Runtime, people: People
) -> None:
    citizen_id = people.new(born=date(2008, 2, 29))
    with pytest.raises(PayloadInvalid):
        prepare(rt, academic(citizen_id, date(2026, 2, 28)), STUDENT)
    assert prepare(rt, academic(citizen_id, date(2026, 3, 1)), STUDENT)


def test_a_category_without_a_minimum_age_takes_a_minor_s_record(rt: Runtime, people: People) -> None:
    assert rt.catalogue.category(GENERAL).minimum_age is None
    citizen_id = people.new(born=date(2010, 5, 1))
    assert prepare(rt, new_record(citizen_id, decided=date(2026, 10, 1)))


def test_a_record_decided_before_the_person_was_born_is_refused(rt: Runtime, people: People) -> None:
    citizen_id = people.new(born=date(2000, 6, 1))
    record = new_record(citizen_id, decided=date(2000, 5, 31),
                        document=Document("administrative_penalty_decision", "1", "局", date(2000, 5, 31)))
    with pytest.raises(PayloadInvalid) as caught:
        prepare(rt, record)
    assert caught.value.field == "decided_at"
    assert "birth" in caught.value.reason


# --- dates --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("decided_at", {"decided_at": date(1, 1, 1)}),
        ("decided_at", {"decided_at": date(1949, 9, 30)}),
        ("document.effective_at", {"document": Document("administrative_penalty_decision", "1", "局", date(1, 1, 1))}),
    ],
)
def test_a_date_before_the_first_of_october_1949_is_refused_naming_the_field(
    rt: Runtime, people: People, field: str, changes: dict[str, object]
) -> None:
    record = replace(new_record(people.new(born=date(1930, 1, 1))), **changes)  # type: ignore[arg-type]
    with pytest.raises(PayloadInvalid) as caught:
        prepare(rt, record)
    assert caught.value.field == field
    assert "1949-10-01" in caught.value.reason


def test_a_payload_date_before_the_first_of_october_1949_is_refused(rt: Runtime, people: People) -> None:
    record = new_record(people.new(), category="TAX_ARREARS",
                        document=Document("tax_decision", "1", "税务局", date(2026, 10, 1)),
                        payload={"tax_type": "individual_income_tax", "arrears_since": "1949-09-30",
                                 "arrears_amount": "100.00", "subject_role": "natural_person"})
    with pytest.raises(PayloadInvalid) as caught:
        prepare(rt, record, Provider("prov_tax", frozenset({"TAX_ARREARS"}), "tax"))
    assert caught.value.field == "payload.arrears_since"


def _tax_arrears(citizen_id: str, since: str) -> NewRecord:
    return new_record(citizen_id, category="TAX_ARREARS", decided=date(2026, 10, 8),
                      document=Document("tax_decision", "1", "税务局", date(2026, 10, 8)),
                      payload={"tax_type": "individual_income_tax", "arrears_since": since,
                               "arrears_amount": "100.00", "subject_role": "natural_person"})


def test_arrears_that_began_after_the_decision_about_them_are_refused(rt: Runtime, people: People) -> None:
    tax = Provider("prov_tax", frozenset({"TAX_ARREARS"}), "tax")
    with pytest.raises(PayloadInvalid) as caught:
        prepare(rt, _tax_arrears(people.new(), "2026-10-09"), tax)
    assert caught.value.field == "payload.arrears_since"
    assert caught.value.reason.startswith("is after decided_at (2026-10-08)")
    assert prepare(rt, _tax_arrears(people.new(), "2026-10-08"), tax)


def test_volunteer_service_that_ends_after_today_is_refused(rt: Runtime, people: People) -> None:
    volunteer = Provider("prov_civil", frozenset({"VOLUNTEER_SERVICE"}), "civil_affairs")

    def service(end: date) -> NewRecord:
        return new_record(people.new(), category="VOLUNTEER_SERVICE", decided=date(2026, 10, 8),
                          document=Document("volunteer_service_certificate", "1", "志愿服务联合会", date(2026, 10, 8)),
                          payload={"organisation": "常州市志愿服务联合会", "service_hours": "12.5",
                                   "period_start": "2026-09-01", "period_end": end.isoformat()})

    with pytest.raises(PayloadInvalid) as caught:
        prepare(rt, service(TODAY + timedelta(days=1)), volunteer)
    assert caught.value.field == "payload.period_end"
    assert "after today" in caught.value.reason
    assert prepare(rt, service(TODAY), volunteer)


def test_a_date_that_may_lie_ahead_is_accepted_after_today(rt: Runtime, people: People) -> None:
    licence = new_record(people.new(), category="ADMINISTRATIVE_LICENCE", decided=date(2026, 10, 8),
                         document=Document("licence", "JY1", "市场监督管理局", date(2026, 10, 8)),
                         payload={"licence_name": "食品经营许可证", "licence_number": "JY1",
                                  "valid_from": "2026-10-08", "valid_until": "2031-10-07"})
    assert prepare(rt, licence, Provider("prov_a", frozenset({"ADMINISTRATIVE_LICENCE"}), "any_competent_authority"))


def test_the_first_of_october_1949_itself_is_accepted(rt: Runtime, people: People) -> None:
    record = new_record(people.new(born=date(1930, 1, 1)), decided=date(1949, 10, 1))
    assert prepare(rt, record).display_from == date(1949, 10, 1)


def test_every_document_type_states_the_order_of_its_dates(rt: Runtime) -> None:
    orders = {kind.code: kind.order for kind in rt.catalogue.document_types}
    assert orders["administrative_penalty_decision"] is DocumentOrder.DECIDED_THEN_EFFECTIVE
    assert orders["court_judgment"] is DocumentOrder.EFFECTIVE_THEN_DECIDED
    assert set(rt.catalogue.dates.order_reasons) == set(DocumentOrder)


def test_a_decision_that_takes_effect_before_it_was_made_is_refused(rt: Runtime, people: People) -> None:
    record = new_record(people.new(), decided=date(2026, 10, 8),
                        document=Document("administrative_penalty_decision", "1", "局", date(2026, 10, 7)))
    with pytest.raises(PayloadInvalid) as caught:
        prepare(rt, record)
    assert caught.value.field == "document.effective_at"
    assert "before decided_at" in caught.value.reason
    later = replace(record, document=Document("administrative_penalty_decision", "1", "局", date(2026, 10, 20)))
    assert prepare(rt, later)


def test_a_judgment_a_record_rests_on_must_be_in_force_by_the_decision(rt: Runtime, people: People) -> None:
    def loan(effective: date) -> NewRecord:
        return new_record(people.new(), category=LOAN, decided=date(2026, 10, 8),
                          document=Document("court_judgment", "(2026)苏04民初1号", "常州市中级人民法院", effective),
                          payload={"loan_type": "campus_based", "lender": "国家开发银行", "overdue_since": "2025-09-01",
                                   "overdue_amount": "8000.00"})

    with pytest.raises(PayloadInvalid) as caught:
        prepare(rt, loan(date(2026, 10, 9)), STUDENT)
    assert caught.value.field == "document.effective_at"
    assert "after decided_at" in caught.value.reason
    assert prepare(rt, loan(date(2026, 9, 1)), STUDENT)


# --- notice before listing (LIST-4) -------------------------------------------------------------

LISTING = "SERIOUS_DISHONESTY_LIST"
LISTING_AGENCY = Provider("prov_listing", frozenset({LISTING}), "any_competent_authority", "city")


def listing(citizen_id: str, decided: date, notified: date) -> NewRecord:
    return new_record(citizen_id, category=LISTING, decided=decided,
                      document=Document("list_determination", "常信用〔2026〕9号", "常州市发展和改革委员会", decided),
                      payload={"field_of_listing": "fair_competition_social_order", "list_name": "严重失信主体名单",
                               "listing_standard": "国办发〔2020〕49号", "listing_reason": "拒不履行",
                               "punishment_measures": "限制高消费", "removal_conditions": "履行后申请移出",
                               "remedies": "行政复议或行政诉讼",
                               "notified_on": notified.isoformat(), "subject_role": "natural_person"})


def test_the_listing_category_states_its_notice_window_with_a_reason(rt: Runtime) -> None:
    notice = rt.catalogue.category(LISTING).notice
    assert notice is not None
    assert (notice.field, notice.working_days) == ("notified_on", 5)
    assert notice.reason


def test_a_listing_whose_notice_came_after_the_decision_is_refused(rt: Runtime, people: People) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        prepare(rt, listing(people.new(), date(2026, 10, 12), date(2026, 10, 31)), LISTING_AGENCY)
    assert caught.value.field == "payload.notified_on"
    assert "before" in caught.value.reason


def test_a_listing_decided_inside_the_objection_window_is_refused(rt: Runtime, people: People) -> None:
    # Told on Friday 16 October 2026: the five working days are 19 to 23 October, so the 23rd is too early.
    with pytest.raises(PayloadInvalid) as caught:
        prepare(rt, listing(people.new(), date(2026, 10, 23), date(2026, 10, 16)), LISTING_AGENCY)
    assert caught.value.field == "payload.notified_on"
    assert "2026-10-23" in caught.value.reason
    assert prepare(rt, listing(people.new(), date(2026, 10, 24), date(2026, 10, 16)), LISTING_AGENCY)


def test_the_objection_window_skips_the_national_day_holiday(rt: Runtime, people: People) -> None:
    # Told on 30 September 2026: 1 to 7 October are the National Day holiday and Saturday 10 October is a
    # working day in 2026's arrangement (chinesecalendar): the window is 8, 9, 10, 12 and 13 October.
    assert window_end(date(2026, 9, 30), 5) == date(2026, 10, 13)
    with pytest.raises(PayloadInvalid):
        prepare(rt, listing(people.new(), date(2026, 10, 13), date(2026, 9, 30)), LISTING_AGENCY)
    assert prepare(rt, listing(people.new(), date(2026, 10, 14), date(2026, 9, 30)), LISTING_AGENCY)


# --- the organisation's code (DATA-9) -----------------------------------------------------------


def _with_code(citizen_id: str, code: str) -> NewRecord:
    record = new_record(citizen_id)
    return replace(record, payload={**record.payload, "subject_role": "legal_representative",
                                    "organisation_name": "常州星海科技有限公司", "organisation_credit_code": code})


@pytest.mark.parametrize("code", ["91110000600037341M", "9111000060003734", "91110000600037341I", "统一社会信用代码"])
def test_an_organisation_credit_code_that_is_not_a_unified_social_credit_code_is_refused(
    rt: Runtime, people: People, code: str
) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        prepare(rt, _with_code(people.new(), code))
    assert caught.value.field == "payload.organisation_credit_code"
    assert "unified social credit code" in caught.value.reason


def test_a_valid_unified_social_credit_code_is_stored_upper_case(rt: Runtime, people: People) -> None:
    assert prepare(rt, _with_code(people.new(), "91110000600037341l")).payload["organisation_credit_code"] == (
        "91110000600037341L")
