"""Fixtures in the flaskr manner, on SQLite and PostgreSQL both.

Every storage test runs once per backend. Each test runs inside a transaction that is rolled
back at the end; the code under test opens savepoints inside it as if it were committing.
Under CI (CI=true) PostgreSQL is required: a missing server fails the run instead of skipping.
"""

from __future__ import annotations

import base64
import os
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, insert, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker
from stdnum.cn import ric

from audit.clock import FrozenClock
from consent.catalogue import ANY_COMPETENT_AUTHORITY, LEGACY_AGENCY, load_default
from consent.models import Catalogue as CatalogueRow
from gateway.config import Settings
from gateway.database import make_engine, upgrade
from gateway.models import Client
from gateway.runtime import Runtime, build_runtime
from gateway.usecases import clients as client_use
from gateway.usecases import people as people_use
from gateway.web.app import create_app
from vault.types import Document, NewRecord
from vault.vault import Vault

CI = os.environ.get("CI") == "true"
PG_ADMIN_URL = os.environ.get("XINYONG_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 11, 22, 2, 0, 0, tzinfo=UTC)
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def pg_database(prefix: str) -> tuple[str, Engine]:
    """Create a fresh PostgreSQL database for this process; return (name, admin engine).

    The name carries the process id, so concurrent test runs on one server never drop each other's.
    Skips when the server is unreachable, except under CI, where that fails the run.
    """
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{_worker()}_{os.getpid()}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        if CI:
            pytest.fail(f"PostgreSQL is required under CI and is not reachable: {exc.orig}")
        pytest.skip("PostgreSQL is not reachable")
    return name, admin


def pg_url(name: str) -> str:
    """Return the URL of database `name` on the test server."""
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(admin: Engine, name: str) -> None:
    """Drop a database made by pg_database."""
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _prepare(engine: Engine) -> Engine:
    upgrade(engine)
    catalogue = load_default()
    with engine.begin() as conn:
        conn.execute(insert(CatalogueRow).values(version=catalogue.version, document=catalogue.raw, loaded_at=NOW))
    return engine


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated database per backend (one per xdist worker)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "xinyong.db"
        eng = _prepare(make_engine(f"sqlite:///{path}"))
        yield eng
        eng.dispose()
        return
    name, admin = pg_database("xinyong_test")
    eng = _prepare(make_engine(pg_url(name)))
    yield eng
    eng.dispose()
    drop_pg_database(admin, name)


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection whose outer transaction is rolled back after the test."""
    conn = engine.connect()
    outer = conn.begin()
    yield conn
    outer.rollback()
    conn.close()


@pytest.fixture(scope="session")
def vault() -> Vault:
    return Vault.generate()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


def settings_for_tests(tmp_path: Path) -> Settings:
    """Settings for tests: cheap argon2 so that logins do not dominate the suite."""
    return Settings(
        home=tmp_path,
        database_url="sqlite://",
        keyring_path=tmp_path / "keyring.json",
        development=False,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        import_batch_size=7,
        session_max_hours=5 * 366 * 24,  # tests move the clock by months while a person stays logged in
    )


@contextmanager
def committed_runtime(tmp_path: Path, prefix: str, pool_size: int) -> Iterator[Runtime]:
    """Yield a runtime on its own PostgreSQL database whose use cases really commit (for real threads)."""
    name, admin = pg_database(prefix)
    engine = make_engine(pg_url(name), pool_size=pool_size)
    upgrade(engine)
    sessions = sessionmaker(bind=engine, autobegin=False, expire_on_commit=False)
    try:
        yield build_runtime(settings_for_tests(tmp_path), clock=FrozenClock(NOW), engine=engine, sessions=sessions,
                            vault=Vault.generate())
    finally:
        engine.dispose()
        drop_pg_database(admin, name)


@pytest.fixture
def rt(connection: Connection, vault: Vault, clock: FrozenClock, tmp_path: Path, engine: Engine) -> Runtime:
    """A runtime whose sessions live inside the test's rolled-back transaction."""
    sessions = sessionmaker(bind=connection, autobegin=False, expire_on_commit=False,
                            join_transaction_mode="create_savepoint")
    return build_runtime(settings_for_tests(tmp_path), clock=clock, engine=engine, sessions=sessions, vault=vault)


@pytest.fixture
def app(rt: Runtime) -> Flask:
    return create_app({"TESTING": True, "XINYONG_TOKEN_ENDPOINT": "http://localhost/oauth/token"}, runtime=rt)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class People:
    """Valid, distinct citizen IDs for tests (checksums and division codes right)."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)

    def new(self, born: date | None = None) -> str:
        from vault.errors import InvalidCitizenId
        from vault.identity import normalise_citizen_id

        while True:
            birth = born or date(1960, 1, 1) + timedelta(days=self.rng.randint(0, 40 * 365))
            body = f"{self.rng.choice(['110105', '310104', '440305', '450403'])}{birth:%Y%m%d}"
            body += f"{self.rng.randint(1, 999):03d}"
            candidate = body + ric.calc_check_digit(body + "0")
            try:
                return normalise_citizen_id(candidate, NOW.date())
            except InvalidCitizenId:
                continue


@pytest.fixture
def people() -> People:
    return People()


@dataclass
class Registered:
    client_id: str
    secret: str
    token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Auth:
    """Registers clients and fetches tokens through the real token endpoint."""

    def __init__(self, rt: Runtime, client: FlaskClient) -> None:
        self.rt = rt
        self.client = client

    def register(self, role: str, categories: list[str] | None = None, kind: str | None = None,
                 agency: str | None = None, level: str | None = None) -> Registered:
        made = client_use.add_client(self.rt, role=role, name=f"test {role}", categories=categories or [], kind=kind,
                                     agency=agency, level=level)
        reg = Registered(made.client_id, made.client_secret)
        reg.token = self.token(reg.client_id, reg.secret)
        return reg

    def token(self, client_id: str, secret: str) -> str:
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        response = self.client.post("/oauth/token", data={"grant_type": "client_credentials"},
                                    headers={"Authorization": f"Basic {basic}"})
        assert response.status_code == 200, response.get_data(as_text=True)
        return str(response.json["access_token"])  # type: ignore[index]

    def provider(self, *categories: str, agency: str | None = None, level: str = "city") -> Registered:
        """A city-level provider for `categories`, as `agency` or the role that may file them all.

        With no categories, a provider of every category, as only one migrated from before agency roles
        (legacy) can be: tests of other rules need not pick a role for each category they submit. The
        roles themselves are tested with providers registered for what their role may file.
        """
        catalogue = self.rt.catalogue
        if not categories:
            made = self.register("provider", ["ADMINISTRATIVE_PENALTY_GENERAL"], agency=ANY_COMPETENT_AUTHORITY)
            with self.rt.sessions() as session, session.begin():
                session.execute(update(Client).where(Client.client_id == made.client_id).values(
                    agency=LEGACY_AGENCY, agency_level=None, agency_migrated=True,
                    categories=list(catalogue.categories)))
            return made
        if agency is None:
            roles = catalogue.roles_for(categories)
            agency = ANY_COMPETENT_AUTHORITY if ANY_COMPETENT_AUTHORITY in roles else roles[0]
        return self.register("provider", list(categories), agency=agency, level=level)


@pytest.fixture
def auth(rt: Runtime, client: FlaskClient) -> Auth:
    return Auth(rt, client)


def penalty(citizen_id: str, decided: date = date(2026, 10, 1), **overrides: Any) -> dict[str, Any]:
    """A valid general administrative penalty record body."""
    body: dict[str, Any] = {
        "citizen_id": citizen_id,
        "name": "测试人",
        "category": "ADMINISTRATIVE_PENALTY_GENERAL",
        "decided_at": decided.isoformat(),
        "document": {
            "type": "administrative_penalty_decision",
            "number": "常市监罚〔2026〕12号",
            "authority": "常州市市场监督管理局",
            "effective_at": decided.isoformat(),
        },
        "payload": {
            "violation": "未按规定明码标价",
            "provision_violated": "《价格法》第十三条",
            "penalty_basis": "《价格违法行为行政处罚规定》第十三条",
            "penalty_type": "fine",
            "penalty_content": "罚款人民币2000元",
            "fine_amount": "2000.00",
            "sector": "circulation_services",
            "subject_role": "natural_person",
        },
    }
    body.update(overrides)
    return body


def new_record(citizen_id: str, category: str = "ADMINISTRATIVE_PENALTY_GENERAL", decided: date = date(2026, 10, 1),
               key: str | None = None, **changes: Any) -> NewRecord:
    """A general penalty as the vault's NewRecord (the `penalty` body, with its document parsed)."""
    body = penalty(citizen_id, decided)
    doc = body["document"]
    record = NewRecord(
        citizen_id=citizen_id,
        name=body["name"],
        category=category,
        decided_at=decided,
        document=Document(doc["type"], doc["number"], doc["authority"], date.fromisoformat(doc["effective_at"])),
        payload=body["payload"],
        idempotency_key=key,
    )
    return replace(record, **changes)


PASSWORD = "a long enough passphrase"


class Person:
    """A person with an activated account and a logged-in browser (its own test client)."""

    def __init__(self, app: Flask, rt: Runtime, citizen_id: str) -> None:
        self.citizen_id = citizen_id
        self.client = app.test_client()
        code = people_use.enroll(rt, citizen_id, "李四", "counter").activation_code
        activated = self.client.post("/api/v1/subjects/activate", json={
            "citizen_id": citizen_id, "activation_code": code, "password": PASSWORD})
        assert activated.status_code == 200
        response = self.client.post("/login", data={"citizen_id": citizen_id, "password": PASSWORD,
                                                    "csrf_token": self._csrf("/login")})
        assert response.status_code == 302
        # The session is renewed at login (no fixation), so the token comes from a page after it.
        self.csrf = self._csrf("/me")

    def _csrf(self, page: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', self.client.get(page).get_data(as_text=True))
        assert found is not None
        return found.group(1)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.post(path, json=body or {}, headers={"X-CSRF-Token": self.csrf})

    def approve(self, request_id: str, **narrowing: Any) -> dict[str, Any]:
        response = self.post(f"/api/v1/me/consent-requests/{request_id}/approve", narrowing)
        assert response.status_code == 201, response.json
        return dict(response.json)


@pytest.fixture
def person(app: Flask, rt: Runtime, people: People) -> Person:
    return Person(app, rt, people.new())


@pytest.fixture
def employer(auth: Auth) -> Registered:
    return auth.register("institution", kind="employer")
