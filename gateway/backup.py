"""Backup and restore of the database, with the keyring always kept apart from the copy.

The database holds only ciphertexts and blind indexes; the keyring holds the keys that open them.
A copy of both in one place is a copy of the data, so a database copy is never written beside a
keyring (the live one, or the copy `--keyring-to` makes) and the keyring goes to a place of its own.

SQLite is copied with SQLite's online backup API in one step: one read transaction, so the copy is
the database as of one moment while the service goes on writing (WAL lets writers proceed). The
copy is checked (`PRAGMA quick_check`), made a single file (rollback journal, no -wal), written
under a temporary name with mode 0600 and renamed into place. PostgreSQL is copied by `pg_dump`
(custom format) inside a snapshot this module exports, so the summary it prints (entries, newest
head) describes exactly what the dump holds; `pg_restore` puts it back in one transaction.

Restoring refuses a database that holds anything unless forced, and refuses to start without a
keyring (in place, or given with `--keyring-from`). Afterwards it checks that the keyring fits the
data: the newest signed tree head verifies with it and every data key's wrapping key is in it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, func, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from audit import heads
from audit.entries import AuditCounter
from audit.heads import TreeHead
from gateway.config import Settings
from gateway.database import make_engine
from gateway.usecases.health import schema_head
from vault.errors import KeyringError, VaultError
from vault.models import Subject
from vault.vault import Vault

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"


class BackupError(RuntimeError):
    """Raised when a backup or restore cannot be done, or was refused; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Contents:
    """What a database holds, as the drill reports it: no personal data, only sizes and the newest head."""

    schema: str | None
    entries: int
    signed_tree_size: int
    newest_head_at: str | None
    people: int

    def as_dict(self) -> dict[str, Any]:
        """Return the contents as JSON-ready data."""
        return {"schema": self.schema, "audit_entries": self.entries, "signed_tree_size": self.signed_tree_size,
                "newest_head_at": self.newest_head_at, "people": self.people}

    def describe(self) -> str:
        """Return one line for a person reading the command's output."""
        head = (f"newest signed tree head over {self.signed_tree_size} entries at {self.newest_head_at}"
                if self.newest_head_at else "no signed tree head yet")
        return f"schema {self.schema}, {self.entries} audit entries, {head}, {self.people} people"


@dataclass(frozen=True, slots=True)
class Backup:
    """A database copy made: where, of which backend, what it holds, and where the keyring went (if anywhere)."""

    backend: str
    path: Path
    size: int
    contents: Contents
    keyring_to: Path | None


@dataclass(frozen=True, slots=True)
class Restore:
    """A restore done: into which database, from where, what it holds now, and what was done with the keyring."""

    backend: str
    database: str
    source: Path
    contents: Contents
    keyring: str
    replaced: bool
    schema_current: bool


# --- backup ---------------------------------------------------------------------------------------


def backup(settings: Settings, dest: Path, keyring_to: Path | None = None) -> Backup:
    """Copy the database to `dest` (and the keyring to `keyring_to`, elsewhere); raise BackupError."""
    dest = dest.resolve()
    keyring_to = keyring_to.resolve() if keyring_to is not None else None
    _never_beside(dest, settings.keyring_path.resolve(), "the service's keyring")
    if keyring_to is not None:
        _never_beside(dest, keyring_to, "the keyring copy (--keyring-to)")
        _refuse_existing(keyring_to, "keyring copy")
        _loadable_keyring(settings.keyring_path)
    _refuse_existing(dest, "backup")
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent} is not a directory")
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        contents = _backup_sqlite(_sqlite_path(url), dest)
    elif url.get_backend_name() == "postgresql":
        contents = _backup_postgresql(url, dest)
    else:
        raise BackupError(f"no backup for {url.get_backend_name()} databases")
    if keyring_to is not None:
        _copy_private(settings.keyring_path, keyring_to)
    return Backup(url.get_backend_name(), dest, dest.stat().st_size, contents, keyring_to)


def _never_beside(copy: Path, keyring: Path, what: str) -> None:
    if copy.parent == keyring.parent:
        raise BackupError(f"the database copy {copy} would sit beside {what} ({keyring}); the two together are "
                          "the data: write them to different places")


def _refuse_existing(path: Path, what: str) -> None:
    if path.exists():
        raise BackupError(f"{path} exists: a {what} never overwrites a file; choose a new name")


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise BackupError(f"the SQLite database {url.database or ':memory:'} is not a file that can be copied")
    return Path(url.database).resolve()


def _backup_sqlite(database: Path, dest: Path) -> Contents:
    if not database.is_file():
        raise BackupError(f"no database at {database}: nothing to back up")
    with _private_tmp(dest) as tmp:
        source = sqlite3.connect(database, timeout=30)
        try:
            copy = sqlite3.connect(tmp)
            try:
                # One step (pages=-1): the whole database in one read transaction, a single consistent moment.
                source.backup(copy, pages=-1)
                copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
                checked = copy.execute("PRAGMA quick_check").fetchone()
                if checked is None or checked[0] != "ok":
                    raise BackupError(f"the copy of {database} failed SQLite's quick_check: {checked}")
            finally:
                copy.close()
        finally:
            source.close()
        _fsync(tmp)
        contents = _sqlite_contents(tmp)
    return contents


def _backup_postgresql(url: URL, dest: Path) -> Contents:
    pg_dump = _tool("pg_dump")
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with engine.connect() as conn, _private_tmp(dest) as tmp:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                # pg_dump reads the snapshot this transaction exported: the summary and the dump are one moment.
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                contents = _contents(conn)
                _run([pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                      f"--file={tmp}", f"--dbname={_libpq(url)}"], url, "pg_dump")
            _fsync(tmp)
    finally:
        engine.dispose()
    return contents


# --- restore --------------------------------------------------------------------------------------


def restore(settings: Settings, source: Path, *, force: bool = False, keyring_from: Path | None = None) -> Restore:
    """Put the copy at `source` back into the configured database; raise BackupError when the copy, the keyring
    or an occupied database says no. Nothing is changed by a refusal, except one: on PostgreSQL the keyring can be
    checked against the data only after pg_restore, so a keyring that does not fit leaves the database restored
    and the keyring not installed (the message says so)."""
    source = source.resolve()
    url = make_url(settings.database_url)
    backend = url.get_backend_name()
    _check_source(source, backend)
    keyring = _keyring_plan(settings.keyring_path, keyring_from, force)
    if backend == "sqlite":
        _sqlite_path(url).parent.mkdir(parents=True, exist_ok=True)  # a home lost with its disk
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        held = _occupied(engine)
        if held and not force:
            raise BackupError(f"the database {_shown(url)} is not empty ({held}); restoring would replace it: "
                              "stop the service and pass --force to replace it")
        engine.dispose()
        ring = keyring_from or settings.keyring_path
        if backend == "sqlite":
            with _sqlite_reader(source) as copy:
                _check_keyring(copy, ring, restored=False)  # before anything is written
            _restore_sqlite(source, _sqlite_path(url))
        else:
            _restore_postgresql(source, url, replace=bool(held))
        with engine.connect() as conn:
            contents = _contents(conn)
            _check_keyring(conn, ring, restored=True)  # a dump can only be read once restored
        if keyring_from is not None and keyring == "installed":
            _copy_private(keyring_from, settings.keyring_path, replace=force)
    finally:
        engine.dispose()
    return Restore(backend, _shown(url), source, contents, keyring, bool(held), contents.schema == schema_head())


def _check_source(source: Path, backend: str) -> None:
    try:
        with source.open("rb") as handle:
            magic = handle.read(16)
    except OSError as exc:
        raise BackupError(f"cannot read {source}: {exc.strerror}") from None
    kind = "sqlite" if magic.startswith(SQLITE_MAGIC) else "postgresql" if magic.startswith(PG_DUMP_MAGIC) else None
    if kind is None:
        raise BackupError(f"{source} is neither a SQLite database nor a pg_dump archive made by `xinyong backup`")
    if kind != backend:
        raise BackupError(f"{source} is a {kind} backup but the configured database is {backend}: "
                          "restore into the same kind of database")
    if kind == "sqlite":
        contents = _sqlite_contents(source)
        if contents.schema is None:
            raise BackupError(f"{source} is a SQLite database but not one of Xinyong's (no schema version)")


def _keyring_plan(keyring_path: Path, keyring_from: Path | None, force: bool) -> str:
    """Return what will happen to the keyring ('installed' or 'kept'); raise BackupError if it cannot work."""
    if keyring_from is None:
        if not keyring_path.exists():
            raise BackupError(f"no keyring at {keyring_path}: without it the copy cannot be read; give the keyring "
                              "backup with --keyring-from")
        _loadable_keyring(keyring_path)
        return "kept"
    _loadable_keyring(keyring_from)
    if keyring_path.exists():
        if keyring_path.read_bytes() == keyring_from.read_bytes():
            return "kept"
        if not force:
            raise BackupError(f"a different keyring is at {keyring_path}; pass --force to replace it (keep a copy "
                              "of it first: data written under it cannot be read without it)")
    return "installed"


def _loadable_keyring(path: Path) -> None:
    try:
        Vault.open(path)
    except KeyringError as exc:
        raise BackupError(f"the keyring cannot be used: {exc}") from None


def _occupied(engine: Engine) -> str:
    """Return what the database holds ('' when nothing): tables, and audit entries if it has a log."""
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
            if not tables:
                return ""
            held = f"{len(tables)} tables"
            if AuditCounter.__tablename__ in tables:
                entries = conn.execute(select(AuditCounter.last_seq)).scalar_one_or_none()
                held += f", {entries or 0} audit entries"
            return held
    except SQLAlchemyError as exc:
        raise BackupError(f"the configured database cannot be read ({_cause(exc)}): "
                          "is it a database, and is the server up?") from None


def _restore_sqlite(source: Path, database: Path) -> None:
    database.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(database, os.O_RDWR | os.O_CREAT, 0o600))
    copy = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(database, timeout=30)
        try:
            # The backup API writes through SQLite's own locks and journal, so the -wal and -shm files
            # of a database the service had open are dealt with, unlike a plain file copy.
            copy.backup(target, pages=-1)
            target.execute("PRAGMA journal_mode=WAL")
        finally:
            target.close()
    finally:
        copy.close()


def _restore_postgresql(source: Path, url: URL, *, replace: bool) -> None:
    pg_restore = _tool("pg_restore")
    argv = [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if replace:
        argv += ["--clean", "--if-exists"]
    _run([*argv, f"--dbname={_libpq(url)}", str(source)], url, "pg_restore")


def _check_keyring(conn: Connection, keyring_path: Path, *, restored: bool) -> None:
    """Raise BackupError unless the keyring signed the newest tree head and holds every data key's wrapping key."""
    vault = Vault.open(keyring_path)
    done = ("the database was restored (the keyring was not installed), but " if restored
            else "nothing was restored: ")
    head = heads.latest_head(conn)
    if head is not None:
        try:
            vault.verify(head.jws)
        except VaultError:
            raise BackupError(f"{done}the keyring at {keyring_path} did not sign the copy's newest tree head: it "
                              "is another installation's keyring; use the keyring backed up with this database "
                              "(--keyring-from)") from None
    newest = conn.execute(select(func.max(Subject.kek_version))).scalar_one_or_none()
    if newest is not None and newest > vault.current_kek:
        raise BackupError(f"{done}the copy's data keys are wrapped under key version {newest} and the keyring at "
                          f"{keyring_path} holds versions up to {vault.current_kek}: it is older than the data; "
                          "use a newer keyring backup (--keyring-from)")


# --- shared ---------------------------------------------------------------------------------------


def _contents(conn: Connection) -> Contents:
    tables = set(inspect(conn).get_table_names())
    schema = (conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
              if "alembic_version" in tables else None)
    entries = (conn.execute(select(AuditCounter.last_seq)).scalar_one_or_none() or 0
               if AuditCounter.__tablename__ in tables else 0)
    head = heads.latest_head(conn) if TreeHead.__tablename__ in tables else None
    people = (conn.execute(select(func.count()).select_from(Subject)).scalar_one()
              if Subject.__tablename__ in tables else 0)
    return Contents(schema, int(entries), 0 if head is None else head.tree_size,
                    None if head is None else head.as_dict()["timestamp"], int(people))


def _sqlite_contents(path: Path) -> Contents:
    with _sqlite_reader(path) as conn:
        return _contents(conn)


@contextmanager
def _sqlite_reader(path: Path) -> Iterator[Connection]:
    """Yield a read-only connection to the SQLite file at `path`; raise BackupError if it is not one."""
    reader = create_engine("sqlite://", creator=lambda: sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True))
    try:
        with reader.connect() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise BackupError(f"{path} cannot be read as a SQLite database ({_cause(exc)})") from None
    finally:
        reader.dispose()


@contextmanager
def _private_tmp(dest: Path) -> Iterator[Path]:
    """Yield a fresh file (mode 0600) beside `dest`, renamed to `dest` if the block succeeds, removed if not."""
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.partial")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        yield tmp
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()


def _copy_private(source: Path, dest: Path, *, replace: bool = False) -> None:
    if not replace:
        _refuse_existing(dest, "keyring copy")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _private_tmp(dest) as tmp:
        shutil.copyfile(source, tmp)
        _fsync(tmp)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not on PATH: install the PostgreSQL client of the server's major version "
                          "(Debian: apt-get install postgresql-client), or back up with the server's own means "
                          "(pg_basebackup, a managed service's snapshots)")
    return found


def _libpq(url: URL) -> str:
    """Return the URL for libpq tools, without the driver name and without the password (given in PGPASSWORD)."""
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)


def _run(argv: list[str], url: URL, tool: str) -> None:
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)  # not on the command line, where `ps` would show it
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv
    if done.returncode != 0:
        raise BackupError(f"{tool} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")


def _cause(exc: SQLAlchemyError) -> str:
    """Return the class name of the driver's error (never its message, which can quote a URL)."""
    return type(getattr(exc, "orig", None) or exc).__name__


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)
