"""Real concurrency on PostgreSQL: two changes of one record's period at once make exactly one new version."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from sqlalchemy import func, select

from audit.entries import AuditEntry
from audit.tx import AccessContext
from gateway.runtime import Runtime
from gateway.usecases import clients
from gateway.usecases import records as record_use
from gateway.web.schemas import RecordIn
from tests.conftest import People
from tests.consent.test_concurrency import committed  # noqa: F401 - the fixture
from vault.errors import RecordConflict
from vault.models import Record, RecordPeriodChange
from vault.types import Document, Provider


def _listing(citizen_id: str) -> dict[str, object]:
    return {
        "citizen_id": citizen_id, "category": "COURT_ENFORCEMENT_DEFAULT", "decided_at": "2025-03-01",
        "document": {"type": "court_enforcement_ruling", "number": "(2025)苏0402执9号",
                     "authority": "常州市天宁区人民法院", "effective_at": "2025-03-01"},
        "payload": {"case_number": "(2025)苏0402执9号", "enforcement_court": "常州市天宁区人民法院",
                    "listing_ground": "evades_enforcement", "obligation": "支付货款", "performance": "not_performed"},
    }


def test_two_concurrent_early_ends_of_one_record_make_one_version(committed: Runtime) -> None:  # noqa: F811
    rt = committed
    made = clients.add_client(rt, role="provider", name="court", categories=["COURT_ENFORCEMENT_DEFAULT"], kind=None,
                              agency="court", level="county")
    provider = Provider(made.client_id, frozenset(made.categories), "court", "county")
    access = AccessContext(actor=made.client_id, role="provider")
    decision = Document("display_period_decision", "(2025)苏0402执9号之一", "常州市天宁区人民法院", date(2026, 11, 20))
    for round_ in range(4):  # several races, so that a check-then-write bug cannot slip through on lucky timing
        body = RecordIn().load(_listing(People(300 + round_).new()))
        record_id = record_use.submit(rt, provider, body, None, access).id
        start = threading.Barrier(2)

        def end(record_id: str = record_id, start: threading.Barrier = start) -> str:
            start.wait(timeout=10)
            try:
                return str(record_use.end(rt, provider, record_id, decision, access).version)
            except RecordConflict:
                return "conflict"

        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = sorted(pool.map(lambda _: end(), range(2)))
        assert outcomes == ["2", "conflict"]
        with rt.sessions() as session, session.begin():
            assert session.get(Record, record_id).version == 2  # type: ignore[union-attr]
            changes = session.scalar(select(func.count()).select_from(RecordPeriodChange)
                                     .where(RecordPeriodChange.record_id == record_id))
            entries = session.execute(select(AuditEntry.record_ids)
                                      .where(AuditEntry.action == "vault:record:period-changed")).scalars()
            written = [ids for ids in entries if ids == [record_id]]
        assert changes == 1
        assert len(written) == 1
