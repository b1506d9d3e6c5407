"""Concurrent freezes and unfreezes of one file on PostgreSQL, with real parallel transactions."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from audit.entries import AuditEntry
from audit.tags import Tag
from consent.models import Freeze
from gateway.runtime import Runtime
from gateway.usecases import consents, people
from tests.conftest import People
from tests.consent.test_concurrency import committed

__all__ = ["committed"]


def test_concurrent_freezes_and_unfreezes_end_in_one_state_that_the_audit_log_tells(
    committed: Runtime,
) -> None:
    rt = committed
    citizen_id = People(400).new()
    people.enroll(rt, citizen_id, None, "counter")
    ref = rt.vault.subject_ref(citizen_id)
    calls = 8
    for round_ in range(5):  # several races, so that a check-then-write bug cannot slip through on lucky timing
        start = threading.Barrier(calls)

        def call(i: int, start: threading.Barrier = start) -> bool:
            start.wait(timeout=10)
            if i % 2:
                return consents.unfreeze(rt.uow, ref).frozen
            return consents.freeze(rt.uow, ref, revoke_grants=False).frozen

        with ThreadPoolExecutor(calls) as pool:
            answers = list(pool.map(call, range(calls)))
        assert answers.count(True) == calls // 2, round_  # each call answers with the state it left
        with rt.sessions() as session, session.begin():
            frozen = session.execute(select(Freeze).where(Freeze.subject_ref == ref)).scalar_one_or_none()
            changes = list(session.execute(
                select(AuditEntry.action).where(AuditEntry.subject_ref == ref,
                                                AuditEntry.action.in_([Tag.FILE_FROZEN, Tag.FILE_UNFROZEN]))
                .order_by(AuditEntry.seq)).scalars())
        # Only a call that changed the state recorded it, in the order the changes were made: the log
        # alternates, starts with a freeze, and its last word is the state the table holds.
        assert changes, round_
        assert changes[0] == Tag.FILE_FROZEN
        assert all(a != b for a, b in itertools.pairwise(changes)), changes
        assert (changes[-1] == Tag.FILE_FROZEN) == (frozen is not None), (changes, frozen)
        assert consents.freeze_state(rt.uow, ref).frozen == (frozen is not None)
