"""Everything a request or a CLI command needs, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from audit.clock import Clock, SystemClock
from consent.purposes import Purposes, load_default_purposes
from gateway.config import Settings
from gateway.database import make_engine
from vault.catalogue import Catalogue, load_default
from vault.keyring import Keyring, load_keyring
from vault.models import Catalogue as CatalogueRow


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


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    sessions: sessionmaker[Session] | None = None,
    keyring: Keyring | None = None,
) -> Runtime:
    """Return a runtime; raises KeyringError (naming `xinyong init`) if there is no keyring."""
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
