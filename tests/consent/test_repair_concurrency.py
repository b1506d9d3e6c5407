"""One open repair application per record, one decision per application, under real concurrency on PostgreSQL.

The partial unique index on open applications and the conditional UPDATE of the decision are what hold:
the racers pass the same eligibility checks before either writes.
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
from consent.errors import RepairOpen, RepairStepOutOfOrder
from gateway.runtime import Runtime
from gateway.usecases import clients, people
from gateway.usecases import records as record_use
from gateway.usecases import repairs as use
from gateway.web.schemas import RecordIn
from tests.conftest import People, committed_runtime, penalty
from vault.models import Record, Repair
from vault.types import Provider

RACERS = 6


@pytest.fixture
def committed(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on its own PostgreSQL database whose use cases really commit."""
    with committed_runtime(tmp_path, "xinyong_repconc", RACERS + 2) as rt:
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
        except (RepairOpen, RepairStepOutOfOrder) as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(max_workers=count) as pool:
        return sorted(pool.map(run, range(count)))


def _apply(rt: Runtime, ref: str, record_id: str) -> str:
    applied = use.apply(rt, use.ApplyForRepair(ref, record_id, ("performance",), "罚款已缴清", "本人承诺守法"))
    return str(applied["status"])


def test_concurrent_applications_for_one_record_open_exactly_one(committed: Runtime) -> None:
    rt = committed
    for round_ in range(3):  # several races, so that lucky timing cannot hide a check-then-insert
        _, ref, record_id = _record(rt, 500 + round_)
        outcomes = _at_once(RACERS, lambda ref=ref, record_id=record_id: _apply(rt, ref, record_id))
        assert outcomes == ["RepairOpen"] * (RACERS - 1) + ["submitted"]
        with rt.sessions() as session, session.begin():
            opened = session.execute(select(func.count()).select_from(Repair)
                                     .where(Repair.record_id == record_id)).scalar_one()
        assert opened == 1
    with rt.sessions() as session, session.begin():
        denied = session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "consent:repair:denied")).scalar_one()
    assert denied == 3 * (RACERS - 1)  # every refused racer is recorded


def test_concurrent_decisions_of_one_application_decide_it_once(committed: Runtime) -> None:
    rt = committed
    provider, ref, record_id = _record(rt, 600)
    filed = use.apply(rt, use.ApplyForRepair(ref, record_id, ("performance",), "罚款已缴清", "本人承诺守法"))
    outcomes = _at_once(RACERS, lambda: use.decide(rt, use.DecideRepair(
        provider, filed["id"], "repaired", "准予修复", "stop_sharing"))["status"])
    assert outcomes == ["RepairStepOutOfOrder"] * (RACERS - 1) + ["repaired"]
    with rt.sessions() as session, session.begin():
        decided = session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "vault:repair:decided")).scalar_one()
        repaired = session.execute(select(Record.repair_effect).where(Record.id == record_id)).scalar_one()
    assert (decided, repaired) == (1, "stop_sharing")
