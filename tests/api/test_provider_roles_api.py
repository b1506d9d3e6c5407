"""POST /api/v1/records checks the provider's agency role and level again (谁主管、谁认定、谁负责, DET-4; LIST-6)."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select, update

from audit.entries import AuditEntry
from gateway.models import Client
from gateway.runtime import Runtime
from tests.conftest import Auth, People, penalty
from tests.consent.test_provider_roles import listing

COURT = "COURT_ENFORCEMENT_DEFAULT"
LIST = "SERIOUS_DISHONESTY_LIST"


def _set_row(rt: Runtime, client_id: str, **values: object) -> None:
    # As a provider registered before roles were checked, or under an older catalogue, would be stored.
    with rt.sessions() as session, session.begin():
        session.execute(update(Client).where(Client.client_id == client_id).values(**values))


def _list_body(citizen_id: str) -> dict[str, object]:
    record = listing(citizen_id)
    assert record.document is not None
    return {"citizen_id": citizen_id, "name": record.name, "category": LIST,
            "decided_at": record.decided_at.isoformat(),
            "document": {"type": record.document.type, "number": record.document.number,
                         "authority": record.document.authority,
                         "effective_at": record.document.effective_at.isoformat()},
            "payload": record.payload}


def test_a_tax_office_submitting_a_courts_default_is_refused_403_and_audited(
    client: FlaskClient, auth: Auth, people: People, rt: Runtime
) -> None:
    tax = auth.provider("TAX_ARREARS")
    _set_row(rt, tax.client_id, categories=["TAX_ARREARS", COURT])
    response = client.post("/api/v1/records", json=penalty(people.new(), category=COURT), headers=tax.headers)
    assert response.status_code == 403
    assert response.json["code"] == "category_not_allowed"
    assert COURT in response.json["detail"]
    assert "tax" in response.json["detail"]
    with rt.sessions() as session, session.begin():
        denied = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
    assert (denied.action, denied.outcome) == ("vault:record:ingest-denied", "denied")


def test_a_list_is_accepted_from_a_county_agency_and_refused_from_a_township_one(
    client: FlaskClient, auth: Auth, people: People, rt: Runtime
) -> None:
    county = auth.provider(LIST, level="county")
    accepted = client.post("/api/v1/records", json=_list_body(people.new()), headers=county.headers)
    assert accepted.status_code == 201, accepted.json
    township = auth.provider("ADMINISTRATIVE_PENALTY_GENERAL", level="township")
    _set_row(rt, township.client_id, categories=["ADMINISTRATIVE_PENALTY_GENERAL", LIST])
    refused = client.post("/api/v1/records", json=_list_body(people.new()), headers=township.headers)
    assert refused.status_code == 403
    assert refused.json["code"] == "category_not_allowed"
    assert "county or above" in refused.json["detail"]


def test_the_public_catalogue_publishes_roles_and_levels(client: FlaskClient) -> None:
    body = client.get("/api/v1/catalogue").json
    court = next(role for role in body["provider_roles"] if role["code"] == "court")
    assert court["administrative"] is False
    assert court["reason"]
    assert [level["code"] for level in body["agency_levels"]] == ["township", "county", "city", "province", "national"]
    listed = next(c for c in body["categories"] if c["code"] == LIST)
    assert listed["min_provider_level"] == "county"
