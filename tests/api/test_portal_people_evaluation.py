"""The person's integrity evaluation on the report page and the occupational group of a pending request, in
words (EVAL-7: the person sees which adverse record breaks the attribute and until when)."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.conftest import Person, Registered, penalty


def test_the_report_shows_the_evaluation_in_words_with_the_record_that_breaks_it(
        client: FlaskClient, person: Person, auth: Any) -> None:
    clean = person.client.get("/me").get_data(as_text=True)
    assert "我的诚信评价" in clean
    assert "连续三年无不良信用记录" in clean
    assert "仅用于守信激励" in clean
    assert 'class="tag good">是<' in clean
    provider = auth.provider()
    filed = client.post("/api/v1/records", json=penalty(person.citizen_id), headers=provider.headers)
    assert filed.status_code == 201, filed.json
    page = person.client.get("/me").get_data(as_text=True)
    assert 'class="tag bad">否<' in page
    assert "纳入考量的不良记录" in page
    assert "决定日期在三年之内,计入" in page
    assert "2026年10月1日" in page
    assert "ADMINISTRATIVE_PENALTY_GENERAL" not in page  # the category in words, never its code


def test_the_evaluation_reads_in_english_when_english_is_chosen(person: Person, auth: Any,
                                                              client: FlaskClient) -> None:
    person.client.get("/lang/en?next=/me")
    page = person.client.get("/me").get_data(as_text=True)
    assert "My integrity evaluation" in page
    assert "No adverse credit record for three consecutive years" in page
    assert "连续三年无不良信用记录" not in page  # one language at a time


def test_a_request_for_an_occupational_report_names_the_group_in_words(
        client: FlaskClient, employer: Registered, person: Person) -> None:
    asked = client.post("/api/v1/consent-requests", headers=employer.headers, json={
        "citizen_id": person.citizen_id, "purpose": "occupational_credit_report", "reason": "执业核查",
        "valid_for": "P30D", "occupational_group": "KG04"})
    assert asked.status_code == 201, asked.json
    review = person.client.get(f"/me/consent-requests/{asked.json['id']}").get_data(as_text=True)  # type: ignore[index]
    assert "职业人群" in review
    assert "律师" in review
    assert "KG04" not in review
