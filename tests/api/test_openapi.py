"""The OpenAPI 3.1 description: what it promises, and schemathesis checking the app keeps those promises.

The description is generated from the marshmallow schemas by flask-smorest and served at
/api/v1/openapi.json. Schemathesis fuzzes the records and people operations in-process (WSGI)
with a real provider token and a real person's session, with every check schemathesis has
(tests/api/test_schemathesis.py runs its phases over every operation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import ignored_auth
from sqlalchemy import Engine

from gateway.runtime import Runtime
from gateway.usecases import people as people_use
from tests.api.test_schemathesis import CHECKS, authenticate
from tests.conftest import Auth, People, Registered, penalty

SPEC_URL = "/api/v1/openapi.json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PASSWORD = "correct horse battery"
# The error statuses each operation must document besides 5XX (400 and 413 wherever there is a body).
ERRORS = {
    "POST /api/v1/records": {400, 401, 403, 409, 413, 422},
    "POST /api/v1/records/{record_id}/revoke": {400, 401, 403, 404, 409, 413, 422},
    "GET /api/v1/catalogue": set(),
    "POST /api/v1/subjects/activate": {400, 401, 413, 422, 429},
    "GET /api/v1/me/report": {401, 403, 404, 410},
    "DELETE /api/v1/me/apps/{client_id}": {401, 403, 404},
}
SUCCESS = {
    "POST /api/v1/records": ("201", "RecordOut"),
    "POST /api/v1/records/{record_id}/revoke": ("200", "RecordOut"),
    "GET /api/v1/catalogue": ("200", "CatalogueOut"),
    "POST /api/v1/subjects/activate": ("200", "ActivateOut"),
    "GET /api/v1/me/report": ("200", "SelfReportOut"),
    "DELETE /api/v1/me/apps/{client_id}": ("200", "AppRevokedOut"),
}
FUZZED = [*SUCCESS, "GET /api/v1/me/report/signed", "GET /api/v1/me/apps"]


def _operations(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{method.upper()} {path}": op for path, item in spec["paths"].items()
            for method, op in item.items() if method != "parameters"}


def _component(spec: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec["components"]["schemas"][name]
    return schema


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    response = client.get(SPEC_URL)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body


# --- what the description says ------------------------------------------------------------------


def test_the_description_is_openapi_3_1(spec: dict[str, Any]) -> None:
    assert re.fullmatch(r"3\.1\.\d+", spec["openapi"])
    assert spec["info"]["title"] == "Xinyong"


def test_every_api_route_and_the_token_endpoint_are_described(app: Flask, spec: dict[str, Any]) -> None:
    described = set(_operations(spec))
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api/v1/") or rule.rule in ("/oauth/token", "/oauth/revoke")) \
                or rule.rule == SPEC_URL:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            assert f"{method} {path}" in described
    assert set(SUCCESS) <= described


@pytest.mark.parametrize("label", sorted(SUCCESS))
def test_each_operation_documents_its_success_and_its_problems(spec: dict[str, Any], label: str) -> None:
    responses = _operations(spec)[label]["responses"]
    status, schema = SUCCESS[label]
    assert responses[status]["content"] == {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    errors = {int(code) for code in responses if code[0] in "45" and code != "5XX"}
    assert errors == ERRORS[label]
    assert "default" not in responses
    assert "5XX" in responses


def test_every_api_error_is_problem_json(spec: dict[str, Any]) -> None:
    for label, op in _operations(spec).items():
        if not label.split()[1].startswith("/api/v1/"):
            continue
        if "requestBody" in op:  # unreadable JSON and oversized bodies are refused before any view runs
            assert {"400", "413"} <= set(op["responses"]), label
        for code, response in op["responses"].items():
            if code[0] in "45":
                assert response["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}, (label, code)
            if code == "401":
                assert response["headers"]["WWW-Authenticate"]["required"] is True
            if code == "429":
                assert response["headers"]["Retry-After"]["schema"] == {"type": "integer"}


def test_the_problem_schema_names_every_member_the_app_sends(spec: dict[str, Any]) -> None:
    problem = _component(spec, "Problem")
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    assert {"request_id", "field", "check", "errors", "retry_after"} <= set(problem["properties"])
    assert problem["additionalProperties"] is False
    assert problem["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/ProblemField"}


def test_nullable_fields_are_3_1_type_lists_and_still_required(spec: dict[str, Any]) -> None:
    record = _component(spec, "ReportRecordOut")
    assert record["properties"]["document"]["anyOf"] == [
        {"$ref": "#/components/schemas/DocumentOut"}, {"type": "null"}]
    assert "document" in record["required"]
    subject = _component(spec, "SubjectOut")
    assert subject["properties"]["name"]["type"] == ["string", "null"]
    assert set(subject["required"]) == {"citizen_id_masked", "name"}
    category = _component(spec, "CategoryOut")
    assert category["properties"]["severity"]["type"] == ["string", "null"]
    assert None in category["properties"]["severity"]["enum"]
    text = repr(spec)
    assert "nullable" not in text


def test_record_out_requires_every_field_it_always_has(spec: dict[str, Any]) -> None:
    record = _component(spec, "RecordOut")
    assert set(record["required"]) == {"id", "status", "display_from", "display_until", "version", "filed_late"}
    assert record["properties"]["status"]["enum"] == ["active", "revoked"]
    assert record["additionalProperties"] is False


def test_the_token_endpoint_is_described_with_basic_auth_and_rfc_6749_errors(spec: dict[str, Any]) -> None:
    op = _operations(spec)["POST /oauth/token"]
    assert spec["components"]["securitySchemes"]["client_basic"] == {
        "type": "http", "scheme": "basic", "description": "client_id and client_secret (client_secret_basic)"}
    assert op["security"] == [{"client_basic": []}, {}]
    form = op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form == {"$ref": "#/components/schemas/TokenRequestIn"}
    grant_type = _component(spec, "TokenRequestIn")["properties"]["grant_type"]
    assert "client_credentials" in grant_type["enum"]
    token = _component(spec, "TokenOut")
    assert set(token["required"]) == {"access_token", "token_type", "expires_in"}
    for code in ("400", "401", "429"):
        assert op["responses"][code]["content"] == {
            "application/json": {"schema": {"$ref": "#/components/schemas/OAuthErrorOut"}}}
    assert op["responses"]["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    error = _component(spec, "OAuthErrorOut")
    assert error["required"] == ["error"]
    assert {"error", "error_description"} <= set(error["properties"])


def test_every_reference_resolves(spec: dict[str, Any]) -> None:
    def refs(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in refs(spec):
        _, section, kind, name = ref.split("/")
        assert name in spec[section][kind], ref


# --- responses that fuzzing rarely reaches, checked against the description by hand ----------


@pytest.fixture
def api(app: Flask) -> Any:
    return schemathesis.openapi.from_wsgi(SPEC_URL, app)


def _conforms(api: Any, label: str, response: Any) -> None:
    """Run the schemathesis checks on a response we provoked by hand; 5XX is documented but never right."""
    operation = api.find_operation_by_label(label)
    assert operation is not None, label
    # Provoked by hand, these cannot be replayed without their credentials as ignored_auth would (their bodies
    # are read and gone); the phases in test_schemathesis.py check that every operation enforces its credentials.
    operation.Case().validate_response(response, checks=[c for c in CHECKS if c is not ignored_auth])


def _enrol(rt: Runtime, citizen_id: str, name: str | None) -> str:
    return people_use.enroll(rt, citizen_id, name, "counter-7").activation_code


def _log_in(client: FlaskClient, rt: Runtime, citizen_id: str, name: str | None = None) -> str:
    """Activate and log in; return the session cookie's value."""
    body = {"citizen_id": citizen_id, "activation_code": _enrol(rt, citizen_id, name), "password": PASSWORD}
    assert client.post("/api/v1/subjects/activate", json=body).status_code == 200
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    response = client.post("/login", data={"citizen_id": citizen_id, "password": PASSWORD,
                                           "csrf_token": token.group(1)})
    assert response.status_code == 302, response.get_data(as_text=True)
    cookie = client.get_cookie("xinyong_session")
    assert cookie is not None
    return cookie.value


def _provider(client: FlaskClient) -> Registered:
    rt: Runtime = client.application.extensions["xinyong"]
    return Auth(rt, client).provider()


def _commendation(citizen_id: str) -> dict[str, Any]:
    """A positive record with no document and no name."""
    return {"citizen_id": citizen_id, "category": "COMMENDATION", "decided_at": "2026-06-01",
            "payload": {"honour": "优秀志愿者", "awarding_body": "常州市文明办", "level": "municipal"}}


def test_token_responses_conform(client: FlaskClient, auth: Auth, api: Any) -> None:
    provider = auth.provider()
    ok = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                     auth=(provider.client_id, provider.secret))
    assert ok.status_code == 200
    _conforms(api, "POST /oauth/token", ok)
    wrong_secret = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                               auth=(provider.client_id, "nope"))
    assert wrong_secret.json["error"] == "invalid_client"  # type: ignore[index]
    _conforms(api, "POST /oauth/token", wrong_secret)
    wrong_grant = client.post("/oauth/token", data={"grant_type": "password"},
                              auth=(provider.client_id, provider.secret))
    assert wrong_grant.json["error"] == "unsupported_grant_type"  # type: ignore[index]
    _conforms(api, "POST /oauth/token", wrong_grant)
    limited = [client.post("/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(provider.client_id, "nope"))
               for _ in range(_client_limit(client) + 1)][-1]
    assert limited.status_code == 429
    _conforms(api, "POST /oauth/token", limited)


def _client_limit(client: FlaskClient) -> int:
    rt: Runtime = client.application.extensions["xinyong"]
    return max(limit.failures for limit in rt.settings.failure_limits.client_authentication
               if limit.scope == "account_at_address")


def test_revocation_responses_conform(client: FlaskClient, auth: Auth, api: Any) -> None:
    provider = auth.provider()
    ok = client.post("/oauth/revoke", data={"token": provider.token}, auth=(provider.client_id, provider.secret))
    assert ok.status_code == 200
    _conforms(api, "POST /oauth/revoke", ok)
    wrong_secret = client.post("/oauth/revoke", data={"token": "x"}, auth=(provider.client_id, "nope"))
    assert wrong_secret.json["error"] == "invalid_client"  # type: ignore[index]
    _conforms(api, "POST /oauth/revoke", wrong_secret)
    no_token = client.post("/oauth/revoke", data={}, auth=(provider.client_id, provider.secret))
    assert no_token.json["error"] == "invalid_request"  # type: ignore[index]
    _conforms(api, "POST /oauth/revoke", no_token)


def test_a_report_with_null_name_and_null_document_conforms(
    client: FlaskClient, auth: Auth, rt: Runtime, people: People, api: Any
) -> None:
    citizen_id = people.new()
    provider = auth.provider()
    assert client.post("/api/v1/records", json=_commendation(citizen_id), headers=provider.headers).status_code == 201
    _log_in(client, rt, citizen_id)
    report = client.get("/api/v1/me/report")
    assert report.status_code == 200
    assert report.json["subject"]["name"] is None  # type: ignore[index]
    assert report.json["records"][0]["document"] is None  # type: ignore[index]
    _conforms(api, "GET /api/v1/me/report", report)


def test_replays_revocations_and_rate_limits_conform(
    client: FlaskClient, auth: Auth, rt: Runtime, people: People, api: Any
) -> None:
    provider = auth.provider()
    headers = {**provider.headers, "Idempotency-Key": "k-1"}
    body = penalty(people.new())
    first = client.post("/api/v1/records", json=body, headers=headers)
    replay = client.post("/api/v1/records", json=body, headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"
    clash = client.post("/api/v1/records", json={**body, "decided_at": "2026-09-01"}, headers=headers)
    assert clash.status_code == 409
    for response in (first, replay, clash):
        _conforms(api, "POST /api/v1/records", response)
    path = f"/api/v1/records/{first.json['id']}/revoke"  # type: ignore[index]
    for expected in (200, 409):
        response = client.post(path, json={"reason": "wrong person"}, headers=provider.headers)
        assert response.status_code == expected
        _conforms(api, "POST /api/v1/records/{record_id}/revoke", response)
    limited = [client.post("/api/v1/subjects/activate",
                           json={"citizen_id": people.new(), "activation_code": "AAAA", "password": PASSWORD})
               for _ in range(_address_limit(rt) + 1)][-1]
    assert limited.status_code == 429
    _conforms(api, "POST /api/v1/subjects/activate", limited)


def _address_limit(rt: Runtime) -> int:
    return next(limit.failures for limit in rt.settings.failure_limits.login if limit.scope == "address")


ODD_BODIES = {
    "a list": b"[1, 2]",
    "a string": b'"citizen"',
    "null": b"null",
    "not JSON": b"{",
    "not UTF-8": b"\xff\xfe",
    "nested deeper than json.loads recurses": b"[" * 100_000,
    "an integer too long to parse": b'{"citizen_id": 1' + b"1" * 5000 + b"}",
    "a huge string": b'{"citizen_id": "' + b"1" * 500_000 + b'"}',
    "an impossible date": b'{"decided_at": "2026-02-30"}',
    "a five-digit year": b'{"decided_at": "99999-01-01"}',
    "a NUL in a payload key": b'{"payload": {"a\\u0000": 1}}',
    "a payload key longer than any field name": b'{"payload": {"' + b"k" * 300 + b'": 1}}',
}


@pytest.mark.parametrize("body", ODD_BODIES.values(), ids=ODD_BODIES.keys())
def test_odd_record_bodies_are_a_documented_4xx(client: FlaskClient, api: Any, body: bytes) -> None:
    provider_ = _provider(client)
    response = client.post("/api/v1/records", data=body, content_type="application/json", headers=provider_.headers)
    assert response.status_code in (400, 422), response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"
    _conforms(api, "POST /api/v1/records", response)


@pytest.mark.parametrize("record_id", ["a%00b", "rec_%2F", "rec_/", "%C3%A9", "x" * 40, "rec_000000000000000000000000"])
def test_odd_record_ids_are_a_documented_404(client: FlaskClient, api: Any, record_id: str) -> None:
    provider_ = _provider(client)
    response = client.post(f"/api/v1/records/{record_id}/revoke", json={"reason": "wrong person"},
                           headers=provider_.headers)
    assert response.status_code == 404
    _conforms(api, "POST /api/v1/records/{record_id}/revoke", response)


@pytest.mark.parametrize("key", ["k\x00", "k\x1f", ""])
def test_an_idempotency_key_with_control_characters_is_a_documented_422(
    client: FlaskClient, api: Any, people: People, key: str
) -> None:
    provider_ = _provider(client)
    response = client.post("/api/v1/records", json=penalty(people.new()),
                           headers={**provider_.headers, "Idempotency-Key": key})
    assert response.status_code == 422
    assert response.json["field"] == "Idempotency-Key"  # type: ignore[index]
    _conforms(api, "POST /api/v1/records", response)


# --- schemathesis ---------------------------------------------------------------------------------


@dataclass
class World:
    """What the fuzzed requests can find: a logged-in person with two records, and a pending activation."""

    provider: Registered
    bodies: list[dict[str, Any]]
    records: list[str]
    session: str
    activation: dict[str, str]


@pytest.fixture
def world(client: FlaskClient, rt: Runtime, people: People) -> World:
    provider = _provider(client)
    citizen_id = people.new()
    bodies = [penalty(citizen_id), _commendation(citizen_id)]
    records = [client.post("/api/v1/records", json=body, headers=provider.headers).json["id"]  # type: ignore[index]
               for body in bodies]
    session = _log_in(client, rt, citizen_id)
    enrolled = people.new()
    activation = {"citizen_id": enrolled, "activation_code": _enrol(rt, enrolled, None), "password": PASSWORD}
    return World(provider, bodies, records, session, activation)


@pytest.fixture
def fuzz_api(app: Flask, engine: Engine) -> Any:
    if engine.dialect.name != "sqlite":
        pytest.skip("schemathesis runs on SQLite only: it is slow, and tests/api covers PostgreSQL")
    # Our fixtures supply real credentials; random ones would only ever reach the 401 branch.
    config = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})
    return schemathesis.openapi.from_wsgi(SPEC_URL, app, config=config)


def _cases(operation: Any, world: World) -> st.SearchStrategy[Any]:
    """Schemathesis' positive and negative cases, and cases that pass validation so successes are fuzzed too."""
    valid: list[st.SearchStrategy[Any]] = []
    if operation.label == "POST /api/v1/records":
        valid = [st.sampled_from(world.bodies).flatmap(lambda body: operation.as_strategy(body=body))]
    elif operation.label == "POST /api/v1/records/{record_id}/revoke":
        valid = [st.sampled_from(world.records).flatmap(
            lambda rid: operation.as_strategy(path_parameters={"record_id": rid}))]
    elif operation.label == "POST /api/v1/subjects/activate":
        valid = [operation.as_strategy(body=world.activation)]
    return st.one_of(operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
                     operation.as_strategy(schemathesis.GenerationMode.NEGATIVE), *valid)


def _credentials(label: str, world: World) -> dict[str, dict[str, str]]:
    if "/records" in label:
        return {"headers": world.provider.headers}
    if "/me/" in label:
        return {"cookies": {"xinyong_session": world.session}}
    return {}


@pytest.mark.parametrize("label", FUZZED)
def test_schemathesis_finds_no_server_error_and_no_undocumented_response(
    label: str, fuzz_api: Any, world: World
) -> None:
    operation = fuzz_api.find_operation_by_label(label)
    assert operation is not None, label
    authenticate(fuzz_api, lambda label: _credentials(label, world))

    @settings(max_examples=40, deadline=None, derandomize=True, database=None)
    @given(case=_cases(operation, world))
    def check(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    check()


def test_the_text_rules_the_api_applies_are_described_as_patterns(spec: dict[str, Any]) -> None:
    record = _component(spec, "RecordIn")["properties"]
    assert "\\x00-\\x08" in record["name"]["pattern"]  # hidden characters: controls and bidi formatting
    assert record["payload"]["propertyNames"]["pattern"] == "^[^\\x00-\\x1f\\x7f]*$"
    request = _component(spec, "ConsentRequestIn")["properties"]
    assert request["categories"]["items"]["pattern"] == "^[^\\x00-\\x1f\\x7f]*$"
    assert request["valid_for"]["pattern"] == "^P[0-9]{1,6}[DW]$"
    for label in ("POST /api/v1/audit/entries/search", "POST /api/v1/me/consent-requests/{request_id}/approve"):
        assert _operations(spec)[label]["requestBody"].get("required", False) is False  # all in it is optional
