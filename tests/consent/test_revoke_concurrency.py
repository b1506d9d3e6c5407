"""Real concurrency on PostgreSQL: two revocations or corrections of one record at once change it once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from sqlalchemy import select

from audit.entries import AuditEntry
from audit.tags import Tag
from audit.tx import AccessContext
from gateway.runtime import Runtime
from gateway.usecases import clients
from gateway.usecases import records as record_use
from gateway.usecases.records import Correction
from gateway.web.schemas import RecordIn
from tests.conftest import People, penalty
from tests.consent.test_concurrency import committed  # noqa: F401 - the fixture
from vault.errors import RecordConflict
from vault.types import Provider


def _bureau(rt: Runtime) -> tuple[Provider, AccessContext]:
    """A provider that files general penalties, and its access context."""
    made = clients.add_client(rt, role="provider", name="bureau", categories=["ADMINISTRATIVE_PENALTY_GENERAL"],
                              kind=None, agency="any_competent_authority")
    return (Provider(made.client_id, frozenset(made.categories), "any_competent_authority"),
            AccessContext(actor=made.client_id, role="provider"))


def test_two_revocations_of_one_record_at_once_revoke_it_once_and_refuse_the_other(
        committed: Runtime) -> None:  # noqa: F811
    rt = committed
    provider, access = _bureau(rt)
    for round_ in range(4):  # several races, so that a check-then-write bug cannot slip through on lucky timing
        body = RecordIn().load(penalty(People(400 + round_).new(), date(2026, 6, 1)))
        record_id = record_use.submit(rt, provider, body, None, access).id
        start = threading.Barrier(2)

        def revoke(reason: str, record_id: str = record_id, start: threading.Barrier = start) -> str:
            start.wait(timeout=10)
            try:
                return record_use.revoke(rt, provider, record_id, reason, access).status
            except RecordConflict:
                return "conflict"

        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = sorted(pool.map(revoke, ["filed in error", "duplicate of another record"]))
        assert outcomes == ["conflict", "revoked"]
        with rt.sessions() as session, session.begin():
            entries = session.execute(select(AuditEntry.record_ids)
                                      .where(AuditEntry.action == str(Tag.RECORD_REVOKED))).scalars()
            assert [ids for ids in entries if ids == [record_id]] == [[record_id]]


def test_a_correction_and_a_revocation_or_two_corrections_at_once_change_the_record_once(
        committed: Runtime) -> None:  # noqa: F811
    rt = committed
    provider, access = _bureau(rt)
    for round_ in range(4):
        body = RecordIn().load(penalty(People(500 + round_).new(), date(2026, 6, 1)))
        record_id = record_use.submit(rt, provider, body, None, access).id
        fixed = {**body["payload"], "fine_amount": "100.00"}
        start = threading.Barrier(2)

        def change(how: str, record_id: str = record_id, start: threading.Barrier = start,
                   fixed: dict[str, object] = fixed) -> str:
            start.wait(timeout=10)
            try:
                if how == "revoke":
                    return record_use.revoke(rt, provider, record_id, "filed in error", access).status
                return record_use.correct(rt, provider, Correction(record_id, fixed, "wrong amount"), access).status
            except RecordConflict:
                return "conflict"

        hows = ["correct", "revoke"] if round_ % 2 else ["correct", "correct"]
        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(pool.map(change, hows))
        assert outcomes.count("conflict") == 1, outcomes
        won = [how for how, outcome in zip(hows, outcomes, strict=True) if outcome != "conflict"]
        with rt.sessions() as session, session.begin():
            logged = session.execute(select(AuditEntry.action, AuditEntry.record_ids)
                                     .where(AuditEntry.action.in_([str(Tag.RECORD_REVOKED),
                                                                   str(Tag.RECORD_CORRECTED)]))).all()
        mine = [action for action, ids in logged if ids[0] == record_id]
        # One revocation of the old record either way; a correction besides it only if a correction won.
        assert sorted(mine) == sorted([str(Tag.RECORD_REVOKED)] + [str(Tag.RECORD_CORRECTED)] * won.count("correct"))
