"""Credit commitments (信用承诺) through the people's forms: the templates, the bodies each allows, the box to
tick, the refusal beside its field, and the confirmation page (COM-1, COM-2)."""

from __future__ import annotations

from typing import Any

from tests.conftest import Person


def test_a_commitment_is_signed_to_an_authority_the_letter_allows_and_confirmed(person: Person, auth: Any) -> None:
    authority = auth.provider("ADMINISTRATIVE_LICENCE", "CREDIT_COMMITMENT_BREACH")
    silent = auth.provider("ADMINISTRATIVE_LICENCE")  # records no broken commitments: not offered
    listing = person.client.get("/me/commitments").get_data(as_text=True)
    assert "你还没有签署信用承诺" in listing
    assert "/me/commitments/sign/administrative_approval" in listing
    form = person.client.get("/me/commitments/sign/administrative_approval").get_data(as_text=True)
    assert f'value="{authority.client_id}"' in form
    assert f'value="{silent.client_id}"' not in form
    base = {"csrf_token": person.csrf, "accepting_body": authority.client_id, "details": "食品经营许可"}
    unticked = person.client.post("/me/commitments/sign/administrative_approval", data=base)
    assert unticked.status_code == 422
    assert "请勾选后再签署" in unticked.get_data(as_text=True)
    wrong = person.client.post("/me/commitments/sign/administrative_approval",
                               data={**base, "accepting_body": silent.client_id, "promise": "yes"})
    assert wrong.status_code == 422
    assert 'id="accepting_body-error"' in wrong.get_data(as_text=True)
    assert "你还没有签署信用承诺" in person.client.get("/me/commitments").get_data(as_text=True)  # nothing signed
    done = person.client.post("/me/commitments/sign/administrative_approval", data={**base, "promise": "yes"})
    assert done.status_code == 302
    page = person.client.get(done.headers["Location"]).get_data(as_text=True)
    assert "已签署" in page
    assert "食品经营许可" in page
    assert "已签署，履行中" in page
    assert "已签署，履行中" in person.client.get("/me/commitments").get_data(as_text=True)


def test_an_unknown_letter_or_someone_elses_commitment_sends_back_with_a_message(person: Person) -> None:
    gone = person.client.get("/me/commitments/sign/nothing")
    assert gone.headers["Location"] == "/me/commitments"
    assert "没有这份承诺书" in person.client.get("/me/commitments").get_data(as_text=True)
    missing = person.client.get("/me/commitments/00000000-0000-0000-0000-000000000000")
    assert missing.headers["Location"] == "/me/commitments"
    assert "没有这项承诺" in person.client.get("/me/commitments").get_data(as_text=True)


def test_a_letter_that_needs_a_due_date_is_refused_without_one_beside_the_date(person: Person, auth: Any) -> None:
    authority = auth.provider("ADMINISTRATIVE_LICENCE", "CREDIT_COMMITMENT_BREACH")
    form = person.client.get("/me/commitments/sign/tolerated_acceptance").get_data(as_text=True)
    assert 'id="due_date"' in form
    refused = person.client.post("/me/commitments/sign/tolerated_acceptance", data={
        "csrf_token": person.csrf, "accepting_body": authority.client_id, "promise": "yes", "due_date": ""})
    assert refused.status_code == 422
    assert 'id="due_date-error"' in refused.get_data(as_text=True)
    assert "你还没有签署信用承诺" in person.client.get("/me/commitments").get_data(as_text=True)


def test_details_a_breach_record_could_not_hold_are_refused_beside_the_details(person: Person, auth: Any) -> None:
    # The form reaches the use case past any API schema: the consent context's check refuses them (broken, the
    # details become the breach record's "what was promised", which holds nothing hidden).
    authority = auth.provider("ADMINISTRATIVE_LICENCE", "CREDIT_COMMITMENT_BREACH")
    refused = person.client.post("/me/commitments/sign/administrative_approval", data={
        "csrf_token": person.csrf, "accepting_body": authority.client_id, "promise": "yes",
        "details": "食品经营\u202e许可"})
    assert refused.status_code == 422  # (the form has no message of its own beside the details yet)
    assert "你还没有签署信用承诺" in person.client.get("/me/commitments").get_data(as_text=True)
