"""An objection filed at the moment a listing's window closes meets the clock that would put it into effect,
under real concurrency on PostgreSQL: exactly one of them wins, and the outcome is honest.

Either the objection is in (the listing stays proposed, waiting for its decision) or the listing took effect
first (the objection is refused, nothing of it stored). Never a listing in effect over a waiting objection.
The conditional UPDATEs on the listing's row are what hold: the racers pass the same checks before either writes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from audit.clock import FrozenClock
from audit.tx import AccessContext
from consent.errors import ListingStepOutOfOrder, ObjectionOpen
from gateway.database import make_engine, upgrade
from gateway.runtime import Runtime, build_runtime
from gateway.usecases import clients, people
from gateway.usecases import listings as use
from gateway.usecases import records as record_use
from gateway.web.schemas import RecordIn
from tests.conftest import NOW, People, drop_pg_database, penalty, pg_database, pg_url, settings_for_tests
from vault.models import Listing, Objection
from vault.types import Provider
from vault.vault import Vault

RACERS = 6


@pytest.fixture
def committed(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on its own PostgreSQL database whose use cases really commit."""
    name, admin = pg_database("xinyong_lstconc")
    engine = make_engine(pg_url(name), pool_size=RACERS + 2)
    upgrade(engine)
    sessions = sessionmaker(bind=engine, autobegin=False, expire_on_commit=False)
    rt = build_runtime(settings_for_tests(tmp_path), clock=FrozenClock(NOW), engine=engine, sessions=sessions,
                       vault=Vault.generate())
    yield rt
    engine.dispose()
    drop_pg_database(admin, name)


def _agency(rt: Runtime) -> Provider:
    made = clients.add_client(rt, role="provider", name="bureau", categories=["ADMINISTRATIVE_PENALTY_SERIOUS"],
                              kind=None, agency="any_competent_authority", level="county")
    return clients.provider(rt, made.client_id)


def _proposed(rt: Runtime, agency: Provider, seed: int) -> tuple[str, str]:
    """Return (the person's blind index, a black listing proposed today on their serious record)."""
    citizen_id = People(seed).new()
    body = RecordIn().load(penalty(citizen_id, date(2025, 6, 1), category="ADMINISTRATIVE_PENALTY_SERIOUS"))
    stored = record_use.submit(rt, agency, body, None, AccessContext(actor=agency.client_id, role="provider"))
    people.enroll(rt, citizen_id, None, "counter")
    proposed = use.propose(rt, use.ProposeListing(agency, stored.id, "black", "拒不履行", "依据",
                                                  ("restrict_flights",)))
    return rt.vault.subject_ref(citizen_id), str(proposed["id"])


def _at_once(calls: list[Callable[[], str]]) -> list[str]:
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], str]) -> str:
        start.wait(timeout=10)
        try:
            return call()
        except (ListingStepOutOfOrder, ObjectionOpen) as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _state(rt: Runtime, listing_id: str) -> tuple[str, bool, int]:
    with rt.sessions() as session, session.begin():
        status, waiting, record_id = session.execute(select(Listing.status, Listing.objection_open, Listing.record_id)
                                                     .where(Listing.id == listing_id)).one()
        objections = session.execute(select(func.count()).select_from(Objection)
                                     .where(Objection.record_id == record_id)).scalar_one()
    return status, waiting, objections


def test_an_objection_and_the_clock_at_the_window_close_give_one_honest_outcome(committed: Runtime) -> None:
    rt = committed
    agency = _agency(rt)
    for round_ in range(6):  # several races, so that lucky timing cannot hide a check-then-write
        assert isinstance(rt.clock, FrozenClock)
        rt.clock.set(NOW + timedelta(days=30 * round_))
        ref, listing_id = _proposed(rt, agency, 700 + round_)
        rt.clock.set(NOW + timedelta(days=30 * round_ + 10))  # the window closed: both may act now
        objected, clocked = _at_once([
            lambda ref=ref, listing_id=listing_id: str(use.object_to(rt, use.ObjectToListing(
                ref, listing_id, "我不应被列入"))["status"]),
            lambda listing_id=listing_id: "took_effect" if listing_id in use.run_clock(rt)["took_effect"] else "none",
        ])
        status, waiting, objections = _state(rt, listing_id)
        if objected == "proposed":  # the objection came first: the listing waits for its decision
            assert (clocked, status, waiting, objections) == ("none", "proposed", True, 1)
        else:  # the clock came first: the objection is refused and leaves nothing behind
            assert (objected, clocked, status, waiting, objections) == (
                "ListingStepOutOfOrder", "took_effect", "in_effect", False, 0)


def test_concurrent_objections_to_one_listing_file_exactly_one(committed: Runtime) -> None:
    rt = committed
    ref, listing_id = _proposed(rt, _agency(rt), 800)
    outcomes = _at_once([lambda n=n: str(use.object_to(rt, use.ObjectToListing(ref, listing_id, f"异议{n}"))["status"])
                         for n in range(RACERS)])
    assert sorted(outcomes).count("proposed") == 1
    assert set(outcomes) - {"proposed"} <= {"ListingStepOutOfOrder", "ObjectionOpen"}
    assert _state(rt, listing_id) == ("proposed", True, 1)
