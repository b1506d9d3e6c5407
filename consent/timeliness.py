"""Publication timeliness (DISC-4): some records are due within a number of working days of their decision.

A category may state a `publication_deadline` in the catalogue (licences and penalties: 7 working days).
Working days are those of mainland China, holidays and the weekends swapped for them included
(chinesecalendar, through `audit.review.is_working_day`); the decision day itself is not counted, so the
record is due by the end of the n-th working day after it, a China Standard Time date. A late record is
still accepted, since a late publication is better than none, but it is flagged for the auditors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from audit.review import is_working_day

if TYPE_CHECKING:
    from consent.catalogue import DocumentReader

__all__ = ["PublicationDeadline", "due_date", "parse_deadline"]

# A deadline is a handful of working days; anything longer is a mistake in the data.
MAX_WORKING_DAYS = 60


@dataclass(frozen=True)
class PublicationDeadline:
    """A category's records are due within `working_days` working days of the decision."""

    working_days: int
    reason: str

    def due(self, decided: date) -> date:
        """Return the last day (CST) on which a record decided on `decided` is on time."""
        return due_date(decided, self.working_days)

    def to_public(self) -> dict[str, object]:
        return {"working_days": self.working_days, "reason": self.reason}


@lru_cache(maxsize=4096)
def due_date(decided: date, working_days: int) -> date:
    """Return the `working_days`-th working day after `decided` (the decision day is not counted)."""
    # Cached: an import asks for the same few hundred decision dates thousands of times, at 8 µs a walk.
    day, left = decided, working_days
    while left:
        day += timedelta(days=1)
        left -= is_working_day(day)
    return day


def parse_deadline(r: DocumentReader, key: str) -> PublicationDeadline:
    """Return the deadline under `key`: a whole number of working days and its reason."""
    from consent.catalogue import DocumentReader

    d = DocumentReader(r.value[key], f"{r.where}: {key}", ("working_days", "reason"), ("internal_notes",))
    days = d.value["working_days"]
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_WORKING_DAYS:
        d.fail("working_days", f"must be a whole number from 1 to {MAX_WORKING_DAYS}")
    d.notes()
    return PublicationDeadline(days, d.text("reason"))
