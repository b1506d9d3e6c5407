"""An import batch costs a fixed number of statements, whatever its size, and appends its entries last."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event, func, select

from audit.entries import AuditEntry
from audit.tags import Tag
from audit.tx import AccessContext
from gateway import database
from gateway.runtime import Runtime
from gateway.usecases import clients as client_use
from gateway.usecases import records
from tests.api.test_statements import Statements, _ends_with_the_audit_append
from tests.conftest import People, penalty
from vault.types import Provider


def _import(rt: Runtime, connection: Connection, tmp_path: Path, provider: Provider, lines: list[dict[str, Any]],
            ) -> list[list[str]]:
    path = tmp_path / f"records-{len(lines)}.jsonl"
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
    access = AccessContext(actor=provider.client_id, role="provider", basis="bulk import")
    seen = Statements()
    event.listen(connection, "before_cursor_execute", seen)
    try:
        report = records.import_file(rt, provider, path, access)
    finally:
        event.remove(connection, "before_cursor_execute", seen)
    assert (report.errors, report.created) == ([], len(lines))
    return [t for t in seen.transactions if t]


def _provider(rt: Runtime) -> Provider:
    code, agency = "ADMINISTRATIVE_PENALTY_GENERAL", "any_competent_authority"
    made = client_use.add_client(rt, role="provider", name="test provider", categories=[code], kind=None,
                                 agency=agency, level="city")
    return Provider(made.client_id, frozenset({code}), agency, "city")


def test_an_import_batch_takes_the_same_few_statements_for_one_line_or_many_and_appends_its_entries_last(
    rt: Runtime, connection: Connection, tmp_path: Path, people: People
) -> None:
    provider = _provider(rt)
    batch = rt.settings.import_batch_size
    [one] = _import(rt, connection, tmp_path, provider, [penalty(people.new())])
    full = _import(rt, connection, tmp_path, provider, [penalty(people.new()) for _ in range(batch)])
    assert len(full) == 1
    # The idempotency keys looked up, the people looked up and the new ones stored, the records stored, the
    # counter bumped and the entries appended: each once, for any batch.
    assert len(full[0]) <= 6, full[0]
    assert len(full[0]) == len(one), (full[0], one)
    _ends_with_the_audit_append(full[0])
    with rt.sessions() as session, session.begin():
        entries = session.execute(select(func.count()).select_from(AuditEntry)
                                  .where(AuditEntry.action == str(Tag.RECORD_INGESTED))).scalar_one()
    assert entries == 1 + batch  # one entry per record


def test_an_import_gives_its_sqlite_connection_the_page_cache_of_a_bulk_import(
    rt: Runtime, connection: Connection, tmp_path: Path, people: People
) -> None:
    _import(rt, connection, tmp_path, _provider(rt), [penalty(people.new())])
    if connection.dialect.name == "sqlite":
        assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -database.BULK_CACHE_KIB
