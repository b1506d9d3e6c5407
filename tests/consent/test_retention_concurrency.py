"""The second clock under real concurrency on PostgreSQL: two expiry runs at once, and an erasure racing a query."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from sqlalchemy import func, select

from audit.entries import AuditEntry
from audit.tags import Tag
from audit.tx import AccessContext
from consent.errors import ConsentRevoked, QueryRefused
from gateway.runtime import Runtime
from gateway.usecases import clients, consents, retention
from gateway.usecases import records as record_use
from gateway.web.schemas import RecordIn
from tests.conftest import People, penalty
from tests.consent.test_concurrency import _one_use_grant, committed
from vault.models import Record
from vault.types import Provider

__all__ = ["committed"]


def _past_retention(rt: Runtime, seed: int, count: int) -> set[str]:
    """Store `count` general penalties decided in 2015: shown to 2016, kept to 2021, past retention now (2026)."""
    made = clients.add_client(rt, role="provider", name="bureau", categories=["ADMINISTRATIVE_PENALTY_GENERAL"],
                              kind=None, agency="any_competent_authority")
    who = Provider(made.client_id, frozenset(made.categories), "any_competent_authority")
    access = AccessContext(actor=made.client_id, role="provider")
    people = People(seed)
    return {record_use.submit(rt, who, RecordIn().load(penalty(people.new(), date(2015, 3, 1))), None, access).id
            for _ in range(count)}


def test_two_expiry_runs_at_once_erase_each_record_once_with_one_entry_each(committed: Runtime) -> None:
    rt = committed
    for round_ in range(3):  # several races, so that a check-then-write bug cannot slip through on lucky timing
        ids = _past_retention(rt, 500 + round_, 11)
        start = threading.Barrier(2)

        def run(_: int, start: threading.Barrier = start) -> dict[str, int]:
            start.wait(timeout=10)
            return retention.expire(rt, batch=2).erased

        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(run, range(2)))
        assert sum(r.get("ADMINISTRATIVE_PENALTY_GENERAL", 0) for r in runs) == len(ids), (round_, runs)
        with rt.sessions() as session, session.begin():
            left = session.execute(select(func.count()).select_from(Record)
                                   .where(Record.id.in_(ids), Record.erased_at.is_(None))).scalar_one()
            erased = list(session.execute(select(AuditEntry.record_ids)
                                          .where(AuditEntry.action == Tag.RECORD_ERASED)).scalars())
        assert left == 0
        told = [record_id for record_ids in erased for record_id in record_ids if record_id in ids]
        assert sorted(told) == sorted(ids), round_  # every record once: no record twice, none missed


def test_an_erasure_racing_a_query_for_the_same_person_gives_an_honest_answer(committed: Runtime) -> None:
    rt = committed
    for round_ in range(6):
        seed = 600 + round_
        institution_id, consent_id = _one_use_grant(rt, seed=seed)
        citizen_id = People(seed).new()
        ref = rt.vault.subject_ref(citizen_id)
        start = threading.Barrier(2)

        def query(institution_id: str = institution_id, consent_id: str = consent_id,
                  start: threading.Barrier = start) -> str:
            start.wait(timeout=10)
            try:
                report = consents.serve_query(rt.uow, rt.vault, rt.policy, consents.Query(institution_id, consent_id))
            except ConsentRevoked:
                return "refused"
            except QueryRefused as exc:  # any other refusal is not an honest answer to this race
                return f"refused as {exc.code}"
            return "released" if report.report["records"] else "released nothing"

        def erase(citizen_id: str = citizen_id, start: threading.Barrier = start) -> str:
            start.wait(timeout=10)
            retention.erase_subject(rt, retention.EraseSubject(citizen_id, "法院判决 (2026) 删除", "operator"))
            return "erased"

        with ThreadPoolExecutor(2) as pool:
            answered, erased = pool.submit(query), pool.submit(erase)
            outcome = answered.result()  # an error (a 500 to the institution) would be raised here
            assert erased.result() == "erased"
        assert outcome in ("released", "refused"), outcome
        with rt.sessions() as session, session.begin():
            order = list(session.execute(
                select(AuditEntry.action).where(AuditEntry.subject_ref == ref, AuditEntry.action.in_(
                    [Tag.QUERY_RELEASED, Tag.QUERY_DENIED, Tag.SUBJECT_ERASED])).order_by(AuditEntry.seq)).scalars())
        # Released before the erasure (and recorded so), or refused after it: never data after erasure.
        expected = ([Tag.QUERY_RELEASED, Tag.SUBJECT_ERASED] if outcome == "released"
                    else [Tag.SUBJECT_ERASED, Tag.QUERY_DENIED])
        assert order == expected, (round_, order)
