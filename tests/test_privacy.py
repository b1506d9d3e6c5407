"""No citizen ID and no name reaches the database files or the logs in the clear.

The demo data is seeded through the real command on a real home directory, a few of the demo
people log in and read their reports through the app, and then the raw bytes are searched: the
SQLite file and its write-ahead log, a dump of every PostgreSQL table, and every log line that any
logger emitted at DEBUG (SQL statements included). The search looks for each value as UTF-8, as a
JSON \\u escape and as hex (how PostgreSQL prints bytea), so a plaintext copy in any column shows.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from audit.clock import CST
from audit.tx import AccessContext
from gateway import cli
from gateway.cli import main
from gateway.database import make_engine
from gateway.models import Client
from gateway.runtime import Runtime
from gateway.usecases import commitments as commitments_use
from gateway.usecases import records as records_use
from gateway.web.app import create_app
from tests.conftest import CI, PG_ADMIN_URL
from vault.types import Provider

Needles = dict[bytes, str]


def needles(people: list[dict[str, str]]) -> Needles:
    """Return every byte form of every demo person's ID and name, each with a label for the failure."""
    found: Needles = {}
    for person in people:
        for what in ("citizen_id", "name"):
            value = person[what]
            found[value.encode()] = f"{what} {value!r} as UTF-8"
            found[json.dumps(value).strip('"').encode()] = f"{what} {value!r} as a JSON escape"
            found[value.encode().hex().encode()] = f"{what} {value!r} as hex"
    return found


def _text_forms(what: str, value: str) -> Needles:
    """Return a text's byte forms a store or a log could hold: UTF-8, a JSON escape, hex."""
    return {value.encode(): f"{what} as UTF-8", json.dumps(value).strip('"').encode(): f"{what} as a JSON escape",
            value.encode().hex().encode(): f"{what} as hex"}


def leaks(blob: bytes, wanted: Needles) -> list[str]:
    """Return the labels of the needles that occur in `blob`."""
    lowered = blob.lower()
    return sorted(label for needle, label in wanted.items() if needle.lower() in lowered)


def _files(home: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(home.glob("xinyong.db*"))}


# --- the scan itself finds what it looks for ---------------------------------------------------------


PLANTED = [{"citizen_id": "11010519491231002X", "name": "王芳"}]


@pytest.mark.parametrize("stored", [
    "王芳".encode(), b"11010519491231002X", b'{"name": "\\u738b\\u82b3"}', b"\\xe78e8be88ab3",
])
def test_the_scan_finds_a_planted_id_or_name_in_any_form(stored: bytes) -> None:
    assert leaks(b"\x00\x01 prefix " + stored + b" suffix \xff", needles(PLANTED))


def test_the_scan_finds_a_name_that_is_only_in_the_write_ahead_log(tmp_path: Path) -> None:
    path = tmp_path / "xinyong.db"
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE people (name TEXT)")
        conn.commit()
        conn.execute("INSERT INTO people VALUES (?)", ("王芳",))
        conn.commit()
        files = _files(tmp_path)
        assert not leaks(files["xinyong.db"], needles(PLANTED))
        assert leaks(files["xinyong.db-wal"], needles(PLANTED)) == ["name '王芳' as UTF-8"]
    finally:
        conn.close()


def test_the_scan_finds_nothing_in_clean_bytes() -> None:
    assert leaks(os.urandom(4096) + b"110105**********002X", needles(PLANTED)) == []


# --- the real thing ----------------------------------------------------------------------------------


@pytest.fixture
def runtimes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Runtime]]:
    """Every runtime the commands build, so that their connections are closed before the files are read."""
    built: list[Runtime] = []
    original = cli.build_runtime

    def recording(*args: Any, **kwargs: Any) -> Runtime:
        rt = original(*args, **kwargs)
        built.append(rt)
        return rt

    monkeypatch.setattr(cli, "build_runtime", recording)
    yield built
    for rt in built:
        rt.engine.dispose()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record at DEBUG, SQL statements and result rows included."""
    caplog.set_level(logging.DEBUG)
    for name in ("sqlalchemy", "alembic", "xinyong", "werkzeug"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str | None) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("XINYONG_HOME", str(home))
    # Cheap password hashing: the hashes are not what this test is about, and full cost is most of its time.
    monkeypatch.setenv("XINYONG_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("XINYONG_ARGON2_MEMORY_KIB", "1024")
    for name in ("XINYONG_KEYRING", "XINYONG_ENV"):
        monkeypatch.delenv(name, raising=False)
    if database_url is None:
        monkeypatch.delenv("XINYONG_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("XINYONG_DATABASE_URL", database_url)
    return home


def _seed(people: int) -> list[dict[str, str]]:
    runner = CliRunner()
    assert runner.invoke(main, ["init"], catch_exceptions=False).exit_code == 0
    seeded = runner.invoke(main, ["demo", "seed", "--people", str(people), "--json"], catch_exceptions=False)
    assert seeded.exit_code == 0, seeded.output
    logins: list[dict[str, str]] = json.loads(seeded.stdout)["people"]
    assert len(logins) == people
    assert len({p["name"] for p in logins}) == people
    return logins


def _log_in(client: FlaskClient, citizen_id: str, password: str) -> int:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    return client.post("/login", data={"citizen_id": citizen_id, "password": password,
                                       "csrf_token": token.group(1)}).status_code


# An objection's texts are the person's words: none may reach the database or the logs in the clear either.
OBJECTION_REASON = "异议理由: 处罚决定书编号抄错, 我从未在该店经营"
EVIDENCE_NAME = "私人证明材料-身份核验.pdf"
EVIDENCE = b"%PDF-1.4\n(evidence-marker-7f3a: bank statement of the objector)\n"


# An agency's own correction: its reason is sealed with the superseded version, never stored in the clear.
CORRECTION_REASON = "主动更正: 当事人住址录入错误, 已依职权更正"


def objection_needles() -> Needles:
    """Return every byte form of the objection's reason, evidence file name and evidence content (and the
    reason of an agency's own correction)."""
    found: Needles = {}
    for what, value in (("objection reason", OBJECTION_REASON), ("evidence file name", EVIDENCE_NAME),
                        ("correction reason", CORRECTION_REASON)):
        found.update(_text_forms(what, value))
    marker = b"evidence-marker-7f3a"
    found[marker] = "evidence content"
    found[marker.hex().encode()] = "evidence content as hex"
    found[base64.b64encode(EVIDENCE)[:40]] = "evidence content as base64"
    return found


def _object(client: FlaskClient, record_id: str) -> None:
    """File an objection with evidence as the logged-in person, then read it back."""
    page = client.get("/me").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    filed = client.post("/api/v1/me/objections", headers={"X-CSRF-Token": token.group(1)}, json={
        "record_id": record_id, "reason": OBJECTION_REASON, "evidence": [{
            "filename": EVIDENCE_NAME, "content_type": "application/pdf",
            "content_base64": base64.b64encode(EVIDENCE).decode()}]})
    assert filed.status_code == 201, filed.json
    mine = client.get("/api/v1/me/objections")
    assert mine.json["objections"][0]["reason"] == OBJECTION_REASON


# A repair application's statement, commitment and evidence are the person's words too.
REPAIR_STATEMENT = "修复陈述: 罚款已缴清, 缴款人开户行账号尾号7731"
REPAIR_COMMITMENT = "信用承诺: 本人家住幸福路88号, 承诺守法"
REPAIR_EVIDENCE_NAME = "私人缴款回单-修复.pdf"
REPAIR_EVIDENCE = b"%PDF-1.4\n(repair-marker-4c9d: receipt of the repairer)\n"


def repair_needles() -> Needles:
    """Return every byte form of a repair application's statement, commitment and evidence."""
    found: Needles = {}
    for what, value in (("repair statement", REPAIR_STATEMENT), ("repair commitment", REPAIR_COMMITMENT),
                        ("repair evidence file name", REPAIR_EVIDENCE_NAME)):
        found.update(_text_forms(what, value))
    marker = b"repair-marker-4c9d"
    found[marker] = "repair evidence content"
    found[marker.hex().encode()] = "repair evidence content as hex"
    found[base64.b64encode(REPAIR_EVIDENCE)[:40]] = "repair evidence content as base64"
    return found


def _repair(client: FlaskClient, records: list[dict[str, Any]]) -> bool:
    """Apply for the repair of a record that may be repaired today, if the person has one; read it back."""
    today = datetime.now(CST).date().isoformat()
    found = next((r for r in records if r.get("repair", {}).get("repairable")
                  and r["repair"]["from"] <= today and "open_application" not in r["repair"]), None)
    if found is None:
        return False
    page = client.get("/me").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    filed = client.post("/api/v1/me/repairs", headers={"X-CSRF-Token": token.group(1)}, json={
        "record_id": found["id"], "methods": ["performance"], "statement": REPAIR_STATEMENT,
        "commitment": {"text": REPAIR_COMMITMENT, "accepted": True}, "evidence": [{
            "filename": REPAIR_EVIDENCE_NAME, "content_type": "application/pdf",
            "content_base64": base64.b64encode(REPAIR_EVIDENCE).decode()}]})
    assert filed.status_code == 201, filed.json
    assert client.get("/api/v1/me/repairs").json["repairs"][0]["statement"] == REPAIR_STATEMENT
    return True


# A declaration's payload and promise, and a credit commitment's details, are the person's words; a listing's
# reason and basis are the agency's words about the person. None may be stored or logged in the clear.
DECLARED_ORGANISATION = "declaration-marker-5e1b 常州市青年志愿者协会"
DECLARATION_PROMISE = "本人承诺所申报信息真实 declaration-promise-marker-93c2"
COMMITMENT_DETAILS = "commitment-marker-2d7a 营业执照副本将于十月补交"


def words_needles(listing_words: list[str]) -> Needles:
    """Return every byte form of a declaration's payload and promise, a commitment's details, and the words of
    the demo's proposed listing as its person reads them back."""
    found: Needles = {}
    for what, value in (("declared organisation", DECLARED_ORGANISATION), ("declaration promise",
                        DECLARATION_PROMISE), ("commitment details", COMMITMENT_DETAILS),
                        *(("listing words", w) for w in listing_words)):
        found.update(_text_forms(what, value))
    return found


def _declare_and_commit(client: FlaskClient, runtime: Runtime, subject_ref: str) -> None:
    """Declare volunteer service and sign an onboarding commitment as the logged-in person; read both back."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/me").get_data(as_text=True))
    assert token is not None
    headers = {"X-CSRF-Token": token.group(1)}
    declared = client.post("/api/v1/me/declarations", headers=headers, json={
        "category": "VOLUNTEER_SERVICE", "commitment": {"text": DECLARATION_PROMISE, "accepted": True},
        "payload": {"organisation": DECLARED_ORGANISATION, "service_area": "社区助老", "service_hours": "120",
                    "period_start": "2026-01-10", "period_end": "2026-09-30"}})
    assert declared.status_code == 201, declared.json
    body = commitments_use.bodies(runtime, subject_ref, "onboarding")[0]["id"]
    signed = client.post("/api/v1/me/commitments", headers=headers, json={
        "template": "onboarding", "accepting_body": body, "accepted": True, "details": COMMITMENT_DETAILS})
    assert signed.status_code == 201, signed.json
    assert client.get("/api/v1/me/commitments").json["commitments"][0]["details"] == COMMITMENT_DETAILS


def _listing_words(client: FlaskClient) -> list[str]:
    """Return the reason and basis of the logged-in person's proposed listing, as they read them."""
    listings = client.get("/api/v1/me/listings").json["listings"]
    assert listings, "the demo's listing story has no listing"
    shown = client.get(f"/api/v1/me/listings/{listings[0]['id']}").json
    words = [shown["reason"], shown["basis"]]
    assert all(len(w) >= 8 for w in words)
    return words


def _use_the_app(logins: list[dict[str, str]]) -> tuple[Runtime, list[str]]:
    """Log a few people in (and one wrong password), read their reports, object to one record, declare and
    sign a commitment; return the app's runtime and the words of the demo's proposed listing."""
    app = create_app()
    runtime: Runtime = app.extensions["xinyong"]
    for person in logins[:3]:
        client = app.test_client()
        assert _log_in(client, person["citizen_id"], "not the password") == 401
        assert _log_in(client, person["citizen_id"], person["password"]) == 302
        report = client.get("/api/v1/me/report")
        assert report.status_code == 200
        # The report is where the ID and the name may appear: to the person, and masked.
        assert report.json["subject"]["name"] == person["name"]
        assert report.json["records"]
        assert person["name"] in client.get("/me").get_data(as_text=True)
        if person is logins[0]:
            _object(client, next(r["id"] for r in report.json["records"] if r["status"] == "active"))
        if person is logins[1]:
            _correct(runtime, next(r for r in report.json["records"] if r["status"] == "active"))
            # The person is told, in words rendered when read; the stored notification holds no text.
            assert client.get("/api/v1/me/notifications").json["unread"] >= 1
    # Someone with a record that may be repaired today applies for its repair.
    for person in logins:
        client = app.test_client()
        assert _log_in(client, person["citizen_id"], person["password"]) == 302
        if _repair(client, client.get("/api/v1/me/report").json["records"]):
            break
    else:
        raise AssertionError("no demo person has a record that may be repaired today")
    # The sixth demo person was proposed for the serious-dishonesty list; the first declares and commits.
    listed = app.test_client()
    assert _log_in(listed, logins[5]["citizen_id"], logins[5]["password"]) == 302
    words = _listing_words(listed)
    first = app.test_client()
    assert _log_in(first, logins[0]["citizen_id"], logins[0]["password"]) == 302
    _declare_and_commit(first, runtime, runtime.vault.subject_ref(logins[0]["citizen_id"]))
    return runtime, words


def _correct(runtime: Runtime, record: dict[str, Any]) -> None:
    """Correct a record on its agency's own initiative, as POST /api/v1/records/{id}/corrections does."""
    with runtime.uow.begin(AccessContext(actor="privacy-test", role="system"), readonly=True) as tx:
        client = tx.session.get(Client, record["provider"]["id"])
        assert client is not None
        assert client.agency is not None
        provider = Provider(client.client_id, frozenset(client.categories), client.agency, client.agency_level)
    access = AccessContext(actor=provider.client_id, role="provider")
    records_use.correct(runtime, provider, records_use.Correction(record["id"], record["payload"],
                                                                  CORRECTION_REASON), access)


def _erase_and_expire(person: dict[str, str]) -> None:
    """Erase one person and expire what is past retention, as an operator would; the log still verifies."""
    runner = CliRunner()
    erased = runner.invoke(main, ["subjects", "erase", person["citizen_id"], "--basis", "《个人信息保护法》第四十七条",
                                  "--yes", "--json"], catch_exceptions=False)
    assert erased.exit_code == 0, erased.output
    assert json.loads(erased.stdout)["records"] >= 1
    assert runner.invoke(main, ["records", "expire"], catch_exceptions=False).exit_code == 0
    assert runner.invoke(main, ["audit", "verify"], catch_exceptions=False).exit_code == 0


def _assert_no_leaks(where: str, blob: bytes, wanted: Needles) -> None:
    found = leaks(blob, wanted)
    assert not found, f"{where} holds in the clear: {', '.join(found)}"


def test_no_id_or_name_is_in_the_sqlite_files_or_the_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runtimes: list[Runtime], logs: pytest.LogCaptureFixture
) -> None:
    home = _home(tmp_path, monkeypatch, None)
    logins = _seed(20)
    app_runtime, listing_words = _use_the_app(logins)
    _erase_and_expire(logins[2])
    wanted = needles(logins) | objection_needles() | repair_needles() | words_needles(listing_words)
    assert "INSERT INTO subjects" in logs.text
    assert "INSERT INTO repairs" in logs.text
    assert "INSERT INTO objections" in logs.text  # the SQL log was captured, so its scan means something
    assert "INSERT INTO declarations" in logs.text
    assert "INSERT INTO commitments" in logs.text
    files = _files(home)
    assert "xinyong.db" in files
    for name, blob in files.items():
        _assert_no_leaks(name, blob, wanted)
    _assert_no_leaks("the log", logs.text.encode(), wanted)
    app_runtime.engine.dispose()
    for rt in runtimes:
        rt.engine.dispose()
    # Closing the last connection checkpoints the log into the main file: look again.
    for name, blob in _files(home).items():
        _assert_no_leaks(f"{name} after checkpoint", blob, wanted)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this process (helpers share the server), dropped afterwards."""
    name = f"xinyong_privacy_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        if CI:
            pytest.fail(f"PostgreSQL is required under CI and is not reachable: {exc.orig}")
        pytest.skip("PostgreSQL is not reachable")
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _dump(engine: Engine) -> bytes:
    """Return every row of every table, each as PostgreSQL's text form of the whole row."""
    with engine.connect() as conn:
        tables = conn.execute(text(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name")).scalars().all()
        assert {"subjects", "records", "accounts", "audit_entries", "login_failures"} <= set(tables)
        rows = [row for table in tables
                for row in conn.execute(text(f'SELECT t::text FROM "{table}" t')).scalars()]  # noqa: S608
    assert len(rows) > 20
    return "\n".join(rows).encode()


def test_no_id_or_name_is_in_any_postgresql_table_or_the_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str, runtimes: list[Runtime],
    logs: pytest.LogCaptureFixture,
) -> None:
    _home(tmp_path, monkeypatch, pg_url)
    logins = _seed(6)
    app_runtime, listing_words = _use_the_app(logins)
    _erase_and_expire(logins[2])
    wanted = needles(logins) | objection_needles() | repair_needles() | words_needles(listing_words)
    engine = make_engine(pg_url)
    try:
        dump = _dump(engine)
    finally:
        engine.dispose()
        app_runtime.engine.dispose()
    assert b"vault:report:self" in dump  # the dump holds the audit log, so its scan means something
    assert b"vault:objection:submitted" in dump  # and the objection, whose texts it must not hold
    assert b"vault:repair:submitted" in dump  # and the repair application, likewise
    assert b"vault:listing:proposed" in dump  # and the listing, the declaration and the commitment
    assert b"vault:declaration:" in dump
    assert b"vault:commitment:" in dump
    _assert_no_leaks("the PostgreSQL dump", dump, wanted)
    _assert_no_leaks("the log", logs.text.encode(), wanted)
