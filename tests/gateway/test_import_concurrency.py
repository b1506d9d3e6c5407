"""Two `records import` runs of one file at once, as two processes would run them: each with its own engine.

On PostgreSQL both read "not there yet" and insert the same idempotency keys; on SQLite the writers take turns.
Either way both must finish, each record stored once, the loser's lines counted as already present.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from audit.clock import FrozenClock
from audit.entries import AuditEntry
from audit.tags import Tag
from audit.tx import AccessContext
from gateway.database import make_engine, upgrade
from gateway.runtime import Runtime, build_runtime
from gateway.usecases import clients, ledger
from gateway.usecases import records as record_use
from gateway.web.schemas import RecordIn
from tests.conftest import NOW, People, drop_pg_database, penalty, pg_database, pg_url, settings_for_tests
from vault.models import Record
from vault.types import Provider
from vault.vault import Vault

MakeRuntime = Callable[[], Runtime]


@pytest.fixture(params=["sqlite", "postgresql"])
def runtimes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeRuntime]:
    """Make runtimes on one committed database, each with its own engine and writer gate (as a process has)."""
    vault = Vault.generate()
    made: list[Runtime] = []
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'xinyong.db'}"
    else:
        name, admin = pg_database("xinyong_import")
        url = pg_url(name)
    upgrade(setup := make_engine(url))
    setup.dispose()

    def make() -> Runtime:
        rt = build_runtime(settings_for_tests(tmp_path), clock=FrozenClock(NOW), engine=make_engine(url),
                           vault=vault)
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.engine.dispose()
    if request.param == "postgresql":
        drop_pg_database(admin, name)


def _file(path: Path, seed: int, count: int) -> Path:
    people = People(seed)
    ids = [people.new() for _ in range(count // 3 + 1)]
    # Several records a person, new people in every batch (the import creates them too).
    lines = [penalty(ids[n % len(ids)], date(2026, 1 + n % 9, 1 + n % 28)) for n in range(count)]
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    return path


def test_two_imports_of_one_file_at_once_store_each_record_once_and_both_finish(
    runtimes: MakeRuntime, tmp_path: Path
) -> None:
    first, second = runtimes(), runtimes()
    made = clients.add_client(first, role="provider", name="court", categories=["ADMINISTRATIVE_PENALTY_GENERAL"],
                              kind=None, agency="any_competent_authority")
    provider = Provider(made.client_id, frozenset(made.categories), "any_competent_authority")
    access = AccessContext(actor=made.client_id, role="provider", basis="bulk import")
    lines = 40  # batches of 7 (settings_for_tests): the two runs meet in the middle of one another's batches
    for round_ in range(3):
        path = _file(tmp_path / f"records-{round_}.jsonl", seed=500 + round_, count=lines)
        start = threading.Barrier(2)

        def run(rt: Runtime, path: Path = path, start: threading.Barrier = start) -> record_use.ImportReport:
            start.wait(timeout=10)
            return record_use.import_file(rt, provider, path, access)

        with ThreadPoolExecutor(max_workers=2) as pool:
            reports = list(pool.map(run, (first, second)))
        assert [r.errors for r in reports] == [[], []]
        assert sum(r.created for r in reports) == lines
        assert sum(r.duplicates for r in reports) == lines
        assert all(r.created + r.duplicates == lines for r in reports)
    with first.sessions() as session, session.begin():
        stored = session.execute(select(func.count()).select_from(Record)).scalar_one()
        keys = session.execute(select(func.count(func.distinct(Record.idempotency_key)))).scalar_one()
        ingested = session.execute(select(func.count()).select_from(AuditEntry)
                                   .where(AuditEntry.action == Tag.RECORD_INGESTED.value)).scalar_one()
    assert stored == keys == ingested == 3 * lines
    ledger.checkpoint(first)
    verified = ledger.verify_log(first, workers=1)
    assert verified.ok, verified.differences


def test_two_submissions_with_one_idempotency_key_at_once_store_one_record_and_both_get_it(
    runtimes: MakeRuntime,
) -> None:
    first, second = runtimes(), runtimes()
    made = clients.add_client(first, role="provider", name="court", categories=["ADMINISTRATIVE_PENALTY_GENERAL"],
                              kind=None, agency="any_competent_authority")
    provider = Provider(made.client_id, frozenset(made.categories), "any_competent_authority")
    access = AccessContext(actor=made.client_id, role="provider")
    for round_ in range(6):
        body = RecordIn().load(penalty(People(600 + round_).new()))
        start = threading.Barrier(2)

        def submit(rt: Runtime, body: dict[str, Any] = body, key: str = f"case-{round_}",
                   start: threading.Barrier = start) -> tuple[str, bool]:
            start.wait(timeout=10)
            done = record_use.submit(rt, provider, body, key, access)
            return done.id, done.created

        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(pool.map(submit, (first, second)))
        assert outcomes[0][0] == outcomes[1][0]
        assert sorted(created for _, created in outcomes) == [False, True]
    with first.sessions() as session, session.begin():
        assert session.execute(select(func.count()).select_from(Record)).scalar_one() == 6
