"""Everything a request or a CLI command needs, built once per process."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from audit.clock import Clock, SystemClock
from consent.catalogue import Catalogue, load_default
from consent.models import Catalogue as CatalogueRow
from consent.purposes import Purposes, load_default_purposes
from gateway.config import Settings
from gateway.database import make_engine
from gateway.directory import ClientDirectory
from vault.keyring import Keyring, load_keyring

KEYRING_CHECK_SECONDS = 2.0


class NotInitialised(RuntimeError):
    """Raised when the database or the keyring is not set up: run `xinyong init`."""


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: Keyring
    catalogue: Catalogue
    purposes: Purposes
    clock: Clock
    hasher: PasswordHasher
    directory: ClientDirectory = field(default_factory=ClientDirectory)
    keyring_stamp: float | None = None
    keyring_checked: float = 0.0

    def refresh_keyring(self) -> None:
        """Reload the keyring if `xinyong keys rotate` changed the file (checked every few seconds).

        A rotation adds a key-encryption key and re-wraps data keys under it while the service runs;
        a process holding the old keyring could not unwrap them until it saw the new version.
        """
        now = time.monotonic()
        if now - self.keyring_checked < KEYRING_CHECK_SECONDS:
            return
        self.keyring_checked = now
        try:
            stamp = self.settings.keyring_path.stat().st_mtime
        except OSError:
            return  # a keyring given in memory (tests) or a file briefly absent: keep what we have
        if self.keyring_stamp is None:
            self.keyring_stamp = stamp
        elif stamp != self.keyring_stamp:
            self.keyring.replace_with(load_keyring(self.settings.keyring_path))
            self.keyring_stamp = stamp


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    sessions: sessionmaker[Session] | None = None,
    keyring: Keyring | None = None,
) -> Runtime:
    """Return a runtime; raises KeyringError (naming `xinyong init`) if there is no keyring."""
    stamp = None
    if keyring is None:
        stamp = settings.keyring_path.stat().st_mtime if settings.keyring_path.exists() else None
    ring = keyring or load_keyring(settings.keyring_path)
    engine = engine or make_engine(settings.database_url)
    catalogue = load_default()
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions or sessionmaker(bind=engine, autobegin=False, expire_on_commit=False),
        keyring=ring,
        catalogue=catalogue,
        purposes=load_default_purposes(catalogue),
        keyring_stamp=stamp,
        clock=clock or SystemClock(),
        hasher=PasswordHasher(
            time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib, parallelism=1
        ),
    )


def check_initialised(runtime: Runtime) -> None:
    """Raise NotInitialised unless `xinyong init` loaded this catalogue version into the database."""
    try:
        with runtime.sessions() as session, session.begin():
            found = session.execute(
                select(CatalogueRow.version).where(CatalogueRow.version == runtime.catalogue.version)
            ).scalar_one_or_none()
    except Exception as exc:
        raise NotInitialised("the database is not initialised: run `xinyong init`") from exc
    if found is None:
        raise NotInitialised(
            f"catalogue {runtime.catalogue.version} is not loaded: run `xinyong init` to upgrade"
        )
