"""The backup and restore drill, end to end on SQLite and PostgreSQL: seed, report, back up, destroy, restore,
verify the log, open the report. And what the commands refuse: a keyring beside the copy, a restore without
a keyring, a restore over data without --force, another installation's keyring."""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from click.testing import CliRunner, Result
from flask.testing import FlaskClient
from sqlalchemy import Engine, inspect, text

from audit.tags import Tag
from audit.tx import AccessContext
from gateway import cli
from gateway.config import from_environ
from gateway.database import make_engine
from gateway.runtime import Runtime, build_runtime
from gateway.usecases import ledger
from gateway.usecases import people as people_use
from gateway.web.app import create_app
from tests.conftest import CI, PASSWORD, Auth, People, drop_pg_database, penalty, pg_database, pg_url


@dataclass
class Home:
    """A service's configuration on one backend, its files, and how to empty its database."""

    backend: str
    env: dict[str, str | None]
    path: Path
    admin: Engine | None = None
    name: str = ""

    def cli(self, *args: str) -> Result:
        """Run a command; the runtimes it builds are disposed of after it (their pooled connections closed)."""
        built: list[Runtime] = []

        def recording(*a: Any, **kw: Any) -> Runtime:
            built.append(build_runtime(*a, **kw))
            return built[-1]

        with patch.object(cli, "build_runtime", recording):
            try:
                return CliRunner(env=self.env).invoke(cli.main, list(args))
            finally:
                for rt in built:
                    rt.engine.dispose()

    def ok(self, *args: str) -> dict[str, Any]:
        result = self.cli(*args, "--json")
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.output))

    def runtime(self) -> Runtime:
        return build_runtime(from_environ({k: v for k, v in self.env.items() if v is not None}))

    def destroy(self) -> None:
        """Lose the database and the keyring, as a dead disk would."""
        (self.path / "keyring.json").unlink()
        if self.admin is None:
            for file in self.path.glob("xinyong.db*"):
                file.unlink()
            return
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{self.name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))

    def tables(self) -> list[str]:
        engine = make_engine(str(self.env["XINYONG_DATABASE_URL"]) if self.admin is not None
                             else f"sqlite:///{self.path / 'xinyong.db'}")
        try:
            with engine.connect() as conn:
                return inspect(conn).get_table_names()
        finally:
            engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def home(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Home]:
    path = tmp_path / "home"
    env: dict[str, str | None] = {"XINYONG_HOME": str(path), "XINYONG_DATABASE_URL": None, "XINYONG_KEYRING": None,
                                  "XINYONG_ENV": "development", "XINYONG_ARGON2_TIME_COST": "1",
                                  "XINYONG_ARGON2_MEMORY_KIB": "1024"}
    if request.param == "sqlite":
        yield Home("sqlite", env, path)
        return
    if shutil.which("pg_dump") is None:
        if CI:
            pytest.fail("pg_dump is needed for the PostgreSQL backup under CI")
        pytest.skip("pg_dump is not on PATH")
    name, admin = pg_database("xinyong_backup")
    try:
        yield Home("postgresql", {**env, "XINYONG_DATABASE_URL": pg_url(name)}, path, admin, name)
    finally:
        drop_pg_database(admin, name)


def _app_client(rt: Runtime) -> FlaskClient:
    app = create_app({"TESTING": True, "XINYONG_TOKEN_ENDPOINT": "http://localhost/oauth/token"}, runtime=rt)
    return app.test_client()


def _login(client: FlaskClient, citizen_id: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    response = client.post("/login", data={"citizen_id": citizen_id, "password": PASSWORD,
                                           "csrf_token": token.group(1)})
    assert response.status_code == 302


@dataclass
class Seeded:
    citizen_id: str
    record_id: str
    report_id: str
    jws: str
    employer: tuple[str, str]


def _seed(home: Home) -> Seeded:
    """A person with a record, an employer's consented query and its stored report, and a signed tree head."""
    home.ok("init")
    rt = home.runtime()
    try:
        client = _app_client(rt)
        auth = Auth(rt, client)
        provider, employer = auth.provider(), auth.register("institution", kind="employer")
        citizen_id = People(seed=11).new()
        code = people_use.enroll(rt, citizen_id, "赵六", "counter").activation_code
        assert client.post("/api/v1/subjects/activate", json={
            "citizen_id": citizen_id, "activation_code": code, "password": PASSWORD}).status_code == 200
        record = client.post("/api/v1/records", headers=provider.headers, json=penalty(citizen_id))
        assert record.status_code == 201, record.json
        asked = client.post("/api/v1/consent-requests", headers=employer.headers, json={
            "citizen_id": citizen_id, "purpose": "employment_screening", "reason": "应聘", "valid_for": "P7D"})
        browser = client.application.test_client()  # the person approves in their own browser
        _login(browser, citizen_id)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/me").get_data(as_text=True))
        assert csrf is not None
        approved = browser.post(f"/api/v1/me/consent-requests/{asked.json['id']}/approve", json={},
                                headers={"X-CSRF-Token": csrf.group(1)})
        assert approved.status_code == 201, approved.json
        report = client.post("/api/v1/queries", json={"consent_id": approved.json["id"]}, headers=employer.headers)
        assert report.status_code == 201, report.json
        ledger.checkpoint(rt)
        return Seeded(citizen_id, record.json["id"], report.json["report"]["report_id"], report.json["jws"],
                      (employer.client_id, employer.secret))
    finally:
        rt.engine.dispose()


def test_the_drill_back_up_destroy_restore_verify_and_the_report_still_opens(home: Home, tmp_path: Path) -> None:
    seeded = _seed(home)
    (tmp_path / "backups").mkdir()
    copy, keyring = tmp_path / "backups" / "xinyong.backup", tmp_path / "keys" / "keyring.json"
    made = home.ok("backup", str(copy), "--keyring-to", str(keyring))
    assert made["backend"] == home.backend
    assert made["people"] == 1
    assert made["audit_entries"] > 0
    assert made["signed_tree_size"] == made["audit_entries"]
    assert copy.stat().st_mode & 0o777 == 0o600
    assert keyring.stat().st_mode & 0o777 == 0o600
    assert list((tmp_path / "backups").iterdir()) == [copy]  # nothing else beside the copy, no keyring

    home.destroy()
    without_keyring = home.cli("restore", str(copy))
    assert without_keyring.exit_code != 0
    assert "--keyring-from" in without_keyring.output
    assert home.tables() == []  # refused before anything was written

    restored = home.ok("restore", str(copy), "--keyring-from", str(keyring))
    assert restored["keyring"] == "installed"
    assert restored["replaced"] is False
    assert restored["schema_current"] is True
    assert restored["audit_entries"] == made["audit_entries"]
    verified = home.ok("audit", "verify")
    assert verified["ok"] is True
    assert verified["entries"] == made["audit_entries"]

    rt = home.runtime()
    try:
        client = _app_client(rt)
        token = Auth(rt, client).token(*seeded.employer)
        again = client.get(f"/api/v1/reports/{seeded.report_id}", headers={"Authorization": f"Bearer {token}"})
        assert again.status_code == 200, again.json
        assert again.json["jws"] == seeded.jws
        _login(client, seeded.citizen_id)
        own = client.get("/api/v1/me/report")
        assert own.status_code == 200
        shown = json.dumps(own.json, ensure_ascii=False)
        assert seeded.record_id in shown
        assert "未按规定明码标价" in shown  # the payload decrypts
        assert "赵六" in shown
    finally:
        rt.engine.dispose()
    assert home.ok("audit", "verify")["ok"] is True


def test_restore_over_data_needs_force_and_then_replaces_it(home: Home, tmp_path: Path) -> None:
    _seed(home)
    (tmp_path / "b").mkdir()
    copy = tmp_path / "b" / "copy"
    before = home.ok("backup", str(copy))["audit_entries"]
    rt = home.runtime()
    try:
        with rt.uow.begin(AccessContext(actor="operator", role="operator")) as tx:
            tx.record(Tag.KEYS_ROTATED)  # written after the backup: the restore takes it away
    finally:
        rt.engine.dispose()
    refused = home.cli("restore", str(copy))
    assert refused.exit_code != 0
    assert "not empty" in refused.output
    assert f"{before + 1} audit entries" in refused.output
    assert "--force" in refused.output
    replaced = home.ok("restore", str(copy), "--force")
    assert replaced["replaced"] is True
    assert replaced["keyring"] == "kept"
    assert replaced["audit_entries"] == before
    assert home.ok("audit", "verify")["entries"] == before


def test_a_backup_never_sits_beside_a_keyring_and_never_overwrites(home: Home, tmp_path: Path) -> None:
    home.ok("init")
    (tmp_path / "b").mkdir()
    beside_live = home.cli("backup", str(home.path / "copy.db"))
    assert beside_live.exit_code != 0
    assert "beside the service's keyring" in beside_live.output
    beside_copy = home.cli("backup", str(tmp_path / "b" / "copy"), "--keyring-to", str(tmp_path / "b" / "k.json"))
    assert beside_copy.exit_code != 0
    assert "beside the keyring copy" in beside_copy.output
    assert list((tmp_path / "b").iterdir()) == []
    home.ok("backup", str(tmp_path / "b" / "copy"))
    again = home.cli("backup", str(tmp_path / "b" / "copy"))
    assert again.exit_code != 0
    assert "exists" in again.output


def test_a_keyring_of_another_installation_is_refused_or_reported(home: Home, tmp_path: Path) -> None:
    _seed(home)
    (tmp_path / "b").mkdir()
    copy = tmp_path / "b" / "copy"
    home.ok("backup", str(copy))
    home.destroy()
    other = tmp_path / "other" / "keyring.json"
    CliRunner(env={**home.env, "XINYONG_HOME": str(other.parent), "XINYONG_DATABASE_URL": None}).invoke(
        cli.main, ["init"])
    wrong = home.cli("restore", str(copy), "--keyring-from", str(other))
    assert wrong.exit_code != 0
    assert "did not sign the copy's newest tree head" in wrong.output
    assert not (home.path / "keyring.json").exists()  # the wrong keyring was not installed
    if home.backend == "sqlite":
        assert "nothing was restored" in wrong.output
        assert home.tables() == []


def test_a_keyring_older_than_the_data_is_refused(home: Home, tmp_path: Path) -> None:
    _seed(home)
    for where in ("b", "k"):
        (tmp_path / where).mkdir()
    old_keyring = tmp_path / "k" / "keyring.json"
    shutil.copy(home.path / "keyring.json", old_keyring)
    home.ok("keys", "rotate")
    copy = tmp_path / "b" / "copy"
    home.ok("backup", str(copy))
    home.destroy()
    shutil.rmtree(home.path)
    older = home.cli("restore", str(copy), "--keyring-from", str(old_keyring))
    assert older.exit_code != 0
    assert "wrapped under key version 2" in older.output
    assert "older than the data" in older.output


def test_a_backup_taken_while_entries_are_written_is_one_consistent_moment(home: Home, tmp_path: Path) -> None:
    home.ok("init")
    rt = home.runtime()
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            with rt.uow.begin(AccessContext(actor="operator", role="operator")) as tx:
                for _ in range(5):
                    tx.record(Tag.KEYS_ROTATED)

    writer = threading.Thread(target=write)
    writer.start()
    (tmp_path / "b").mkdir()
    try:
        copies = [tmp_path / "b" / f"copy{i}" for i in range(3)]
        for copy in copies:
            home.ok("backup", str(copy))
    finally:
        stop.set()
        writer.join()
        rt.engine.dispose()
    keyring = tmp_path / "k" / "keyring.json"
    keyring.parent.mkdir()
    shutil.copy(home.path / "keyring.json", keyring)
    for copy in copies:
        home.destroy()
        restored = home.ok("restore", str(copy), "--keyring-from", str(keyring))
        assert restored["audit_entries"] % 5 == 0  # whole transactions only
        verified = home.ok("audit", "verify")
        assert verified["ok"] is True
        assert verified["entries"] == restored["audit_entries"]


def test_a_copy_of_the_wrong_kind_is_refused(home: Home, tmp_path: Path) -> None:
    home.ok("init")
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a backup at all")
    refused = home.cli("restore", str(junk), "--force")
    assert refused.exit_code != 0
    assert "neither a SQLite database nor a pg_dump archive" in refused.output
