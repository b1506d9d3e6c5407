"""Display periods (展示期限): a record past its period is no longer shown or used.

A record's `display_until` is the first day it is no longer shown; None means it is shown until the
agency that filed it ends it (consent.periods). Days are counted in China
Standard Time, where the decisions are made, so a record stops being shown at 00:00 CST of that
day, whatever the server's clock zone.
"""

from __future__ import annotations

from datetime import date, datetime, time

from audit.clock import CST
from consent.catalogue import Category

THIRD_PARTY_SCOPES = frozenset({"authorised_query", "public"})


def starts(day: date) -> datetime:
    """Return the instant (aware) at which `day` begins in China Standard Time."""
    return datetime.combine(day, time(0), tzinfo=CST)


def in_display_period(display_from: date, display_until: date | None, today: date) -> bool:
    """Return whether `today` (a day in CST) lies inside [display_from, display_until); None: no end yet.

    A day, not an instant: the period starts and ends at 00:00 CST (`starts`), so an instant lies inside it
    exactly when its day in CST does. The self report asks this of every record, and two `starts` a record
    cost more than the comparison.
    """
    return display_from <= today and (display_until is None or today < display_until)


def visible_to_third_parties(
    category: Category, status: str, display_from: date, display_until: date | None, today: date
) -> bool:
    """Return whether anyone but the person may see this record on `today` (CST), with consent, per its scope."""
    return (
        status == "active"
        and category.share_scope in THIRD_PARTY_SCOPES
        and in_display_period(display_from, display_until, today)
    )
