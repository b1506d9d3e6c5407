"""Lists (名单) with prior notice through the API, on a movable clock.

A serious penalty decided on 1 June 2025 is the record a black listing rests on. Proposed on Monday
12 October 2026, its objection window is the catalogue's five working days for SERIOUS_DISHONESTY_LIST: it runs
until Monday 19 October, so the listing may take effect from Tuesday 20 October. (The clock stays before the
tests' login time, so tokens and portal sessions stay valid.)
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.engine import Connection

from audit import verify
from audit.clock import FrozenClock
from audit.entries import AuditEntry
from gateway.runtime import Runtime
from gateway.usecases import ledger
from gateway.usecases import listings as use
from tests.api.test_repairs_api import _decide, _ok, _record, _serious, at
from tests.conftest import Auth, Person, Registered, penalty

PROPOSED_ON = date(2026, 10, 12)
REASON = "2025年6月因拒不履行行政处罚决定被认定为严重失信"
BASIS = "《严重违法失信名单管理办法》第二条; 国办发〔2020〕49号"


def _commendation(citizen_id: str, decided: str = "2026-06-01") -> dict[str, Any]:
    return {"citizen_id": citizen_id, "category": "COMMENDATION", "decided_at": decided,
            "payload": {"honour": "优秀志愿者", "awarding_body": "常州市文明办", "level": "municipal"}}


def _propose(client: FlaskClient, agency: Registered, record_id: str, kind: str = "black",
             measures: tuple[str, ...] = ("restrict_flights", "closer_supervision")) -> Any:
    return client.post("/api/v1/listings", headers=agency.headers, json={
        "record_id": record_id, "list": kind, "reason": REASON, "basis": BASIS, "measures": list(measures)})


def _grant(client: FlaskClient, employer: Registered, person: Person) -> str:
    created = client.post("/api/v1/consent-requests", headers=employer.headers, json={
        "citizen_id": person.citizen_id, "purpose": "employment_screening", "reason": "hiring",
        "valid_for": "P7D", "max_uses": 1})
    assert created.status_code == 201, created.json
    return str(person.approve(created.json["id"])["id"])


def _lists_seen(client: FlaskClient, employer: Registered, person: Person) -> list[dict[str, Any]]:
    consent_id = _grant(client, employer, person)
    response = client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=employer.headers)
    return list(_ok(response, 201)["report"]["lists"])


def _mine(person: Person, listing_id: str) -> dict[str, Any]:
    return _ok(person.client.get(f"/api/v1/me/listings/{listing_id}"))


def _actions(connection: Connection) -> list[str]:
    return list(connection.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars())


@pytest.fixture
def county(auth: Auth) -> Registered:
    return auth.provider("ADMINISTRATIVE_PENALTY_SERIOUS", level="county")


@pytest.fixture
def civility(auth: Auth) -> Registered:
    """A city civilisation office that files commendations (its token issued before the clock moves back)."""
    return auth.provider("COMMENDATION", level="city")


@pytest.fixture
def record_id(client: FlaskClient, county: Registered, person: Person, clock: FrozenClock) -> str:
    at(clock, PROPOSED_ON)
    return _record(client, county, _serious(person.citizen_id))


def test_a_listing_objected_to_never_takes_effect_and_is_dropped_when_the_objection_is_upheld(
        client: FlaskClient, county: Registered, person: Person, employer: Registered, record_id: str,
        clock: FrozenClock, rt: Runtime, connection: Connection) -> None:
    proposed = _ok(_propose(client, county, record_id), 201)
    assert (proposed["status"], proposed["list"], proposed["objection_until"]) == ("proposed", "black", "2026-10-19")
    assert proposed["objection_window_working_days"] == 5  # the catalogue's notice before a listing decision
    assert "reason" not in proposed  # the agency's answer quotes no sealed text

    # LIST-4, LIST-5, LIST-7: told at once, with the reason, basis, measures, removal conditions and remedies.
    [told] = [n for n in _ok(person.client.get("/api/v1/me/notifications"))["notifications"]
              if n["kind"] == "listing_proposed"]
    assert told["ref"] == proposed["id"]
    assert "严重失信主体名单" in told["text"]["zh"]
    mine = _mine(person, proposed["id"])
    assert (mine["reason"], mine["basis"], mine["may_object"]) == (REASON, BASIS, True)
    assert [m["code"] for m in mine["measures"]] == ["restrict_flights", "closer_supervision"]
    assert mine["removal"]["zh"]
    assert mine["rights"]["en"]
    assert {"objection", "administrative_reconsideration", "administrative_litigation"} <= {
        r["code"] for r in mine["remedies"]}

    at(clock, date(2026, 10, 14))
    objected = person.post(f"/api/v1/me/listings/{proposed['id']}/objection", {"reason": "处罚已履行, 不应列入"})
    objected_json = _ok(objected, 201)
    objection_id = objected_json["objection"]["id"]
    assert objected_json["objection_open"] is True
    assert objected_json["may_object"] is False
    again = person.post(f"/api/v1/me/listings/{proposed['id']}/objection", {"reason": "再次异议"})
    assert (again.status_code, again.json["code"]) == (409, "listing_step_out_of_order")

    at(clock, date(2026, 10, 21))  # the window has passed, but an objection waits: nothing takes effect
    assert use.run_clock(rt) == {"took_effect": [], "ended": []}
    assert _lists_seen(client, employer, person) == []
    [queued] = _ok(client.get("/api/v1/listings", headers=county.headers))["listings"]
    assert (queued["status"], queued["objection_open"]) == ("proposed", True)
    [waiting] = _ok(client.get("/api/v1/objections", headers=county.headers))["objections"]
    assert (waiting["id"], waiting["listing_id"]) == (objection_id, proposed["id"])  # the agency knows what it is

    # The same agency answers it through the objection mechanism: revoked drops the listing, keeps the record.
    _ok(client.post(f"/api/v1/objections/{objection_id}/accept", headers=county.headers))
    corrected = client.post(f"/api/v1/objections/{objection_id}/decide", headers=county.headers, json={
        "outcome": "corrected", "reason": "x", "correction": {"violation": "x"}})
    assert (corrected.status_code, corrected.json["field"]) == (422, "outcome")
    _ok(client.post(f"/api/v1/objections/{objection_id}/decide", headers=county.headers,
                    json={"outcome": "revoked", "reason": "经核实不符合列入标准, 不予列入"}))

    dropped = _mine(person, proposed["id"])
    assert (dropped["status"], dropped["end_cause"], dropped["ended_on"]) == ("dropped", "objection_upheld",
                                                                              "2026-10-21")
    assert [(v["version"], v["status"], v["cause"]) for v in dropped["versions"]] == [
        (1, "proposed", "proposed"), (2, "dropped", "objection_upheld")]
    assert dropped["monitored_until"] is None  # never in effect: no monitoring after exit
    own = {r["id"]: r for r in _ok(person.client.get("/api/v1/me/report"))["records"]}
    assert own[record_id]["status"] == "active"  # the record stands; only the listing fell
    at(clock, date(2026, 10, 22))
    assert use.run_clock(rt)["took_effect"] == []
    assert _lists_seen(client, employer, person) == []

    actions = _actions(connection)
    for tag in ("vault:listing:proposed", "vault:listing:read", "consent:listing:objected",
                "vault:objection:submitted", "consent:listing:changed", "consent:listing:denied"):
        assert tag in actions, tag
    checked = verify.verify_log(connection, ledger.head_verifier(rt))
    assert checked.ok, checked.differences


def test_a_listing_takes_effect_after_its_window_and_is_removed_by_repair_of_its_record(
        client: FlaskClient, county: Registered, person: Person, employer: Registered, record_id: str,
        clock: FrozenClock, rt: Runtime) -> None:
    proposed = _ok(_propose(client, county, record_id), 201)
    assert _lists_seen(client, employer, person) == []  # a proposed listing is never released

    at(clock, date(2026, 10, 19), hour=23)  # the window's last day: not yet
    assert use.run_clock(rt)["took_effect"] == []
    at(clock, date(2026, 10, 20))
    assert use.run_clock(rt)["took_effect"] == [proposed["id"]]
    assert use.run_clock(rt)["took_effect"] == []  # once only

    [seen] = _lists_seen(client, employer, person)
    assert (seen["list"], seen["since"], seen["until"]) == ("black", "2026-10-20", "2029-10-20")
    assert [m["code"] for m in seen["measures"]] == ["restrict_flights", "closer_supervision"]
    assert "reason" not in seen  # the sealed reason stays between the person and the agency
    late = person.post(f"/api/v1/me/listings/{proposed['id']}/objection", {"reason": "迟到的异议"})
    assert (late.status_code, late.json["current_status"]) == (409, "in_effect")

    # Credit repair of the record it rests on ends it, and the person stays under monitoring (LIST-9).
    applied = _ok(person.post("/api/v1/me/repairs", {
        "record_id": record_id, "methods": ["performance"], "statement": "罚款已缴清",
        "commitment": {"text": "本人承诺守法", "accepted": True}}), 201)
    at(clock, date(2026, 10, 26))
    _ok(_decide(client, county, applied["id"], {"outcome": "repaired", "effect": "stop_sharing",
                                                "reason": "已履行, 准予修复"}))
    ended = _mine(person, proposed["id"])
    assert (ended["status"], ended["end_cause"], ended["effective_on"], ended["ended_on"]) == (
        "ended", "repaired", "2026-10-20", "2026-10-26")
    assert ended["monitored_until"] == "2027-10-26"
    assert [v["cause"] for v in ended["versions"]] == ["proposed", "took_effect", "repaired"]
    assert _lists_seen(client, employer, person) == []
    report = _ok(person.client.get("/api/v1/me/report"))
    [listed] = report["listings"]
    assert (listed["id"], listed["status"], listed["ended_on"]) == (proposed["id"], "ended", "2026-10-26")
    assert listed["remedies"]
    assert listed["details_at"] == f"/api/v1/me/listings/{proposed['id']}"
    kinds = [n["status"] for n in _ok(person.client.get("/api/v1/me/notifications"))["notifications"]
             if n["kind"] == "listing_changed"]
    assert kinds == ["repaired", "took_effect"]


def test_red_and_black_lists_never_hold_one_person_at_once(
        client: FlaskClient, civility: Registered, county: Registered, person: Person, record_id: str,
        clock: FrozenClock, rt: Runtime, connection: Connection) -> None:
    honour = _record(client, civility, _commendation(person.citizen_id))
    red = _ok(_propose(client, civility, honour, "red", ("green_channel",)), 201)
    assert (red["status"], red["effective_on"], red["objection_until"]) == ("in_effect", "2026-10-12", None)

    black = _ok(_propose(client, county, record_id), 201)
    at(clock, date(2026, 10, 20))
    use.run_clock(rt)
    assert _mine(person, red["id"])["status"] == "suspended"  # LIST-10: not both at once
    second = _record(client, civility, _commendation(person.citizen_id, "2026-10-01"))
    refused = _propose(client, civility, second, "red", ("green_channel",))
    assert (refused.status_code, refused.json["code"]) == (409, "listed")
    assert "Listed" in connection.execute(select(AuditEntry.reason).where(
        AuditEntry.action == "consent:listing:denied")).scalars().all()

    at(clock, date(2026, 11, 2))
    removed = _ok(client.post(f"/api/v1/listings/{black['id']}/end", headers=county.headers,
                              json={"reason": "当事人已纠正失信行为, 提前移出"}))
    assert (removed["status"], removed["end_cause"]) == ("ended", "agency_decision")
    restored = _mine(person, red["id"])
    assert restored["status"] == "in_effect"
    assert [v["cause"] for v in restored["versions"]] == ["listed", "suspended", "restored"]
    words = [v.get("words") for v in _mine(person, black["id"])["versions"]]
    assert words == [None, None, "当事人已纠正失信行为, 提前移出"]
    again = client.post(f"/api/v1/listings/{black['id']}/end", headers=county.headers, json={"reason": "again"})
    assert (again.status_code, again.json["current_status"]) == (409, "ended")
    assert _ok(_propose(client, civility, second, "red", ("green_channel",)), 201)["status"] == "in_effect"


def test_only_an_agency_at_county_level_or_above_may_propose_and_only_on_its_own_serious_record(
        client: FlaskClient, auth: Auth, county: Registered, person: Person, record_id: str) -> None:
    township = auth.provider("ADMINISTRATIVE_PENALTY_SERIOUS", level="township")  # tokens issued on 12 October
    low = _propose(client, township, _record(client, township, _serious(person.citizen_id, date(2025, 7, 1))))
    assert (low.status_code, low.json["code"], low.json["minimum_level"]) == (403, "level_too_low", "county")
    general = auth.provider("ADMINISTRATIVE_PENALTY_GENERAL", level="county")
    minor = _propose(client, general, _record(client, general, penalty(person.citizen_id)))
    assert (minor.status_code, minor.json["field"]) == (422, "record_id")
    other = auth.provider("ADMINISTRATIVE_PENALTY_SERIOUS", level="province")
    assert _propose(client, other, record_id).status_code == 404  # it lists only on its own records
    unknown = _propose(client, county, record_id, measures=("public_shaming",))
    assert (unknown.status_code, unknown.json["field"]) == (422, "measures.0")
    assert _ok(_propose(client, county, record_id), 201)["status"] == "proposed"
    twice = _propose(client, county, record_id)
    assert (twice.status_code, twice.json["code"]) == (409, "listing_open")
    assert client.get("/api/v1/me/listings/ls_" + "0" * 24, headers=county.headers).status_code in (401, 403)
    assert person.client.get("/api/v1/me/listings/ls_" + "0" * 24).status_code == 404


def test_a_listing_ends_with_its_period(client: FlaskClient, civility: Registered, person: Person,
                                        clock: FrozenClock, rt: Runtime) -> None:
    at(clock, PROPOSED_ON)
    red = _ok(_propose(client, civility, _record(client, civility, _commendation(person.citizen_id)), "red",
                       ("fewer_inspections",)), 201)
    assert red["until"] == "2029-10-12"  # the catalogue's display period of COMMENDATION
    at(clock, date(2029, 10, 11))
    assert use.run_clock(rt)["ended"] == []
    at(clock, date(2029, 10, 12))
    assert use.run_clock(rt)["ended"] == [red["id"]]
    ended = _mine(person, red["id"])
    assert (ended["status"], ended["end_cause"], ended["monitored_until"]) == ("ended", "period_ended", None)


def test_a_listing_waits_while_its_record_is_under_objection_and_takes_effect_once_it_is_upheld(
        client: FlaskClient, county: Registered, person: Person, record_id: str, clock: FrozenClock,
        rt: Runtime) -> None:
    proposed = _ok(_propose(client, county, record_id), 201)
    on_record = _ok(person.post("/api/v1/me/objections", {"record_id": record_id, "reason": "记录有误"}), 201)
    at(clock, date(2026, 10, 21))
    assert use.run_clock(rt)["took_effect"] == []  # nothing punitive while the record is verified (OBJ-2)
    _ok(client.post(f"/api/v1/objections/{on_record['id']}/accept", headers=county.headers))
    _ok(client.post(f"/api/v1/objections/{on_record['id']}/decide", headers=county.headers,
                    json={"outcome": "upheld", "reason": "经核实记录无误"}))
    assert use.run_clock(rt)["took_effect"] == [proposed["id"]]
    assert _mine(person, proposed["id"])["effective_on"] == "2026-10-21"
