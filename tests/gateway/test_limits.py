"""The limits on failed authentication are data (each with its scope, count, window and reason), and hold
under parallel attempts on PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from audit.clock import FrozenClock
from gateway.database import make_engine, upgrade
from gateway.errors import RateLimited, Unauthenticated
from gateway.limits import load, shipped
from gateway.models import ClientAuthFailure, LoginFailure
from gateway.runtime import Runtime, build_runtime
from gateway.usecases import clients as client_use
from gateway.usecases import people
from gateway.usecases.failures import purge_failures
from gateway.web.app import create_app
from tests.conftest import NOW, People, drop_pg_database, pg_database, pg_url, settings_for_tests
from vault.vault import Vault


def _doc() -> dict[str, Any]:
    return dict(json.loads((resources.files("gateway") / "data" / "limits.json").read_text(encoding="utf-8")))


def test_the_shipped_limits_cover_each_scope_of_each_kind_with_a_reason() -> None:
    limits = shipped()
    for kind in (limits.login, limits.client_authentication, limits.staff_login):
        assert {limit.scope for limit in kind} == {"account_at_address", "address", "account_across_addresses"}
        assert all(limit.reason.strip() and limit.failures >= 1 for limit in kind)
    login = {limit.scope: limit for limit in limits.login}
    assert (login["account_at_address"].failures, login["account_at_address"].window) == (5, timedelta(minutes=15))
    # Spread guessing must take more failures than one address may make, or it would hold back one address.
    assert login["account_across_addresses"].failures > login["account_at_address"].failures


@pytest.mark.parametrize(("change", "message"), [
    ({"scope": "account"}, r"login.limits\[0\].scope"),
    ({"failures": 0}, r"login.limits\[0\].failures"),
    ({"failures": True}, r"login.limits\[0\].failures"),
    ({"window_seconds": 86401}, r"login.limits\[0\].window_seconds"),
    ({"window_seconds": 1.5}, r"login.limits\[0\].window_seconds"),
    ({"reason": " "}, r"login.limits\[0\].reason"),
])
def test_a_limit_without_a_known_scope_a_count_a_window_or_a_reason_is_refused(
        change: dict[str, Any], message: str) -> None:
    doc = _doc()
    doc["login"]["limits"][0].update(change)
    with pytest.raises(ValueError, match=message):
        load(json.dumps(doc))



def test_failures_are_forgotten_once_no_window_counts_them(rt: Runtime, clock: FrozenClock) -> None:
    limits = rt.settings.failure_limits
    longest = max(limit.window for limit in limits.login)
    with rt.sessions() as session, session.begin():
        session.add_all([LoginFailure(account_key="old", address="203.0.113.1", at=NOW - longest),
                         LoginFailure(account_key="new", address="203.0.113.1", at=NOW - timedelta(seconds=1)),
                         ClientAuthFailure(client_id=None, address="203.0.113.1", at=NOW - timedelta(days=1))])
    assert purge_failures(rt.uow, limits) == 2
    with rt.sessions() as session, session.begin():
        assert session.execute(select(LoginFailure.account_key)).scalars().all() == ["new"]
        assert session.execute(select(ClientAuthFailure)).first() is None


# --- real concurrency on PostgreSQL ------------------------------------------------------------------------


@pytest.fixture
def committed(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on its own PostgreSQL database whose use cases really commit."""
    name, admin = pg_database("xinyong_limits")
    engine = make_engine(pg_url(name), pool_size=8, max_overflow=8)
    upgrade(engine)
    sessions = sessionmaker(bind=engine, autobegin=False, expire_on_commit=False)
    rt = build_runtime(settings_for_tests(tmp_path), clock=FrozenClock(NOW), engine=engine, sessions=sessions,
                       vault=Vault.generate())
    yield rt
    engine.dispose()
    drop_pg_database(admin, name)


def _at_once(count: int, attempt: Callable[[], str]) -> list[str]:
    start = threading.Barrier(count)

    def one(_: int) -> str:
        start.wait(timeout=20)
        return attempt()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_parallel_wrong_passwords_from_one_address_get_no_more_tries_than_the_limit(committed: Runtime) -> None:
    rt = committed
    citizen_id = People(41).new()
    people.enroll(rt, citizen_id, None, "counter")
    failures = next(limit.failures for limit in rt.settings.failure_limits.login
                    if limit.scope == "account_at_address")

    def attempt() -> str:
        try:
            people.login(rt, citizen_id, "a wrong guess", "203.0.113.66")
        except RateLimited:
            return "held back"
        except Unauthenticated:
            return "tried"
        return "logged in"

    outcomes = _at_once(failures + 7, attempt)
    assert outcomes.count("tried") == failures
    assert outcomes.count("held back") == 7


def test_parallel_wrong_client_secrets_from_one_address_get_no_more_tries_than_the_limit(
        committed: Runtime) -> None:
    rt = committed
    made = client_use.add_client(rt, role="provider", name="bureau", categories=["ADMINISTRATIVE_PENALTY_GENERAL"],
                                 kind=None, agency="any_competent_authority")
    app = create_app({"TESTING": True}, runtime=rt)
    failures = next(limit.failures for limit in rt.settings.failure_limits.client_authentication
                    if limit.scope == "account_at_address")

    def attempt() -> str:
        response = app.test_client().post("/oauth/token", data={"grant_type": "client_credentials"},
                                          auth=(made.client_id, "wrong"), environ_base={"REMOTE_ADDR": "203.0.113.66"})
        return str(response.status_code)

    outcomes = _at_once(failures + 6, attempt)
    assert outcomes.count("401") == failures
    assert outcomes.count("429") == 6
