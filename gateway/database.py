"""Engines, sessions and schema migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cached_property
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, DisconnectionError

from audit import dbapi
from audit import heads as _heads  # noqa: F401 - registers the tree-head table on AuditBase.metadata
from audit import tree as _tree  # noqa: F401 - registers the tree tables on AuditBase.metadata
from audit.entries import AuditBase
from consent.models import ConsentBase
from gateway.models import GatewayBase
from vault.models import VaultBase

METADATA: list[MetaData] = [
    AuditBase.metadata,
    VaultBase.metadata,
    ConsentBase.metadata,
    GatewayBase.metadata,
]
MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Return an engine; SQLite gets WAL, full sync, foreign keys and eager write locks."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True, **kwargs)
        _owner_only(engine.url.database)
        _sqlite_setup(engine)
        return engine
    engine = create_engine(url, hide_parameters=True, **kwargs)
    _ping_when_idle(engine)
    return engine


PING_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection at checkout if it sat idle for PING_IDLE_SECONDS, and replace it if dead.

    pool_pre_ping pings at every checkout: a round trip (about 60 us of this process's CPU and a wait) on
    every request. A connection back in the pool less than a second ago was just working; one that waited
    longer (a quiet spell, a database restart, an idle timeout on the way) is pinged as pre_ping would.
    A connection that dies within that second fails its request once, and SQLAlchemy then invalidates
    the pool's older connections.
    """

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < PING_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("a pooled connection idle since its last use did not answer") from exc


_IDLE_SINCE = "xinyong_idle_since"


def _owner_only(database: str | None) -> None:
    """Make the database file readable by its owner only, before SQLite creates it.

    SQLite gives its -wal and -shm files the database file's permissions, so they follow. The files hold
    only ciphertexts and blind indexes, but who could copy them could copy them with the keyring too.
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.is_dir():
        return  # SQLite will say that it cannot open the file
    # An existing file is not opened for writing: one an operator made read-only (0400) is served read-only.
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and (mode := file.stat().st_mode) & 0o077:
            file.chmod(mode & 0o700)  # the owner's bits kept: tightening must not make a read-only file writable


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions, so that BEGIN IMMEDIATE and
        # savepoints work (the pysqlite recipe in the SQLAlchemy docs).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # Content deleted or overwritten is zeroed in the file, not left in free space: an erased record's
        # ciphertext (under a data key that still opens the person's other records) must not stay behind.
        cur.execute("PRAGMA secure_delete=ON")
        # A records import writes ~2,000 pages a batch, spread over indexes of random keys (record ids,
        # idempotency keys, blind indexes). Checkpointing after every 1,000 pages (the default) copied
        # each batch into the database file and synced it, which costs more as the file grows: into a
        # database holding 2 M records, 500-record batches ran at 1,540 records/s with the default and
        # 1,910 with 20,000 pages (80 MB of WAL), interleaved runs on an idle machine. The WAL file is cut
        # back to 256 MB after a checkpoint, so one huge transaction does not leave it huge for good;
        # a limit below the usual WAL size made every checkpoint shrink and regrow the file (slower).
        cur.execute("PRAGMA wal_autocheckpoint=20000")
        cur.execute("PRAGMA journal_size_limit=268435456")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # A transaction that writes (an audit entry, at least) takes the lock at BEGIN: a deferred one
        # that reads first cannot always upgrade to a writer under concurrency. Read-only ones
        # (`readonly_engine`) begin deferred and never wait for writers.
        deferred = conn.get_execution_options().get(READONLY_OPTION, False)
        dbapi.control(conn, _BEGIN_DEFERRED if deferred else _BEGIN_IMMEDIATE)  # every request: on the driver


# The page cache of a connection that stores a records import: SQLite's default is 2 MiB. An import inserts
# into indexes of random keys (record ids, idempotency keys, blind indexes), and once they outgrow the cache
# every batch reads their pages back and writes some out before its commit. Importing 200,000 records with
# the default, read calls grew from 3.2 a record in the first tenth to 14.0 in the last and writes from 5.1
# to 16.1, and the storing process's CPU from 108 to 148 us a record; with 256 MiB, reads 0.4 to 2.3, writes
# 3.8 to 11.3, CPU 105 to 130 (a busy machine). At 2 M records those indexes hold about 550 MB: the cache may
# grow to 1 GiB, filled only as pages are read. (A memory map of the file, mmap_size, changed nothing there.)
BULK_CACHE_KIB = 1024 * 1024


def for_bulk_writes(conn: Connection) -> None:
    """Give a SQLite connection the page cache of a bulk import, for as long as it lives: the pooled connection
    keeps it for whatever it serves next in the process (the CLI's import exits when done); nothing on PostgreSQL."""
    if conn.dialect.name != "sqlite":
        return
    # On the driver, not as a statement of the transaction: a setting of the connection, which changes no
    # data (and which the tests that count an import batch's statements do not count).
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")


READONLY_OPTION = "xinyong_readonly"
_BEGIN_DEFERRED = dbapi.Statement("BEGIN")
_BEGIN_IMMEDIATE = dbapi.Statement("BEGIN IMMEDIATE")
_END_READING = dbapi.Statement("ROLLBACK")


def sqlite_changes(conn: Connection) -> int:
    """Return how many rows the SQLite connection has written since it was opened."""
    return int(conn.connection.dbapi_connection.total_changes)  # type: ignore[union-attr]


def begin_writing(conn: Connection, changes: int) -> None:
    """Turn the SQLite connection's deferred transaction, which has only read, into one that writes.

    `changes`: `sqlite_changes` when the transaction began. A row written before the lock was taken is
    refused (RuntimeError), never kept or silently dropped. The read snapshot ends (a ROLLBACK of nothing)
    and BEGIN IMMEDIATE takes the write lock, on the driver,
    inside the transaction SQLAlchemy keeps open: its COMMIT or ROLLBACK then ends the writing one. A
    deferred transaction cannot upgrade itself once another connection has written since it began
    (SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out); a new one always can.
    """
    if sqlite_changes(conn) != changes:
        raise RuntimeError("a unit of work that reads first wrote before tx.write() took the write lock")
    dbapi.control(conn, _END_READING)
    dbapi.control(conn, _BEGIN_IMMEDIATE)


def readonly_engine(engine: Engine) -> Engine:
    """Return the engine (same pool) for transactions that only read; on SQLite they begin deferred."""
    return engine.execution_options(**{READONLY_OPTION: True})


class WriterGate:
    """Lets one writing transaction at a time into a SQLite file, across the service's processes.

    SQLite has one writer; a second one's BEGIN IMMEDIATE meets SQLITE_BUSY and its busy handler sleeps
    1, 2, 5, 10 ... ms before it looks again, so under load writers spend more time asleep than at work.
    An exclusive `flock` on a file beside the database queues them in the kernel instead, which wakes the
    next one the moment the lock is let go. Writers that do not take the gate (another program) still
    meet SQLite's own lock and busy timeout, so the gate is an optimisation, never the lock itself.
    """

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._fd: int | None = None
        self._pid = -1
        self._local = threading.local()

    @contextmanager
    def __call__(self) -> Iterator[None]:
        if self._path is None or getattr(self._local, "held", False):
            yield
            return
        fd = self._descriptor()
        with self._lock:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._local.held = True
            try:
                yield
            finally:
                self._local.held = False
                fcntl.flock(fd, fcntl.LOCK_UN)

    @cached_property
    def _lock(self) -> threading.Lock:
        # flock is per open file description: threads of one process share it, so they queue here first.
        return threading.Lock()

    def _descriptor(self) -> int:
        # A forked worker must not share the parent's open file description (its lock would be shared too).
        if self._fd is None or self._pid != os.getpid():
            assert self._path is not None
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd


def writer_gate(engine: Engine) -> WriterGate:
    """Return the writer gate of a SQLite file database; for other databases a gate that lets everyone in."""
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:":
        return WriterGate(None)
    return WriterGate(Path(database).with_name(Path(database).name + ".writers"))


# SQLSTATE read_only_sql_transaction: a write under default_transaction_read_only, or on a hot standby.
_PG_READ_ONLY = "25006"


def refuses_writes(exc: BaseException) -> bool:
    """Tell whether `exc`, or an error it was raised from, is the database refusing a write as read-only.

    SQLite says SQLITE_READONLY (or one of its extended codes) for a file it could open only for reading;
    PostgreSQL says 25006 in a read-only transaction or on a replica.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError):
            orig = current.orig
            if (str(getattr(orig, "sqlite_errorname", "")).startswith("SQLITE_READONLY")
                    or getattr(orig, "sqlstate", None) == _PG_READ_ONLY):
                return True
        current = current.__cause__ or current.__context__
    return False


def reclaim_erased(engine: Engine) -> bool:
    """Checkpoint a SQLite file's write-ahead log and cut it to nothing; return whether that completed.

    Erased content is zeroed in the pages that held it (`secure_delete`), but the log still holds older
    copies of those pages until it is checkpointed and truncated. It is tried once without waiting: a
    transaction under way keeps the log from being cut, and a later checkpoint (or the last connection's
    close) does it. PostgreSQL reuses the space of old row versions after (auto)vacuum; nothing is done
    here for it.
    """
    if engine.url.get_backend_name() != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return False
    # The driver's connection, outside any transaction: SQLAlchemy would begin one (BEGIN IMMEDIATE, waiting for
    # the write lock), and a checkpoint cannot run inside a transaction.
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA busy_timeout=0")
        try:
            busy = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
    finally:
        raw.close()
    return busy is not None and busy[0] == 0


def alembic_config(url: str) -> Config:
    """Return the Alembic configuration for the database at `url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
