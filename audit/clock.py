"""Time for every context: one clock that tests can move, and a column type that keeps UTC.

Display periods, consent validity and report deadlines are all about time, so no module
reads the system clock directly; they take a `Clock`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Protocol

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

CST = timezone(timedelta(hours=8), "CST")
"""China Standard Time: every calendar date of the service (decisions, display periods, deadlines) is a CST date."""


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        """Return the system time in UTC."""
        return datetime.now(UTC)


class FrozenClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, at: datetime) -> None:
        self.at = at.astimezone(UTC)

    def now(self) -> datetime:
        """Return the frozen time."""
        return self.at

    def advance(self, **delta: float) -> None:
        """Move the clock forward by a `timedelta(**delta)`."""
        self.at += timedelta(**delta)

    def set(self, at: datetime) -> None:
        """Jump to `at`."""
        self.at = at.astimezone(UTC)


def today(clock: Clock) -> date:
    """Return today's date in China Standard Time."""
    return clock.now().astimezone(CST).date()


def isoformat_z(at: datetime) -> str:
    """Return `at` as RFC 3339 UTC with microseconds and a `Z`."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite keeps no offset, PostgreSQL keeps it anyway."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
