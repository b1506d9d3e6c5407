"""One verification per declaration and one waiting declaration per item, under real concurrency on PostgreSQL.

The conditional UPDATE of the status and the partial unique index on a waiting item's key are what hold: the
racers pass the same checks before either writes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from audit.entries import AuditEntry
from consent.errors import DeclarationOpen, DeclarationStepOutOfOrder
from gateway.runtime import Runtime
from gateway.usecases import clients, people
from gateway.usecases import declarations as use
from tests.conftest import People, committed_runtime
from vault.models import Declaration, Record
from vault.types import Provider

RACERS = 6
HOURS = {"organisation": "青年志愿者协会", "service_hours": "12", "period_start": "2026-01-10",
         "period_end": "2026-09-30"}


@pytest.fixture
def committed(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on its own PostgreSQL database whose use cases really commit."""
    with committed_runtime(tmp_path, "xinyong_declconc", RACERS + 2) as rt:
        yield rt


def _person(rt: Runtime, seed: int) -> str:
    citizen_id = People(seed).new()
    people.enroll(rt, citizen_id, None, "counter")
    return rt.vault.subject_ref(citizen_id)


def _agency(rt: Runtime) -> Provider:
    made = clients.add_client(rt, role="provider", name="civil affairs", kind=None, agency="civil_affairs",
                              categories=["VOLUNTEER_SERVICE", "CREDIT_COMMITMENT_BREACH"])
    return clients.provider(rt, made.client_id)


def _at_once(count: int, call: Callable[[], str]) -> list[str]:
    start = threading.Barrier(count)

    def run(_: int) -> str:
        start.wait(timeout=10)
        try:
            return call()
        except (DeclarationOpen, DeclarationStepOutOfOrder) as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(max_workers=count) as pool:
        return sorted(pool.map(run, range(count)))


def _declare(rt: Runtime, ref: str) -> str:
    return str(use.declare(rt, use.Declare(ref, "VOLUNTEER_SERVICE", HOURS, "本人承诺属实"))["status"])


def test_the_same_item_declared_at_once_waits_exactly_once(committed: Runtime) -> None:
    rt = committed
    for round_ in range(3):  # several races, so that lucky timing cannot hide a check-then-insert
        ref = _person(rt, 700 + round_)
        outcomes = _at_once(RACERS, lambda ref=ref: _declare(rt, ref))  # type: ignore[misc]
        assert outcomes == ["DeclarationOpen"] * (RACERS - 1) + ["unverified"]
    with rt.sessions() as session, session.begin():
        waiting = session.execute(select(func.count()).select_from(Declaration)).scalar_one()
        denied = session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "consent:declaration:denied")).scalar_one()
    assert (waiting, denied) == (3, 3 * (RACERS - 1))  # every refused racer is recorded


def test_two_staff_verifying_one_declaration_at_once_make_one_decision_and_one_record(committed: Runtime) -> None:
    rt = committed
    agency = _agency(rt)
    ref = _person(rt, 800)
    filed = use.declare(rt, use.Declare(ref, "VOLUNTEER_SERVICE", HOURS, "本人承诺属实"))
    outcomes = _at_once(RACERS, lambda: str(use.verify(rt, use.VerifyDeclaration(
        agency, filed["id"], "false", "无此记录"))["status"]))
    assert outcomes == ["DeclarationStepOutOfOrder"] * (RACERS - 1) + ["false"]
    with rt.sessions() as session, session.begin():
        records = session.execute(select(Record.category)).scalars().all()
        decided = session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "vault:declaration:verified")).scalar_one()
    assert (records, decided) == (["CREDIT_COMMITMENT_BREACH"], 1)
