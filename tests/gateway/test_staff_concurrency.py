"""One TOTP code sent by several logins at once on PostgreSQL, with real parallel transactions: it opens one
session, however the requests interleave (the accepted step is a compare-and-set)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from audit.clock import FrozenClock
from gateway.errors import Unauthenticated
from gateway.runtime import Runtime
from gateway.usecases import clients
from gateway.usecases import staff as use
from tests.consent.test_concurrency import committed

__all__ = ["committed"]
PASSWORD = "a staff passphrase, long enough"


def test_one_code_sent_by_parallel_logins_opens_one_session(committed: Runtime) -> None:
    rt = committed
    clock = rt.clock
    assert isinstance(clock, FrozenClock)
    org = clients.add_client(rt, role="auditor", name="审计", categories=[], kind=None).client_id
    added = use.add_staff(rt, org, "王审计")
    started = use.start_enrolment(rt, added.staff_id, added.enrolment_code, PASSWORD, "198.51.100.1")
    use.confirm_enrolment(rt, added.staff_id, started.token, use.code_at(started.secret, clock.now()), "198.51.100.1")
    calls = 4
    for round_ in range(3):  # several races, so that a check-then-write bug cannot slip through on lucky timing
        clock.advance(seconds=30)
        code = use.code_at(started.secret, clock.now())
        # Each login from its own address, so that the failures of the losers hold back none of the others.
        pending = [use.check_password(rt, added.staff_id, PASSWORD, f"203.0.113.{round_ * 10 + i}")
                   for i in range(calls)]
        start = threading.Barrier(calls)

        def call(i: int, start: threading.Barrier = start, code: str = code,
                 pending: list[use.PendingLogin] = pending, round_: int = round_) -> bool:
            start.wait(timeout=10)
            try:
                use.check_code(rt, pending[i].token, code, f"203.0.113.{round_ * 10 + i}")
            except Unauthenticated:
                return False
            return True

        with ThreadPoolExecutor(calls) as pool:
            answers = list(pool.map(call, range(calls)))
        assert answers.count(True) == 1, (round_, answers)
