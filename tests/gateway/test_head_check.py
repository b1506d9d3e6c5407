"""The auditor's quick check of the latest signed tree head and of one entry against it (the portal's button)."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update

from audit.entries import AuditEntry
from audit.tags import Tag
from gateway.errors import InvalidInput, NotFound
from gateway.runtime import Runtime
from gateway.usecases import clients as client_use
from gateway.usecases import ledger
from gateway.usecases.head_check import check_latest_head


def _auditor(rt: Runtime) -> str:
    return client_use.add_client(rt, role="auditor", name="审计", categories=[], kind=None).client_id


def test_an_untouched_log_passes_every_step_and_the_check_is_recorded(rt: Runtime) -> None:
    auditor = _auditor(rt)
    ledger.checkpoint(rt)
    client_use.add_client(rt, role="auditor", name="另一审计", categories=[], kind=None)
    ledger.checkpoint(rt)
    found = check_latest_head(rt, auditor, 1, None)
    assert [(c.name, c.ok) for c in found.checks] == [
        ("signature", True), ("root", True), ("consistency", True), ("entry", True), ("inclusion", True)]
    assert found.ok
    with rt.sessions() as session, session.begin():
        last = session.query(AuditEntry).order_by(AuditEntry.seq.desc()).first()
    assert last is not None
    assert (last.action, last.actor, last.detail["operation"]) == (Tag.AUDIT_READ, auditor, "verify")


def test_an_entry_changed_after_it_was_signed_fails_the_entry_step(rt: Runtime) -> None:
    auditor = _auditor(rt)
    ledger.checkpoint(rt)
    with rt.sessions() as session, session.begin():
        session.execute(update(AuditEntry).where(AuditEntry.seq == 1).values(actor="someone else"))
    found = check_latest_head(rt, auditor, 0, None)
    assert not found.ok
    assert [c.name for c in found.checks if not c.ok] == ["entry"]


def test_no_head_yet_or_an_index_outside_the_signed_tree_is_refused(rt: Runtime) -> None:
    auditor = _auditor(rt)
    with pytest.raises(NotFound):
        check_latest_head(rt, auditor, None, None)
    ledger.checkpoint(rt)
    with pytest.raises(InvalidInput, match="index"):
        check_latest_head(rt, auditor, 10_000, None)


def test_an_entry_deleted_after_it_was_signed_fails_the_entry_step(rt: Runtime) -> None:
    auditor = _auditor(rt)
    ledger.checkpoint(rt)
    with rt.sessions() as session, session.begin():
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 1))
    found = check_latest_head(rt, auditor, 0, None)
    assert not found.ok
    assert [c.name for c in found.checks if not c.ok] == ["entry"]
