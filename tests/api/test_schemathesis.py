"""Schemathesis over every operation of the API with every check it has.

Each operation is run through schemathesis' own phases (the schema's examples, coverage of boundaries and
missing or unsupported parts, then fuzzing) in-process (WSGI), with the credentials of the role that may
call it, and every built-in check: server errors, statuses, content types, headers and bodies the
description does not allow, valid data refused, invalid data accepted, authentication ignored, methods the
description does not list. A check that cannot hold for a reason of the API's own is left out for that
operation only, with the reason beside it (EXCLUDED).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS as REGISTRY
from schemathesis.checks import load_all_checks
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test
from schemathesis.generation.overrides import Override
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import Engine

from gateway.runtime import Runtime
from tests.conftest import Auth, People, Person, Registered, penalty

SPEC_URL = "/api/v1/openapi.json"

# A cursor is opaque (only one this server gave out), a person is a valid ID, `since` and `until` lie between
# 1970 and 9998 (a range JSON Schema cannot put on a date-time) and `until` follows `since`; an export
# (`format` jsonl or csv) has every matching entry, so it takes no `limit` or `cursor`.
_AUDIT_FILTERS = {("invalid_input", "cursor"), ("invalid_input", "limit"), ("invalid_input", "since"),
                  ("invalid_input", "until"), ("invalid_citizen_id", "person"), ("invalid_input", "person")}
# Refusals of schema-valid requests that are right, by operation: what the description cannot say (a check
# character, what the catalogue holds, what exists or what the server gave out), as (problem code, field).
RIGHTLY_REFUSED: dict[str, set[tuple[str, str]]] = {
    # The ID's check character, birth date and division code; the catalogue's codes and each one's fields.
    "POST /api/v1/records": {("invalid_citizen_id", "citizen_id"), ("unknown_category", "category"),
                             ("invalid_field", "payload"), ("invalid_field", "document"),
                             ("invalid_field", "decided_at")},
    # A change of a record's end rests on a document of a type its category lists, and the new end follows the
    # record's own dates and the category's ceiling (consent/data/catalogue.json).
    "POST /api/v1/records/{record_id}/extend": {("invalid_field", "document"), ("invalid_field", "display_until")},
    "POST /api/v1/records/{record_id}/end": {("invalid_field", "document"), ("invalid_field", "display_until")},
    # A correction is checked against the catalogue and the entry rules like a new record.
    "POST /api/v1/records/{record_id}/corrections": {("invalid_field", "payload"), ("invalid_field", "document"),
                                                     ("invalid_field", "decided_at")},
    # Evidence is checked by its bytes (PDF, JPEG or PNG, none empty); a correction goes only with the outcome
    # `corrected` (rules across fields and inside files that the description cannot state).
    "POST /api/v1/me/objections": {("invalid_input", "evidence")},
    "POST /api/v1/objections/{objection_id}/decide": {("invalid_input", "correction")},
    # Whether a record may be repaired yet is the catalogue's; methods are the published list's codes; evidence
    # as for objections; an effect goes only with the outcome `repaired`.
    "POST /api/v1/me/repairs": {("not_repairable", "record_id"), ("too_early", "record_id"),
                                ("invalid_input", "methods"), ("invalid_input", "evidence")},
    "POST /api/v1/repairs/{repair_id}/decide": {("invalid_input", "effect")},
    # Measures are the published list's codes (GET /api/v1/list-rules); a listing rests on a record of the right
    # kind; evidence as for objections.
    "POST /api/v1/listings": {("invalid_input", "measures"), ("invalid_input", "record_id")},
    "POST /api/v1/me/listings/{listing_id}/objection": {("invalid_input", "evidence")},
    # Which categories are open to declaration and each one's fields are the data's and the catalogue's;
    # evidence as for objections.
    "POST /api/v1/me/declarations": {("not_declarable", "category"), ("invalid_field", "payload"),
                                     ("invalid_input", "evidence"), ("invalid_evidence", "evidence")},
    # The templates, which body each allows (a registered client of a role) and its due date are the data's.
    "POST /api/v1/me/commitments": {("invalid_input", "template"), ("invalid_input", "accepting_body"),
                                    ("invalid_input", "due_date")},
    # How a commitment was broken goes only with the outcome `breached`.
    "POST /api/v1/commitments/{commitment_id}/outcome": {("invalid_input", "breach")},
    # The ID's check character; the activation code the counter handed out.
    "POST /api/v1/subjects/activate": {("invalid_citizen_id", "citizen_id")},
    # The ID's check character; the registered purposes, the categories each needs, its ceilings.
    "POST /api/v1/consent-requests": {("invalid_citizen_id", "citizen_id"), ("unknown_purpose", "purpose"),
                                      ("categories_outside_purpose", "categories"), ("ceiling_exceeded", "")},
    # Only categories the request asked for, validity up to what it asked for.
    "POST /api/v1/me/consent-requests/{request_id}/approve": {("invalid_input", "categories"),
                                                             ("invalid_input", "valid_for")},
    "GET /api/v1/audit/entries": _AUDIT_FILTERS,
    "POST /api/v1/audit/entries/search": _AUDIT_FILTERS,
    "GET /api/v1/audit/anomalies": {("invalid_input", "since"), ("invalid_input", "until")},  # as above
    # Proofs exist only for the tree the log has grown: an index below its size, first at most second.
    "GET /api/v1/audit/proof/inclusion": {("invalid_input", "index"), ("invalid_input", "tree_size")},
    "GET /api/v1/audit/proof/consistency": {("invalid_input", "first"), ("invalid_input", "second")},
}


def positive_data_acceptance_but_what_is_rightly_refused(ctx: Any, response: Any, case: Any) -> bool | None:
    """positive_data_acceptance, except for a refusal in RIGHTLY_REFUSED, or an OAuth error for credentials.

    The token and revocation endpoints refuse well-formed requests whose client, code or token they do not
    know with RFC 6749 §5.2 errors (400 or 401 with an `error`, RFC 7009 §2.2.1); the description cannot know
    which exist.
    """
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        body = _json(response)
        oauth = case.operation.label in ("POST /oauth/token", "POST /oauth/revoke")
        if oauth and response.status_code in (400, 401) and "error" in body:
            return None
        field = str(body.get("field", ""))
        if field == "max_uses" and isinstance((case.body or {}).get("max_uses"), float):
            return None  # JSON Schema counts 2.0 as an integer; the API takes whole numbers written as such
        for code, prefix in RIGHTLY_REFUSED.get(case.operation.label, set()):
            if response.status_code == 422 and body.get("code") == code and field.startswith(prefix):
                return None
        raise


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


load_all_checks()
# Every check schemathesis has (max_response_time is a setting, not a check: speed is measured in bench/).
CHECKS = [check for check in REGISTRY.get_all() if check is not positive_data_acceptance]
CHECKS.append(positive_data_acceptance_but_what_is_rightly_refused)


@dataclass
class World:
    """Something for every operation to find, and a caller of each role."""

    provider: Registered
    employer: Registered
    auditor: Registered
    person: Person
    ids: dict[str, str]  # by path parameter, or by operation where it needs one of its own
    lister: Registered  # a county-level agency: lists need one (LIST-6)

    def credentials(self, label: str) -> dict[str, dict[str, str]]:
        """Return the headers and cookies of the role that may call the operation `label`."""
        path = label.split()[1]
        if path.startswith(("/api/v1/records", "/api/v1/objections", "/api/v1/repairs", "/api/v1/declarations",
                            "/api/v1/commitments")):  # the producing, verifying or accepting agency
            return {"headers": self.provider.headers}
        if path.startswith("/api/v1/listings"):
            return {"headers": self.lister.headers}
        if path.startswith(("/api/v1/consent-requests", "/api/v1/consents", "/api/v1/queries", "/api/v1/reports",
                            "/api/v1/notices")):
            return {"headers": self.employer.headers}
        if path.startswith("/api/v1/audit/"):
            return {"headers": self.auditor.headers}
        if path.startswith("/api/v1/me/"):
            cookie = self.person.client.get_cookie("xinyong_session")
            assert cookie is not None
            return {"headers": {"X-CSRF-Token": self.person.csrf}, "cookies": {"xinyong_session": cookie.value}}
        return {}

    def existing(self, operation: Any) -> dict[str, str]:
        """Return path parameters naming things that exist and that the caller may reach."""
        names = re.findall(r"\{(\w+)\}", operation.path)
        return {name: self.ids.get(operation.label, self.ids[name]) for name in names}


def world_objection(person: Person, record_id: str) -> str:
    """Return the id of the person's objection to one of their records."""
    made = person.post("/api/v1/me/objections", {"record_id": record_id, "reason": "not me"})
    assert made.status_code == 201, made.json
    return str(made.json["id"])


def world_repair(person: Person, record_id: str) -> str:
    """Return the id of the person's repair application for one of their records."""
    made = person.post("/api/v1/me/repairs", {"record_id": record_id, "methods": ["performance"],
                                              "statement": "paid", "commitment": {"text": "I will", "accepted": True}})
    assert made.status_code == 201, made.json
    return str(made.json["id"])


def world_listing(client: FlaskClient, lister: Registered, person: Person) -> str:
    """Return the id of a black listing proposed by a county agency on its own serious record of the person."""
    body = penalty(person.citizen_id, date(2025, 7, 1), category="ADMINISTRATIVE_PENALTY_SERIOUS")
    record = client.post("/api/v1/records", json=body, headers=lister.headers)
    assert record.status_code == 201, record.json
    made = client.post("/api/v1/listings", headers=lister.headers, json={
        "record_id": record.json["id"], "list": "black", "reason": "serious", "basis": "law",  # type: ignore[index]
        "measures": ["restrict_flights"]})
    assert made.status_code == 201, made.json
    return str(made.json["id"])  # type: ignore[index]


def world_declaration(person: Person) -> str:
    """Return the id of the person's declaration of volunteer service, waiting for verification."""
    made = person.post("/api/v1/me/declarations", {
        "category": "VOLUNTEER_SERVICE", "commitment": {"text": "true", "accepted": True},
        "payload": {"organisation": "volunteers", "service_hours": "12", "period_start": "2026-01-10",
                    "period_end": "2026-09-30"}})
    assert made.status_code == 201, made.json
    return str(made.json["id"])


def world_commitment(person: Person, body: Registered) -> str:
    """Return the id of the person's onboarding commitment to `body`, pending."""
    made = person.post("/api/v1/me/commitments", {"template": "onboarding", "accepting_body": body.client_id,
                                                  "accepted": True})
    assert made.status_code == 201, made.json
    return str(made.json["id"])


@pytest.fixture
def world(client: FlaskClient, app: Flask, rt: Runtime, auth: Auth, people: People) -> World:
    provider, employer, auditor = auth.provider(), auth.register("institution", kind="employer"), \
        auth.register("auditor")
    person = Person(app, rt, people.new())
    records = [client.post("/api/v1/records", json=body, headers=provider.headers).json["id"]  # type: ignore[index]
               for body in (penalty(person.citizen_id),
                            penalty(person.citizen_id, category="ADMINISTRATIVE_PENALTY_SERIOUS"),
                            # repairable from 1 June 2026
                            penalty(person.citizen_id, date(2025, 6, 1), category="ADMINISTRATIVE_PENALTY_SERIOUS"))]

    def ask() -> str:
        body = {"citizen_id": person.citizen_id, "purpose": "employment_screening", "reason": "hiring",
                "valid_for": "P7D", "max_uses": 2}
        made = client.post("/api/v1/consent-requests", json=body, headers=employer.headers)
        assert made.status_code == 201, made.json
        return str(made.json["id"])  # type: ignore[index]

    granted, to_approve, to_deny = ask(), ask(), ask()
    consent = person.approve(granted)["id"]
    report = client.post("/api/v1/queries", json={"consent_id": consent}, headers=employer.headers)
    assert report.status_code == 201, report.json
    objected = world_objection(person, records[1])
    repair = world_repair(person, records[2])
    lister = auth.provider("ADMINISTRATIVE_PENALTY_SERIOUS", level="county")
    listing = world_listing(client, lister, person)
    ids = {"objection_id": objected, "repair_id": repair, "record_id": records[0], "request_id": granted,
           "listing_id": listing,
           "declaration_id": world_declaration(person), "commitment_id": world_commitment(person, provider),
           "consent_id": consent, "client_id": "xinyong-app",
           "report_id": report.json["report"]["report_id"],  # type: ignore[index]
           "POST /api/v1/me/consent-requests/{request_id}/approve": to_approve,
           "POST /api/v1/me/consent-requests/{request_id}/deny": to_deny}
    return World(provider, employer, auditor, person, ids, lister)


@pytest.fixture
def api(app: Flask, engine: Engine) -> Any:
    if engine.dialect.name != "sqlite":
        pytest.skip("schemathesis runs on SQLite only: it is slow, and tests/api covers PostgreSQL")
    # Our fixtures supply real credentials; random ones would only ever reach the 401 branch.
    config = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})
    return schemathesis.openapi.from_wsgi(SPEC_URL, app, config=config)


LABELS = [
    "POST /api/v1/records", "POST /api/v1/records/{record_id}/revoke", "POST /api/v1/records/{record_id}/extend",
    "POST /api/v1/records/{record_id}/end", "GET /api/v1/catalogue",
    "POST /api/v1/subjects/activate", "GET /api/v1/me/report", "GET /api/v1/me/report/signed",
    "GET /api/v1/me/access-log", "GET /api/v1/purposes", "POST /api/v1/consent-requests",
    "GET /api/v1/consent-requests/{request_id}", "GET /api/v1/consents/{consent_id}/receipt", "POST /api/v1/queries",
    "GET /api/v1/reports/{report_id}", "GET /api/v1/me/consent-requests",
    "POST /api/v1/me/consent-requests/{request_id}/approve", "POST /api/v1/me/consent-requests/{request_id}/deny",
    "GET /api/v1/me/consents", "GET /api/v1/me/consents/{consent_id}", "DELETE /api/v1/me/consents/{consent_id}",
    "GET /api/v1/audit/entries", "POST /api/v1/audit/entries/search", "GET /api/v1/audit/anomalies",
    "GET /api/v1/audit/tree-head", "GET /api/v1/audit/proof/inclusion", "GET /api/v1/audit/proof/consistency",
    "GET /api/v1/me/apps", "DELETE /api/v1/me/apps/{client_id}", "POST /oauth/token", "POST /oauth/revoke",
    "GET /api/v1/objection-rules", "POST /api/v1/me/objections", "GET /api/v1/me/objections",
    "GET /api/v1/me/objections/{objection_id}", "GET /api/v1/objections", "GET /api/v1/objections/{objection_id}",
    "POST /api/v1/objections/{objection_id}/accept", "POST /api/v1/objections/{objection_id}/refuse",
    "POST /api/v1/objections/{objection_id}/decide",
    "GET /api/v1/me/freeze", "PUT /api/v1/me/freeze", "DELETE /api/v1/me/freeze",
    "POST /api/v1/records/{record_id}/corrections", "GET /api/v1/notices", "GET /api/v1/me/notifications",
    "POST /api/v1/me/notifications/read",
    "GET /api/v1/repair-rules", "GET /api/v1/evaluation-rules", "POST /api/v1/me/repairs", "GET /api/v1/me/repairs",
    "GET /api/v1/me/repairs/{repair_id}", "GET /api/v1/repairs", "GET /api/v1/repairs/{repair_id}",
    "POST /api/v1/repairs/{repair_id}/decide",
    "GET /api/v1/me/report/pdf", "GET /api/v1/reports/{report_id}/pdf", "POST /api/v1/verify",
    "GET /api/v1/list-rules", "POST /api/v1/listings", "GET /api/v1/listings",
    "POST /api/v1/listings/{listing_id}/end", "GET /api/v1/me/listings", "GET /api/v1/me/listings/{listing_id}",
    "POST /api/v1/me/listings/{listing_id}/objection",
    "GET /api/v1/declaration-rules", "POST /api/v1/me/declarations", "GET /api/v1/me/declarations",
    "GET /api/v1/me/declarations/{declaration_id}", "GET /api/v1/declarations",
    "GET /api/v1/declarations/{declaration_id}", "POST /api/v1/declarations/{declaration_id}/verify",
    "GET /api/v1/commitment-templates", "POST /api/v1/me/commitments", "GET /api/v1/me/commitments",
    "GET /api/v1/me/commitments/{commitment_id}", "GET /api/v1/commitments",
    "GET /api/v1/commitments/{commitment_id}", "POST /api/v1/commitments/{commitment_id}/outcome",
]


CASES = [(label, False) for label in LABELS] + [(label, True) for label in LABELS if "{" in label]


def test_every_operation_is_run(spec_labels: list[str]) -> None:
    assert sorted(LABELS) == sorted(spec_labels)


@pytest.fixture
def spec_labels(client: FlaskClient) -> list[str]:
    spec = client.get(SPEC_URL).json
    return [f"{method.upper()} {path}" for path, item in spec["paths"].items()  # type: ignore[index]
            for method in item if method != "parameters"]


def authenticate(api: Any, credentials: Callable[[str], dict[str, dict[str, str]]]) -> None:
    """Give every case the credentials of its operation's role through schemathesis' own auth.

    Then schemathesis knows they are real (and unchanged across cases: no caching), and ignored_auth checks
    that the operation refuses the same request without them or with invalid ones.
    """

    class Credentials:
        def get(self, case: Any, _context: Any) -> dict[str, dict[str, str]] | None:
            return credentials(case.operation.label) or None

        def set(self, case: Any, data: dict[str, dict[str, str]], _context: Any) -> None:
            case.headers = {**(case.headers or {}), **data.get("headers", {})}
            case.cookies = {**(case.cookies or {}), **data.get("cookies", {})}

    api.auth(refresh_interval=None)(Credentials)


@pytest.mark.parametrize(("label", "existing"), CASES,
                         ids=[f"{label}{' (existing)' if existing else ''}" for label, existing in CASES])
def test_every_operation_passes_every_check(label: str, existing: bool, api: Any, world: World) -> None:
    """Run schemathesis' phases on the operation; with `existing`, its path names something that exists."""
    operation = api.find_operation_by_label(label)
    assert operation is not None
    authenticate(api, world.credentials)

    def check(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    pinned = Override(path_parameters=world.existing(operation)) if existing else Override()
    # What schemathesis' pytest plugin builds for each operation (examples, coverage, fuzzing); the plugin itself
    # (schemathesis.pytest.from_fixture) cannot run under pytest 9, whose nodes have no `_nodeid` to rename.
    test = create_test(operation=operation, test_func=check, config=HypothesisTestConfig(
        project=api.config, modes=list(HypothesisTestMode), override=pinned,
        settings=settings(max_examples=15, deadline=None, derandomize=True, database=None,
                          suppress_health_check=list(HealthCheck))))
    test()
