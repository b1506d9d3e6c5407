"""One open objection per record, under real concurrency on PostgreSQL (committed transactions, many threads).

The partial unique index on open objections is what holds: each person's requests race with no check
before the insert that could let two through.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from audit.entries import AuditEntry
from audit.tx import AccessContext
from consent.errors import ObjectionOpen, ObjectionStepOutOfOrder
from gateway.runtime import Runtime
from gateway.usecases import clients, people
from gateway.usecases import objections as use
from gateway.usecases import records as record_use
from gateway.web.schemas import RecordIn
from tests.conftest import People, committed_runtime, penalty
from vault.models import Objection
from vault.types import Provider

RACERS = 6


@pytest.fixture
def committed(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on its own PostgreSQL database whose use cases really commit."""
    with committed_runtime(tmp_path, "xinyong_objconc", RACERS + 2) as rt:
        yield rt


def _record(rt: Runtime, seed: int) -> tuple[Provider, str, str]:
    citizen_id = People(seed).new()
    made = clients.add_client(rt, role="provider", name="bureau", categories=["ADMINISTRATIVE_PENALTY_GENERAL"],
                              kind=None, agency="any_competent_authority")
    provider = clients.provider(rt, made.client_id)
    body = RecordIn().load(penalty(citizen_id, date(2026, 6, 1)))
    stored = record_use.submit(rt, provider, body, None, AccessContext(actor=made.client_id, role="provider"))
    people.enroll(rt, citizen_id, None, "counter")
    return provider, rt.vault.subject_ref(citizen_id), stored.id


def _at_once(count: int, call: object) -> list[str]:
    start = threading.Barrier(count)

    def run(_: int) -> str:
        start.wait(timeout=10)
        try:
            return str(call())  # type: ignore[operator]
        except (ObjectionOpen, ObjectionStepOutOfOrder) as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(max_workers=count) as pool:
        return sorted(pool.map(run, range(count)))


def test_concurrent_objections_to_one_record_open_exactly_one(committed: Runtime) -> None:
    rt = committed
    for round_ in range(3):  # several races, so that lucky timing cannot hide a check-then-insert
        _, ref, record_id = _record(rt, 300 + round_)
        outcomes = _at_once(RACERS, lambda ref=ref, record_id=record_id: use.file_objection(
            rt, use.FileObjection(ref, record_id, "金额有误"))["status"])
        assert outcomes == ["ObjectionOpen"] * (RACERS - 1) + ["submitted"]
        with rt.sessions() as session, session.begin():
            opened = session.execute(select(func.count()).select_from(Objection)
                                     .where(Objection.record_id == record_id)).scalar_one()
        assert opened == 1
    with rt.sessions() as session, session.begin():
        denied = session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "consent:objection:denied")).scalar_one()
    assert denied == 3 * (RACERS - 1)  # every refused racer is recorded


def test_concurrent_accepts_of_one_objection_move_it_once(committed: Runtime) -> None:
    rt = committed
    provider, ref, record_id = _record(rt, 400)
    filed = use.file_objection(rt, use.FileObjection(ref, record_id, "金额有误"))
    outcomes = _at_once(RACERS, lambda: use.agency_step(rt, use.AgencyStep(provider, filed["id"], "accept"))["status"])
    assert outcomes == ["ObjectionStepOutOfOrder"] * (RACERS - 1) + ["accepted"]
    with rt.sessions() as session, session.begin():
        accepted = session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "consent:objection:accepted")).scalar_one()
    assert accepted == 1
