"""The demo tells a story: each person is there for a reason, with records shown today; seeding is decided by
the database, so a re-run changes nothing and a reset database gets fresh, working logins."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from audit.clock import CST
from gateway import demo
from gateway.models import Client
from gateway.runtime import Runtime
from gateway.usecases import consents, people
from vault.models import Record

PEOPLE = len(demo.SCENARIOS) + 2


def _ref(rt: Runtime, login: dict[str, str]) -> str:
    return rt.vault.subject_ref(login["citizen_id"])


def _report(rt: Runtime, login: dict[str, str]) -> dict[str, Any]:
    return people.self_report(rt, _ref(rt, login), None)


def _count(rt: Runtime, model: Any) -> int:
    with rt.sessions() as session, session.begin():
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


@pytest.fixture
def seeded(rt: Runtime) -> dict[str, Any]:
    return demo.seed(rt, PEOPLE)


def test_every_demo_person_has_records_shown_today_and_says_what_their_login_shows(
    rt: Runtime, seeded: dict[str, Any]
) -> None:
    today = rt.clock.now().astimezone(CST).date()
    assert len(seeded["people"]) == PEOPLE
    for login in seeded["people"]:
        assert login["shows"]
        records = _report(rt, login)["records"]
        assert records, login["shows"]
        for record in records:
            assert date.fromisoformat(record["decided_at"]) <= today
            assert record["display_until"] is None or date.fromisoformat(record["display_until"]) > today


def test_an_ordinary_demo_persons_records_are_what_an_institution_with_consent_sees(
    rt: Runtime, seeded: dict[str, Any]
) -> None:
    # Filed on time and inside their period: nothing is held back from third parties but by the rules.
    for login in seeded["people"][len(demo.SCENARIOS):]:
        assert all(r["visible_to_third_parties"] for r in _report(rt, login)["records"])


def test_the_first_person_has_a_request_waiting_and_the_employer_sees_her_records_once_she_approves(
    rt: Runtime, seeded: dict[str, Any]
) -> None:
    first = seeded["people"][0]
    ref = _ref(rt, first)
    [pending] = [v for v in consents.my_requests(rt.uow, ref).views if v.status == "pending"]
    grant = consents.approve(rt.uow, rt.vault, rt.policy, consents.Answer(ref, pending.id)).views[0]
    employer = next(c for c in seeded["institutions"] if c["kind"] == "employer")
    report = consents.serve_query(rt.uow, rt.vault, rt.policy, consents.Query(employer["client_id"], grant.id))
    assert {r["category"] for r in report.report["records"]} == {"ADMINISTRATIVE_PENALTY_SERIOUS",
                                                                 "CREDIT_COMMITMENT_BREACH"}


def test_the_scenarios_leave_what_they_say(rt: Runtime, seeded: dict[str, Any]) -> None:
    queried, objecting, repaired, good, listed = (_report(rt, p) for p in seeded["people"][1:6])
    assert [q["outcome"] for q in queried["queries"]] == ["allowed"]
    corrected = [r for r in queried["records"] if r.get("superseded_by")]
    assert len(corrected) == 1
    assert corrected[0]["institutions_told"]
    assert any(r.get("objection", {}).get("status") == "submitted" for r in objecting["records"])
    assert any("repaired" in r and not r["visible_to_third_parties"] for r in repaired["records"])
    assert {r["polarity"] for r in good["records"]} == {"positive"}
    assert [(x["list"], x["status"]) for x in listed["listings"]] == [("black", "proposed")]


def test_seeding_again_prints_the_same_logins_and_changes_nothing(rt: Runtime, seeded: dict[str, Any]) -> None:
    counts = (_count(rt, Client), _count(rt, Record))
    assert demo.seed(rt, PEOPLE) == seeded
    assert (_count(rt, Client), _count(rt, Record)) == counts


def test_after_a_database_reset_the_stale_logins_file_is_replaced_by_working_logins(rt: Runtime) -> None:
    stale = {"people": [{"citizen_id": "110105194912310029", "name": "旧", "password": "dead", "shows": ""}],
             "providers": [{"client_id": "prov_gone"}], "institutions": [], "auditor": {"client_id": "aud_gone"}}
    path = rt.settings.home / demo.LOGINS_FILE
    path.write_text(json.dumps(stale))
    fresh = demo.seed(rt, 2)
    assert fresh != stale
    assert json.loads(path.read_text()) == fresh
    assert path.stat().st_mode & 0o777 == 0o600
    with rt.sessions() as session, session.begin():
        known = set(session.execute(select(Client.client_id)).scalars())
    assert {c["client_id"] for c in fresh["providers"]} <= known
    login = fresh["people"][0]
    assert people.login(rt, login["citizen_id"], login["password"], "127.0.0.1").subject_ref == _ref(rt, login)


def test_a_database_with_demo_data_but_without_its_logins_is_refused_not_reseeded(
    rt: Runtime, seeded: dict[str, Any]
) -> None:
    (rt.settings.home / demo.LOGINS_FILE).unlink()
    counts = (_count(rt, Client), _count(rt, Record))
    with pytest.raises(demo.DemoMismatch, match="does not hold its logins"):
        demo.seed(rt, PEOPLE)
    assert (_count(rt, Client), _count(rt, Record)) == counts


def test_the_demo_has_one_member_of_staff_for_an_institution_an_agency_and_the_auditor_who_can_enrol(
    rt: Runtime, seeded: dict[str, Any]
) -> None:
    from gateway.usecases import staff

    members = seeded["staff"]
    roles = {}
    for member in members:
        [view] = [v for v in staff.list_staff(rt, member["org_id"]) if v.staff_id == member["staff_id"]]
        assert view.name == member["name"]
        with rt.sessions() as session, session.begin():
            roles[member["staff_id"]] = session.get(Client, member["org_id"]).role  # type: ignore[union-attr]
    assert sorted(roles.values()) == ["auditor", "institution", "provider"]
    first = members[0]
    enrolling = staff.start_enrolment(rt, first["staff_id"], first["enrolment_code"], "a demo passphrase, long",
                                      "127.0.0.1")
    assert enrolling.staff_id == first["staff_id"]
    text = demo.describe(seeded)
    assert all(m["staff_id"] in text and m["enrolment_code"] in text for m in members)
    assert "/staff/login" in text


def test_seeding_again_keeps_the_same_staff(rt: Runtime, seeded: dict[str, Any]) -> None:
    from gateway.models import Staff

    count = _count(rt, Staff)
    assert demo.seed(rt, PEOPLE)["staff"] == seeded["staff"]
    assert _count(rt, Staff) == count == 3
