"""What the person's applications to an agency share: a data file, a period in working days, a status moved once.

Objections, credit repair, voluntary registrations (declarations) and credit commitments are each an
application from the person decided by an agency within working days. Each keeps its own steps; this module
holds the pieces they have in common, so that a rule about them (one decision wins, periods are 1 to 60
working days with a reason) is written once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import select, update

from audit.tx import Tx
from consent.entry import window_end
from consent.errors import ConsentError

MAX_WORKING_DAYS = 60


@cache
def shipped(name: str) -> dict[str, Any]:
    """Return a shipped data file of ``consent/data`` (read once per process)."""
    loaded: dict[str, Any] = json.loads((resources.files("consent") / "data" / name).read_text(encoding="utf-8"))
    return loaded


@dataclass(frozen=True, slots=True)
class WorkingDays:
    """How many working days a step may take from the day it opened, why, and whether that is confirmed."""

    days: int
    reason: str
    confirmed: bool

    def deadline(self, opened: date) -> date:
        """Return the last working day (CST) on which the step opened on `opened` may be taken."""
        return window_end(opened, self.days)

    def to_public(self) -> dict[str, Any]:
        return {"working_days": self.days, "reason": self.reason, "confirmed": self.confirmed}


def parse_working_days(raw: Mapping[str, Any], where: str, invalid: type[ConsentError]) -> WorkingDays:
    """Return a period of 1 to 60 working days with its reason; raise `invalid` naming `where` otherwise."""
    days = raw["working_days"]
    if type(days) is not int or not 0 < days <= MAX_WORKING_DAYS:
        raise invalid(f"{where}.working_days must be 1 to {MAX_WORKING_DAYS} working days")
    if not str(raw["reason"]).strip():
        raise invalid(f"{where}.reason is empty")
    return WorkingDays(days, str(raw["reason"]), bool(raw["confirmed"]))


def move(tx: Tx, table: Any, row_id: str, expected: str, out_of_order: Callable[[str], ConsentError],
         **values: Any) -> None:
    """Move an application on from status `expected`, or raise `out_of_order(current status)`.

    A conditional UPDATE: of two agency requests at once, the second finds the status changed and loses.
    """
    done = tx.session.execute(update(table).where(table.id == row_id, table.status == expected)
                              .values(**values).execution_options(synchronize_session=False))
    if getattr(done, "rowcount", 0) != 1:
        current = tx.session.execute(select(table.status).where(table.id == row_id)).scalar_one()
        raise out_of_order(current)
