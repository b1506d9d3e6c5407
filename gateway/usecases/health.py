"""Whether the service can serve (database, schema, keyring), and the audit log's state for the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from alembic.script import ScriptDirectory
from sqlalchemy import false, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from audit import heads, tree
from audit.entries import AuditCounter
from audit.tx import AccessContext
from gateway.database import alembic_config
from gateway.errors import DatabaseReadOnly
from gateway.runtime import Runtime

_PROBE = AccessContext(actor="readiness", role="system")


@dataclass(frozen=True, slots=True)
class Readiness:
    """Each check by name, `ok` or what is wrong (never a secret or a connection string)."""

    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        """Return whether every check passed."""
        return all(result == "ok" for result in self.checks.values())


@cache
def schema_head() -> str:
    """Return the newest migration this code knows."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def readiness(rt: Runtime) -> Readiness:
    """Return the checks: the database answers, its schema is at the newest migration, the keyring is loaded."""
    checks = {"database": "ok", "schema": "ok", "keyring": "ok"}
    try:
        with rt.uow.begin(_PROBE, readonly=True) as tx:
            found = tx.session.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError as exc:
        checks["database"] = f"the database does not answer ({type(exc).__name__})"
        checks["schema"] = "unknown: the database does not answer"
    else:
        if found != [schema_head()]:
            checks["schema"] = (f"the schema is at {', '.join(found) or 'nothing'}, not {schema_head()}: "
                                "run `xinyong init`")
        checks["database"] = _writable(rt)
    try:
        rt.vault.refresh()
        rt.vault.jwks()
    except Exception as exc:  # noqa: BLE001 - any failure here means the keys cannot be used
        checks["keyring"] = f"the keyring cannot be used ({type(exc).__name__})"
    return Readiness(checks)


@dataclass(frozen=True, slots=True)
class LedgerState:
    """The audit log's size, its tree's, and the newest signed head's size and age (None before the first)."""

    entries: int
    tree_size: int
    signed_tree_size: int
    head_age_seconds: float | None


_METRICS = AccessContext(actor="metrics", role="system")


def ledger_state(rt: Runtime) -> LedgerState | None:
    """Return the audit log's state in three reads of one-row tables, or None if the database does not answer."""
    try:
        with rt.uow.begin(_METRICS, readonly=True) as tx:
            entries = tx.session.execute(select(AuditCounter.last_seq).where(AuditCounter.id == 1)).scalar_one()
            size = tree.integrated_size(tx.session)
            head = heads.latest_head(tx.session)
    except SQLAlchemyError:
        return None
    age = None if head is None else max(0.0, (rt.clock.now() - head.timestamp).total_seconds())
    return LedgerState(int(entries), size, 0 if head is None else head.tree_size, age)


# A write that matches no row: the database refuses it if it is read-only, and otherwise it locks nothing.
_NO_OP_WRITE = update(AuditCounter).where(false()).values(last_seq=AuditCounter.last_seq)


def _writable(rt: Runtime) -> str:
    """Return "ok" if the database takes writes, else why not (nearly every request writes an audit entry)."""
    try:
        with rt.uow.begin(_PROBE) as tx:
            tx.session.execute(_NO_OP_WRITE)
    except DatabaseReadOnly:
        return ("the database is read-only (a read-only file or replica): requests that write or record an "
                "access answer 503")
    except SQLAlchemyError as exc:
        return f"the database does not take writes ({type(exc).__name__})"
    return "ok"
