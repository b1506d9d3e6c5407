"""Everything a request or a CLI command needs, built once per process."""

from __future__ import annotations

from dataclasses import dataclass, field

from argon2 import PasswordHasher
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from audit.clock import Clock, SystemClock
from consent.catalogue import Catalogue
from consent.models import Catalogue as CatalogueRow
from consent.policy import Policy
from consent.purposes import Purposes
from gateway.config import Settings
from gateway.database import WriterGate, make_engine, readonly_engine, writer_gate
from gateway.directory import ClientDirectory
from gateway.uow import UnitOfWork
from vault.vault import Vault


class NotInitialised(RuntimeError):
    """Raised when the database or the keyring is not set up: run `xinyong init`."""


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    uow: UnitOfWork
    vault: Vault
    policy: Policy
    clock: Clock
    hasher: PasswordHasher
    directory: ClientDirectory = field(default_factory=ClientDirectory)

    @property
    def catalogue(self) -> Catalogue:
        """Return the catalogue in force."""
        return self.policy.catalogue

    @property
    def purposes(self) -> Purposes:
        """Return the purposes in force."""
        return self.policy.purposes


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    sessions: sessionmaker[Session] | None = None,
    readonly_sessions: sessionmaker[Session] | None = None,
    vault: Vault | None = None,
) -> Runtime:
    """Return a runtime; raises KeyringError (naming `xinyong init`) if there is no keyring."""
    if vault is None:
        vault = Vault.open(settings.keyring_path)
    engine = engine or make_engine(settings.database_url)
    clock = clock or SystemClock()
    writers: WriterGate = WriterGate(None)
    if sessions is None:
        sessions = sessionmaker(bind=engine, autobegin=False, expire_on_commit=False)
        readonly_sessions = sessionmaker(bind=readonly_engine(engine), autobegin=False, expire_on_commit=False)
        writers = writer_gate(engine)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        # SQLite: a self report's reads before its write lock (UnitOfWork.reading_first).
        uow=UnitOfWork(sessions, clock, readonly_sessions, writers, reads_apart=engine.dialect.name == "sqlite"),
        vault=vault,
        policy=Policy.load_default(),
        clock=clock,
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
