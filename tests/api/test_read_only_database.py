"""A database that refuses writes (a 0400 SQLite file, a PostgreSQL replica) is a 503 with a reason, never a 500.

Writes and audited reads are refused (an access that cannot be recorded does not happen); reads that record
nothing still work, and /readyz says what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import sessionmaker

from audit.clock import FrozenClock
from audit.entries import AuditEntry
from consent.catalogue import load_default
from consent.models import Catalogue as CatalogueRow
from gateway.database import make_engine, readonly_engine, upgrade
from gateway.runtime import Runtime, build_runtime
from gateway.web.app import create_app
from tests.conftest import (
    NOW,
    Auth,
    People,
    Registered,
    drop_pg_database,
    penalty,
    pg_database,
    pg_url,
    settings_for_tests,
)
from vault.models import Record
from vault.vault import Vault

CONFIG = {"TESTING": True, "XINYONG_TOKEN_ENDPOINT": "http://localhost/oauth/token"}


@dataclass
class ReadOnly:
    client: FlaskClient
    provider: Registered
    record_id: str
    engine: Engine


def _app(rt: Runtime) -> Flask:
    return create_app(dict(CONFIG), runtime=rt)


def _runtime(tmp_path: Path, engine: Engine, vault: Vault, *, gate: bool = True) -> Runtime:
    settings = settings_for_tests(tmp_path)
    if gate:
        return build_runtime(settings, clock=FrozenClock(NOW), engine=engine, vault=vault)
    return build_runtime(settings, clock=FrozenClock(NOW), engine=engine, vault=vault,
                         sessions=sessionmaker(bind=engine, autobegin=False, expire_on_commit=False),
                         readonly_sessions=sessionmaker(bind=readonly_engine(engine), autobegin=False,
                                                        expire_on_commit=False))


def _counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(Record)).scalar_one(),
                conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one())


@pytest.fixture(params=["sqlite", "postgresql"])
def read_only(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReadOnly]:
    """A database with a provider and a record, then made read-only, served by a fresh app."""
    vault = Vault.generate()
    if request.param == "sqlite":
        path = tmp_path / "xinyong.db"
        url = f"sqlite:///{path}"
    else:
        name, admin = pg_database("xinyong_readonly")
        url = pg_url(name)
    writable = make_engine(url)
    upgrade(writable)
    catalogue = load_default()
    with writable.begin() as conn:
        conn.execute(insert(CatalogueRow).values(version=catalogue.version, document=catalogue.raw, loaded_at=NOW))
    rt = _runtime(tmp_path, writable, vault)
    auth = Auth(rt, _app(rt).test_client())
    provider = auth.provider()
    created = auth.client.post("/api/v1/records", json=penalty(People(31).new()), headers=provider.headers)
    assert created.status_code == 201, created.json
    writable.dispose()
    if request.param == "sqlite":
        path.chmod(0o400)
        # root ignores file modes, so open the file read-only as SQLite does a 0400 file for anyone else.
        engine = make_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
        rt = _runtime(tmp_path, engine, vault, gate=False)
    else:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        engine = make_engine(url)
        rt = _runtime(tmp_path, engine, vault)
    yield ReadOnly(_app(rt).test_client(), provider, created.json["id"], engine)  # type: ignore[index]
    engine.dispose()
    if request.param == "postgresql":
        drop_pg_database(admin, name)


def _assert_read_only_problem(response: object) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert response.mimetype == "application/problem+json"  # type: ignore[attr-defined]
    body = response.json  # type: ignore[attr-defined]
    assert body["code"] == "database_read_only"
    assert "read-only" in body["detail"]
    assert int(response.headers["Retry-After"]) > 0  # type: ignore[attr-defined]


def test_a_write_to_a_read_only_database_is_a_503_with_a_reason_and_changes_nothing(read_only: ReadOnly) -> None:
    before = _counts(read_only.engine)
    client, headers = read_only.client, read_only.provider.headers
    _assert_read_only_problem(client.post("/api/v1/records", json=penalty(People(32).new()), headers=headers))
    _assert_read_only_problem(client.post(f"/api/v1/records/{read_only.record_id}/revoke",
                                          json={"reason": "annulled"}, headers=headers))
    assert _counts(read_only.engine) == before


def test_reads_that_record_nothing_still_work_on_a_read_only_database(read_only: ReadOnly) -> None:
    for path in ("/api/v1/catalogue", "/api/v1/purposes", "/.well-known/jwks.json", "/healthz"):
        assert read_only.client.get(path).status_code == 200, path


def test_readyz_says_the_database_is_read_only(read_only: ReadOnly) -> None:
    response = read_only.client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    checks = response.json["checks"]  # type: ignore[index]
    assert "read-only" in checks["database"]
    assert (checks["schema"], checks["keyring"]) == ("ok", "ok")
