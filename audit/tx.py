"""The transaction of a unit of work, as every context sees it: a session, a clock and who acts.

A use case opens one `Tx` (the gateway's `uow.begin(access)`) and hands it down; contexts only
read, `add` and `flush` through `tx.session`, and say what happened with `tx.record(...)`. The
entries are appended when the unit of work commits, as the last statements of the transaction:
the gapless counter's lock is then held only from its bump to the commit, and an entry that
cannot be written rolls the whole access back (fail closed). `Tx.record` is the only caller of
the entry append.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from audit import entries
from audit.clock import CST, Clock
from audit.tags import Outcome, Tag


@dataclass(frozen=True, slots=True)
class AccessContext:
    """Who acts, in which role, for which purpose, on which grant or legal basis: the entry's author.

    `staff` names the member of staff (an id of the `staff` table) who acted for the organisation `actor`
    (an institution, a source agency or an auditor) in the portal; their entries then carry it in
    `detail["staff"]`, so that the log answers both "which organisation" (actor) and "which person in it".
    It lives in the detail, not in a column of its own, so that the leaf format, and every leaf already
    written, stays as it is.
    """

    actor: str
    role: str
    purpose: str | None = None
    basis: str | None = None
    request_id: str | None = None
    staff: str | None = None


_SAME: Any = object()
# The member of the entry's detail that names the member of staff who acted for the actor (an organisation).
STAFF_KEY = "staff"


class Tx:
    """One open transaction: its session, its clock, its access context and the entries it will append."""

    __slots__ = ("_pending", "_to_write", "access", "apart", "clock", "now", "session")

    def __init__(self, session: Session, clock: Clock, access: AccessContext,
                 _pending: list[entries.EntryDraft] | None = None, _now: datetime | None = None,
                 _to_write: list[Callable[[], object]] | None = None, apart: bool = False) -> None:
        self.session = session
        self.clock = clock
        self.access = access
        self.now = clock.now() if _now is None else _now
        self._pending: list[entries.EntryDraft] = [] if _pending is None else _pending
        # What `write` still has to do (shared by the views `under` and `acting_as` return): empty once done.
        self._to_write: list[Callable[[], object]] = [] if _to_write is None else _to_write
        # Whether the reads run in a snapshot of their own, before the write lock (SQLite's reads_first): what
        # they found may then have changed by `write`, and the use case re-checks what must still hold.
        self.apart = apart

    def under(self, *, purpose: str | None = _SAME, basis: str | None = _SAME) -> Tx:
        """Return the same transaction acting under a purpose or basis learnt inside it (e.g. the grant)."""
        a = self.access
        access = replace(a, purpose=a.purpose if purpose is _SAME else purpose,
                         basis=a.basis if basis is _SAME else basis)
        return Tx(self.session, self.clock, access, self._pending, self.now, self._to_write, self.apart)

    def acting_as(self, access: AccessContext) -> Tx:
        """Return the same transaction recording under another author (e.g. the app whose login is cut off)."""
        return Tx(self.session, self.clock, access, self._pending, self.now, self._to_write, self.apart)

    def write(self) -> None:
        """Say that the reads are over and the writes begin; a second call does nothing.

        A unit of work opened to read first (`uow.begin(access, reads_first=True)`) has read, on SQLite, in a
        snapshot that does not hold the database's one write lock; here it takes the lock. What the reads
        found may have changed since, so the writes that follow re-check what must still hold in their own
        statements (a conditional `UPDATE`), as they would on PostgreSQL in any case. Elsewhere it does nothing.
        """
        while self._to_write:
            self._to_write.pop(0)()

    def record(self, action: Tag, *, subject_ref: str | None = None, record_ids: Sequence[str] = (),
               outcome: Outcome = Outcome.ALLOWED, reason: str | None = None,
               detail: Mapping[str, Any] | None = None) -> None:
        """Say what this transaction did; the entry is appended, from the access context, at commit."""
        a = self.access
        said = dict(detail or {})
        if a.staff is not None:
            said[STAFF_KEY] = a.staff
        self._pending.append(entries.EntryDraft(
            actor=a.actor, role=a.role, action=action, outcome=outcome, subject_ref=subject_ref,
            purpose=a.purpose, basis=a.basis, record_ids=tuple(record_ids), reason=reason,
            request_id=a.request_id, detail=said))

    @property
    def today(self) -> date:
        """Return the transaction's date in China Standard Time, the date every rule counts in."""
        return self.now.astimezone(CST).date()

    @property
    def recorded(self) -> int:
        """Return how many entries wait for the commit."""
        return len(self._pending)

    @property
    def drafts(self) -> tuple[entries.EntryDraft, ...]:
        """Return the entries that wait for the commit, in order (what the service's metrics count)."""
        return tuple(self._pending)

    def discard_recorded(self) -> None:
        """Forget the entries recorded so far (UnitOfWork.reading_first: what was read has changed before the
        write, so the use case reads again and records anew)."""
        self._pending.clear()

    def append_recorded(self) -> list[int]:
        """Append every recorded entry in order; return their numbers. Called by the unit of work, last.

        Raises AuditAppendFailed: the caller must then roll back, releasing nothing.
        """
        self.write()
        drafts, self._pending[:] = list(self._pending), []
        return entries.append_many(self.session, self.clock, drafts)
