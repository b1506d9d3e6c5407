"""GET /metrics: who may scrape it, what it counts (by URL rule, never by path), and that it names nobody."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from audit.clock import FrozenClock
from audit.tags import Tag
from audit.tx import AccessContext
from gateway import metrics
from gateway.config import from_environ
from gateway.runtime import Runtime
from gateway.usecases import ledger
from gateway.web.app import create_app
from tests.conftest import NOW, Auth, Person, Registered, penalty

TOKEN = "t" * 40
LOOPBACK = ("127.0.0.0/8", "::1/128")


def _app(rt: Runtime, **settings: Any) -> Flask:
    rt.settings = rt.settings.with_overrides(**settings)
    return create_app({"TESTING": True, "XINYONG_TOKEN_ENDPOINT": "http://localhost/oauth/token"}, runtime=rt)


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    """The app with /metrics open to loopback (the test client's address) and to TOKEN."""
    return _app(rt, metrics_networks=LOOPBACK, metrics_token=TOKEN).test_client()


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return response.get_data(as_text=True)


def value(text: str, name: str, **labels: str) -> float:
    """Return the sample `name` with exactly these labels (among others), 0 if absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


# --- who may scrape ------------------------------------------------------------------------------


def test_in_production_nobody_may_scrape_unless_configured(rt: Runtime) -> None:
    response = _app(rt).test_client().get("/metrics")
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert "XINYONG_METRICS_NETWORKS" in response.json["detail"]


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401),
    ({"Authorization": "Bearer " + "x" * 40}, 401),
    ({"Authorization": "Bearer " + TOKEN[:-1]}, 401),
    ({"Authorization": "Basic " + TOKEN}, 401),
    ({"Authorization": "Bearer " + TOKEN}, 200),
    ({"Authorization": "bearer " + TOKEN}, 200),
])
def test_with_a_token_configured_only_its_bearer_may_scrape(rt: Runtime, headers: dict[str, str],
                                                            status: int) -> None:
    response = _app(rt, metrics_token=TOKEN).test_client().get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("address", "status"), [
    ("127.0.0.1", 200), ("::1", 200), ("::ffff:127.0.0.1", 200), ("10.0.0.7", 403), ("192.168.1.9", 403),
])
def test_addresses_in_the_configured_networks_may_scrape_without_a_token(rt: Runtime, address: str,
                                                                         status: int) -> None:
    client = _app(rt, metrics_networks=LOOPBACK).test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": address}).status_code == status


def test_behind_a_trusted_proxy_the_forwarded_client_address_is_the_one_checked(rt: Runtime) -> None:
    client = _app(rt, metrics_networks=LOOPBACK, trusted_proxies=1).test_client()
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200


def test_a_token_opens_metrics_from_outside_the_networks(rt: Runtime) -> None:
    client = _app(rt, metrics_networks=LOOPBACK, metrics_token=TOKEN).test_client()
    outside = {"REMOTE_ADDR": "203.0.113.5"}
    assert client.get("/metrics", environ_base=outside).status_code == 401
    assert client.get("/metrics", environ_base=outside,
                      headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_the_configuration_of_who_may_scrape_is_checked_at_start() -> None:
    assert from_environ({"XINYONG_ENV": "development"}).metrics_networks == LOOPBACK
    assert from_environ({}).metrics_networks == ()
    assert from_environ({"XINYONG_ENV": "development", "XINYONG_METRICS_NETWORKS": "none"}).metrics_networks == ()
    assert from_environ({"XINYONG_METRICS_NETWORKS": "10.1.2.3/8, 2001:db8::1"}).metrics_networks == (
        "10.0.0.0/8", "2001:db8::1/128")
    with pytest.raises(ValueError, match="XINYONG_METRICS_NETWORKS: 'ten' is not"):
        from_environ({"XINYONG_METRICS_NETWORKS": "10.0.0.0/8,ten"})
    with pytest.raises(ValueError, match="XINYONG_METRICS_TOKEN must be at least 32"):
        from_environ({"XINYONG_METRICS_TOKEN": "short"})
    assert from_environ({"XINYONG_METRICS_TOKEN": TOKEN}).metrics_token == TOKEN


# --- what it counts --------------------------------------------------------------------------------


def test_requests_are_counted_by_url_rule_and_status_never_by_path(client: FlaskClient, auth: Auth) -> None:
    institution = auth.register("institution", kind="employer")
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/reports/rep_SECRETID42", headers=institution.headers).status_code == 404
    assert client.get("/no/such/path/rec_SECRETID43").status_code == 404
    after = scrape(client)
    assert value(after, "xinyong_http_requests_total", endpoint="/healthz", method="GET", status="200") - value(
        before, "xinyong_http_requests_total", endpoint="/healthz", method="GET", status="200") == 3
    assert value(after, "xinyong_http_request_duration_seconds_count", endpoint="/healthz", method="GET") - value(
        before, "xinyong_http_request_duration_seconds_count", endpoint="/healthz", method="GET") == 3
    assert value(after, "xinyong_http_requests_total", endpoint="/api/v1/reports/<string:report_id>", status="404") >= 1
    assert value(after, "xinyong_http_requests_total", endpoint="none", status="404") >= 1
    assert "SECRETID" not in after


def test_made_up_methods_share_one_label(client: FlaskClient) -> None:
    for made_up in ("BREW", "PROPFIND", "X-SECRET-42"):
        assert client.open("/healthz", method=made_up).status_code == 405
    text = scrape(client)
    assert value(text, "xinyong_http_requests_total", endpoint="none", method="other", status="405") >= 3
    assert "BREW" not in text
    assert "SECRET" not in text
    assert [key for key in metrics._requests if key[1] in ("BREW", "PROPFIND", "X-SECRET-42")] == []


def _grant(client: FlaskClient, institution: Registered, person: Person) -> str:
    created = client.post("/api/v1/consent-requests", headers=institution.headers, json={
        "citizen_id": person.citizen_id, "purpose": "employment_screening", "reason": "应聘会计岗位",
        "valid_for": "P7D"})
    assert created.status_code == 201, created.json
    return str(created.json["id"])


def test_a_flow_with_real_people_is_counted_and_the_scrape_names_nobody(
    client: FlaskClient, rt: Runtime, auth: Auth, people: Any, clock: FrozenClock
) -> None:
    app = client.application
    provider = auth.provider()
    employer = auth.register("institution", kind="employer")
    zhang, wang = Person(app, rt, people.new()), Person(app, rt, people.new())
    before = scrape(client)
    record_ids = []
    for who, name in ((zhang, "张伟明"), (wang, "王秀英")):
        submitted = client.post("/api/v1/records", headers=provider.headers,
                                json=penalty(who.citizen_id, name=name))
        assert submitted.status_code == 201, submitted.json
        record_ids.append(submitted.json["id"])
    approved = _grant(client, employer, zhang)
    consent_id = zhang.approve(approved)["id"]
    report = client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=employer.headers)
    assert report.status_code == 201
    denied = _grant(client, employer, wang)
    assert wang.post(f"/api/v1/me/consent-requests/{denied}/deny").status_code == 200
    refused = client.post("/api/v1/queries", json={"consent_id": denied}, headers=employer.headers)
    assert refused.json["code"] == "consent_denied"
    assert client.post("/api/v1/queries", json={"consent_id": consent_id},
                       headers=employer.headers).json["code"] == "consent_exhausted"
    assert zhang.client.delete(f"/api/v1/me/consents/{consent_id}",
                               headers={"X-CSRF-Token": zhang.csrf}).status_code == 200
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("xinyong_consent_decisions_total", decision="approved") == 1
    assert grew("xinyong_consent_decisions_total", decision="denied") == 1
    assert grew("xinyong_consent_decisions_total", decision="revoked") == 1
    assert grew("xinyong_query_refusals_total", code="consent_denied") == 1
    assert grew("xinyong_query_refusals_total", code="consent_exhausted") == 1
    assert grew("xinyong_audit_entries_appended_total", action=Tag.QUERY_RELEASED, outcome="allowed") == 1
    assert grew("xinyong_audit_entries_appended_total", action=Tag.RECORD_INGESTED, outcome="allowed") == 2
    assert grew("xinyong_audit_entries_appended_total", action=Tag.QUERY_DENIED, outcome="denied") == 2
    assert grew("xinyong_http_requests_total", endpoint="/api/v1/queries", method="POST", status="403") == 2

    secrets_and_ids = [zhang.citizen_id, wang.citizen_id, "张伟明", "王秀英", "李四", provider.secret,
                       employer.secret, provider.token, employer.token, provider.client_id, employer.client_id,
                       *record_ids, approved, denied, consent_id, report.json["report"]["report_id"],
                       rt.vault.subject_ref(zhang.citizen_id), rt.vault.subject_ref(wang.citizen_id),
                       zhang.citizen_id[:6] + "********"]
    forms = {form for needle in secrets_and_ids for form in (needle, json.dumps(needle).strip('"'))}
    assert [needle for needle in forms if needle.lower() in after.lower()] == []


def test_the_logs_state_is_read_at_each_scrape(client: FlaskClient, rt: Runtime, auth: Auth,
                                                clock: FrozenClock) -> None:
    auth.register("auditor")
    ledger.checkpoint(rt)
    with rt.uow.begin(AccessContext(actor="operator", role="operator")) as tx:
        tx.record(Tag.KEYS_ROTATED)
    clock.set(NOW + timedelta(seconds=42))
    text = scrape(client)
    entries = ledger.entry_count(rt)
    assert value(text, "xinyong_database_up") == 1
    assert value(text, "xinyong_audit_log_entries") == entries
    assert value(text, "xinyong_audit_tree_size") == entries - 1
    assert value(text, "xinyong_audit_signed_tree_size") == entries - 1
    assert value(text, "xinyong_audit_newest_head_age_seconds") == 42


def test_before_the_first_head_there_is_no_head_age(client: FlaskClient) -> None:
    text = scrape(client)
    assert value(text, "xinyong_audit_signed_tree_size") == 0
    assert "xinyong_audit_newest_head_age_seconds" not in text


def test_entries_of_a_rolled_back_transaction_are_not_counted(client: FlaskClient, rt: Runtime) -> None:
    before = scrape(client)

    def rolled_back() -> None:
        with rt.uow.begin(AccessContext(actor="operator", role="operator")) as tx:
            tx.record(Tag.KEYS_ROTATED)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        rolled_back()
    with rt.uow.begin(AccessContext(actor="operator", role="operator")) as tx:
        tx.record(Tag.CLIENT_DISABLED)
    after = scrape(client)
    rotated = {"action": Tag.KEYS_ROTATED, "outcome": "allowed"}
    disabled = {"action": Tag.CLIENT_DISABLED, "outcome": "allowed"}
    assert value(after, "xinyong_audit_entries_appended_total", **rotated) == value(
        before, "xinyong_audit_entries_appended_total", **rotated)
    assert value(after, "xinyong_audit_entries_appended_total", **disabled) - value(
        before, "xinyong_audit_entries_appended_total", **disabled) == 1
