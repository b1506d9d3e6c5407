"""The unit of work: one transaction per request, opened here and nowhere below.

`with uow.begin(access) as tx:` opens the request's transaction; the use case reads and writes
through `tx` and records what it did with `tx.record`; leaving the block appends those entries as
the last statements and commits. An exception rolls everything back, entries included. A refusal
is then recorded in its own short transaction, `uow.refusal(access)`, so that it survives.

On SQLite a transaction that will write takes the write lock at BEGIN (a deferred one that reads
first cannot always upgrade under concurrency); `readonly=True` begins deferred, for use cases
that record nothing. SQLite has one writer, so a hot use case that reads much and writes little
(the authorised query) asks for `reads_first=True`: it reads in a deferred transaction, outside
the lock, and `tx.write()` then ends that snapshot and takes the lock (BEGIN IMMEDIATE) for the
writes, which re-check in their own statements what the reads found. On PostgreSQL, and inside a
test's transaction, it is one transaction as any other. `reading_first` is for a use case that
reads much and writes only its entries (the person's own report): it reads first the same way,
and under the lock checks that what was read still holds at the time of the write (else it
reads again, locked) before its entries are appended.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from copy import copy
from dataclasses import replace
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from audit import entries
from audit.clock import Clock
from audit.entries import EntryDraft
from audit.errors import AuditAppendFailed
from audit.tx import AccessContext, Tx
from gateway.database import begin_writing, refuses_writes, sqlite_changes
from gateway.errors import DatabaseReadOnly

READ_ONLY = "the database is read-only, so nothing can be written or recorded now and this request was not carried out"


T = TypeVar("T")


class ReadOnlyViolation(RuntimeError):
    """Raised when a read-only unit of work records an entry: the use case must open a writing one."""


class UnitOfWork:
    """Opens the transactions of use cases: writing, read-only, and the refusal after a rollback."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock,
                 readonly_sessions: sessionmaker[Session] | None = None,
                 writers: Callable[[], AbstractContextManager[object]] = nullcontext,
                 reads_apart: bool = False) -> None:
        self.sessions = sessions
        self.readonly_sessions = readonly_sessions or sessions
        self.clock = clock
        self.writers = writers
        self.reads_apart = reads_apart  # SQLite: see reading_first
        self.appended: Callable[[Sequence[EntryDraft]], object] | None = None
        self.staff: tuple[str, str] | None = None  # (staff id, organisation) that for_staff stamps on entries

    def for_staff(self, staff_id: str, organisation: str) -> UnitOfWork:
        """Return this unit of work for one member of staff acting for `organisation` in the portal.

        Every transaction it opens whose author is the organisation (the use cases build that context
        themselves, from the client id) records the member of staff too, in each entry's detail; so the
        use cases of the API serve the portal's staff unchanged, and none can forget to say who acted.
        Entries written under another author (the system's sweep of overdue steps) are left as they are.
        """
        acting = copy(self)
        acting.staff = (staff_id, organisation)
        return acting

    def _stamped(self, access: AccessContext) -> AccessContext:
        if self.staff is not None and access.actor == self.staff[1] and access.staff is None:
            return replace(access, staff=self.staff[0])
        return access

    @contextmanager
    def begin(self, access: AccessContext, *, readonly: bool = False, reads_first: bool = False) -> Iterator[Tx]:
        """Yield the request's transaction; on leaving, append its entries last and commit.

        `reads_first`: the use case reads, then calls `tx.write()` before its first write (see the module); a
        read-only unit of work never writes, so asking for both is a mistake in the use case (ValueError).
        """
        if readonly and reads_first:
            raise ValueError("a read-only unit of work has no write to read first for")
        access = self._stamped(access)
        deferred = readonly or reads_first
        appended: Sequence[EntryDraft] = ()
        try:
            # The gate, when `tx.write()` takes it, is let go after the commit: the stack is left last.
            with ExitStack() as held, (nullcontext() if deferred else self.writers()), \
                    (self.readonly_sessions if deferred else self.sessions)() as session, session.begin():
                apart = reads_first and self._apart(session)
                changes = sqlite_changes(session.connection()) if apart else 0
                tx = Tx(session, self.clock, access,
                        _to_write=[lambda: self._writing(held, session, changes)] if apart else None, apart=apart)
                yield tx
                if tx.recorded:
                    if readonly:
                        raise ReadOnlyViolation("a read-only unit of work cannot record audit entries")
                    appended = tx.drafts if self.appended is not None else ()
                    tx.append_recorded()
        except (SQLAlchemyError, AuditAppendFailed) as exc:
            # A read-only file or replica is the operator's to fix, not a fault in the request: say so (503).
            if refuses_writes(exc):
                raise DatabaseReadOnly(READ_ONLY) from exc
            raise
        if appended and self.appended is not None:
            self.appended(appended)

    @staticmethod
    def _apart(session: Session) -> bool:
        conn = session.connection()
        # PostgreSQL locks rows, not the database; a test's savepoint is inside its own transaction.
        return conn.dialect.name == "sqlite" and not conn.in_nested_transaction()

    def _writing(self, held: ExitStack, session: Session, changes: int) -> None:
        held.enter_context(self.writers())
        begin_writing(session.connection(), changes)

    def reading_first(self, access: AccessContext, read: Callable[[Tx], T],
                      unchanged: Callable[[Tx, int, T], bool]) -> T:
        """Return `read(tx)` with the entries it recorded appended, as `begin` would; on SQLite the reads run
        before the write lock is taken.

        SQLite has one writer at a time, and a writing transaction takes the lock at BEGIN: a self report held
        it for all of its reads, decryption and shaping (about 2.5 ms in process), so two workers took turns
        where they could have worked side by side. With `reads_apart` the reads run first, in a snapshot that
        holds no lock (`begin(reads_first=True)`); then `tx.write()` takes the lock and `unchanged(tx, seq,
        found)` (`seq`: the newest entry the snapshot held) says whether what was read still holds: if so the
        same entries are appended, else they are dropped and `read` runs again, now under the lock, as one
        transaction would have. A read that recorded nothing writes nothing. Elsewhere (PostgreSQL, whose
        reads take no lock and whose counter is bumped last; a test's transaction) it is one transaction.
        """
        if not self.reads_apart:
            with self.begin(access) as tx:
                return read(tx)
        with self.begin(access, reads_first=True) as tx:
            # The first read: the snapshot starts here. Inside a test's transaction the reads are not apart, but
            # the check below runs all the same, so what a test changes between the reads and the write counts.
            seq = entries.newest_seq(tx.session)
            found = read(tx)
            if not tx.recorded:
                return found  # nothing to record (nothing was released): no write at all
            tx.write()
            # What is checked now, and read again if need be, holds at the time of the write: a session may have
            # run out while the reads ran or the write waited for the lock.
            tx.now = max(tx.now, self.clock.now())
            if not unchanged(tx, seq, found):
                tx.discard_recorded()
                tx.session.expire_all()  # the second read sees the rows as they are now, not as the first read did
                found = read(tx)
        return found

    @contextmanager
    def refusal(self, access: AccessContext) -> Iterator[Tx]:
        """Yield a short transaction for recording a refusal after the request's work was rolled back."""
        with self.begin(access) as tx:
            yield tx
