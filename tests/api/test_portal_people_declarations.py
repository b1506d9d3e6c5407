"""Voluntary registration (自愿注册) through the people's forms: the categories open, a form built from the
catalogue's fields, the truthfulness commitment box, entry-rule refusals beside the field (VOL-1, DATA-7)."""

from __future__ import annotations

from tests.conftest import Person

FORM = "/me/declarations/new/VOLUNTEER_SERVICE"


def _hours(person: Person, **changes: str) -> dict[str, str]:
    return {"csrf_token": person.csrf, "payload.organisation": "常州市青年志愿者协会", "payload.service_hours": "120",
            "payload.period_start": "2026-01-01", "payload.period_end": "2026-06-30", "promise": "yes", **changes}


def test_volunteer_service_is_declared_with_the_commitment_and_listed_as_being_checked(person: Person) -> None:
    listing = person.client.get("/me/declarations").get_data(as_text=True)
    assert FORM in listing
    assert "你还没有申报任何信息" in listing
    form = person.client.get(FORM).get_data(as_text=True)
    assert 'name="payload.organisation"' in form
    assert "志愿服务组织" in form
    assert 'type="date"' in form
    assert "本人承诺所申报信息真实" in form
    done = person.client.post(FORM, data=_hours(person))
    assert done.status_code == 302
    page = person.client.get("/me/declarations").get_data(as_text=True)
    assert "已申报" in page
    assert "待核实" in page
    assert "常州市青年志愿者协会" in page
    again = person.client.post(FORM, data=_hours(person))
    assert again.status_code == 422
    assert "已经申报过" in again.get_data(as_text=True)


def test_a_declaration_without_the_box_or_breaking_an_entry_rule_shows_the_reason_beside_the_field(
        person: Person) -> None:
    unticked = person.client.post(FORM, data=_hours(person, promise=""))
    assert unticked.status_code == 422
    assert 'id="promise-error"' in unticked.get_data(as_text=True)
    missing = person.client.post(FORM, data=_hours(person, **{"payload.organisation": ""}))
    assert missing.status_code == 422
    assert 'id="payload-organisation-error"' in missing.get_data(as_text=True)
    assert "请填写此项" in missing.get_data(as_text=True)  # in words, not the API's "missing required field"
    future = person.client.post(FORM, data=_hours(person, **{"payload.period_end": "2099-01-01"}))
    assert future.status_code == 422
    assert 'id="payload-period_end-error"' in future.get_data(as_text=True)
    assert "该日期晚于今天" in future.get_data(as_text=True)
    assert "China Standard Time" not in future.get_data(as_text=True)
    assert "你还没有申报任何信息" in person.client.get("/me/declarations").get_data(as_text=True)


def test_a_category_not_open_to_declaring_sends_back_with_a_message(person: Person) -> None:
    gone = person.client.get("/me/declarations/new/ADMINISTRATIVE_PENALTY_GENERAL")
    assert gone.headers["Location"] == "/me/declarations"
    assert "该类信息不能自行申报" in person.client.get("/me/declarations").get_data(as_text=True)
