"""An institution's desk: its requests newest first with the grants they led to, and its reports."""

from __future__ import annotations

from flask.testing import FlaskClient

from audit.clock import FrozenClock
from gateway.runtime import Runtime
from gateway.usecases import consents
from tests.conftest import People, Person, Registered


def _ask(client: FlaskClient, institution: Registered, citizen_id: str) -> str:
    made = client.post("/api/v1/consent-requests", headers=institution.headers, json={
        "citizen_id": citizen_id, "purpose": "employment_screening", "reason": "会计岗位应聘", "valid_for": "P7D"})
    assert made.status_code == 201, made.json
    return str(made.json["id"])  # type: ignore[index]


def test_the_desk_lists_requests_with_their_grants_and_reports_but_not_another_institution_s(
        rt: Runtime, client: FlaskClient, clock: FrozenClock, employer: Registered, person: Person,
        people: People) -> None:
    first = _ask(client, employer, person.citizen_id)
    clock.advance(minutes=1)
    second = _ask(client, employer, people.new())
    grant = person.approve(first)["id"]
    report = client.post("/api/v1/queries", headers=employer.headers, json={"consent_id": grant})
    assert report.status_code == 201
    desk = consents.institution_desk(rt.uow, employer.client_id)
    assert [(r.id, r.status) for r in desk.requests] == [(second, "pending"), (first, "approved")]
    assert desk.grants[grant].uses == 1
    assert [(r.grant_id, r.available) for r in desk.reports] == [(grant, True)]
    assert consents.institution_desk(rt.uow, "inst_other") == consents.InstitutionDesk([], {}, [])
