"""Limits on failed attempts to authenticate: the data in ``gateway/data/limits.json``, and the wait they cost.

Failures are kept as rows (who was named, from which address, when). A limit counts the failures in a sliding
window, over one of three scopes:

- ``account_at_address``: the account (a person's blind index, or a client id) named from this address;
- ``address``: every failure from this address;
- ``account_across_addresses``: the account from every address, holding back only an address that has itself
  failed for the account within the window.

No scope holds back an address for failures it did not send for that account, except ``address`` (whose
count belongs to whoever shares it): someone else's wrong guesses never lock the right password out from the
person's own address. A limit is reached when the window holds ``failures`` of them, and lifts the moment
enough of them are older than the window; that moment is the Retry-After of the refusal.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any, Literal, cast, get_args

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import QueryableAttribute, Session

Scope = Literal["account_at_address", "address", "account_across_addresses"]
_SCOPES: tuple[str, ...] = get_args(Scope)
MAX_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class Limit:
    """At most `failures` failures in `window` over `scope`, and why."""

    scope: Scope
    failures: int
    window: timedelta
    reason: str


@dataclass(frozen=True)
class Limits:
    """The limits of each kind of authentication: a person's login and activation, a client's, and a member of
    staff's login and enrolment."""

    version: str
    login: tuple[Limit, ...]
    client_authentication: tuple[Limit, ...]
    staff_login: tuple[Limit, ...]


@dataclass(frozen=True)
class FailureLog:
    """Where failures of one kind are kept: the columns holding the account named, the address and the time."""

    account: QueryableAttribute[Any]
    address: QueryableAttribute[Any]
    at: QueryableAttribute[Any]


def load(text: str) -> Limits:
    """Return the limits in a limits.json document; raise ValueError naming what is wrong."""
    doc = json.loads(text)
    return Limits(version=str(doc["version"]), login=_limits(doc, "login"),
                  client_authentication=_limits(doc, "client_authentication"),
                  staff_login=_limits(doc, "staff_login"))


def _limits(doc: dict[str, Any], kind: str) -> tuple[Limit, ...]:
    out = []
    for n, item in enumerate(doc[kind]["limits"]):
        where = f"{kind}.limits[{n}]"
        if item.get("scope") not in _SCOPES:
            raise ValueError(f"{where}.scope must be one of {', '.join(_SCOPES)}")
        failures, seconds, reason = item.get("failures"), item.get("window_seconds"), item.get("reason")
        if not isinstance(failures, int) or isinstance(failures, bool) or failures < 1:
            raise ValueError(f"{where}.failures must be a whole number of at least 1")
        if not isinstance(seconds, int) or isinstance(seconds, bool) or not 1 <= seconds <= MAX_WINDOW.total_seconds():
            raise ValueError(f"{where}.window_seconds must be a whole number of seconds up to one day")
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"{where}.reason must say why")
        out.append(Limit(cast(Scope, item["scope"]), failures, timedelta(seconds=seconds), reason))
    return tuple(out)


@cache
def shipped() -> Limits:
    """Return the limits shipped in ``gateway/data/limits.json``."""
    return load((resources.files("gateway") / "data" / "limits.json").read_text(encoding="utf-8"))


def serialise(session: Session, *keys: str) -> None:
    """Make concurrent checks of the same `keys` take turns until this transaction ends.

    The check and the counting of an attempt must be one step, or parallel attempts would all pass the check
    before any is counted. On PostgreSQL each key takes a transaction-scoped advisory lock, always in the
    order given (accounts before addresses), so two checks never wait on each other in a circle. On SQLite a
    writing transaction holds the database's write lock from its start, which already serialises them.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in keys:
        number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        session.execute(select(func.pg_advisory_xact_lock(number)))


def wait_seconds(session: Session, log: FailureLog, limits: tuple[Limit, ...], account: str | None,
                 address: str, now: datetime) -> int:
    """Return how many seconds must pass before `address` may try `account` again; 0 if it may now.

    With `account` None (a name that is nobody's), only the address is counted.
    """
    wait = timedelta(0)
    here = log.address == address
    for limit in limits:
        since = now - limit.window
        if limit.scope == "address":
            until = _lifts(session, log, here, limit, since)
        elif account is None:
            continue
        elif limit.scope == "account_at_address":
            until = _lifts(session, log, (log.account == account) & here, limit, since)
        else:
            until = _lifts(session, log, log.account == account, limit, since)
            if until is not None:
                mine = _nth_newest(session, log, (log.account == account) & here, 1, since)
                until = None if mine is None else min(until, mine + limit.window)
        if until is not None:
            wait = max(wait, until - now)
    return math.ceil(wait.total_seconds()) if wait > timedelta(0) else 0


def _lifts(session: Session, log: FailureLog, where: ColumnElement[bool], limit: Limit,
           since: datetime) -> datetime | None:
    """Return when the limit stops holding (its `failures`-th newest failure leaves the window); None if it
    does not hold now."""
    nth = _nth_newest(session, log, where, limit.failures, since)
    return None if nth is None else nth + limit.window


def _nth_newest(session: Session, log: FailureLog, where: ColumnElement[bool], n: int,
                since: datetime) -> datetime | None:
    found: datetime | None = session.execute(
        select(log.at).where(where, log.at > since).order_by(log.at.desc()).offset(n - 1).limit(1)).scalar()
    return found
