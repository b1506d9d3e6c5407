"""Records per second of `records import`, beside a plain Core executemany of the same rows.

The baseline reads the same file and inserts the same columns, with the payload as plaintext
JSON and no subjects, fingerprints or audit entries, in batches of the same size, each batch
committed, into a table with the same keys and indexes as `records`.

A second row compares the import's rate over the last tenth of the file with the first: an import
whose batches cost more as the tables grow (a lookup that scans, checkpoints that rewrite more of a
larger file) shows there long before it shows in the average.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    func,
    insert,
    select,
)

from bench.dataset import Dataset, ensure_dataset, import_dataset, progress_bar
from bench.registry import Aim, BenchError, Measurement, Row
from bench.workspace import Workspace

AIM = Aim(0.5, "half the speed of a plain Core insert")
STEADY = Aim(0.8, "the import keeps 0.8 of its starting rate as the data grows (baseline: the first tenth)")


def _plain_table() -> Table:
    # Every index of `records` (vault.models.Record), as the module says: the one on
    # (category, display_until), added to `records` by migration 0016, was missing here, which left the
    # baseline a random-key index lighter (about a fifth of its time at the quick scale).
    return Table(
        "bench_plain_records", MetaData(),
        Column("id", String(32), primary_key=True),
        Column("subject_id", Integer, nullable=False),
        Column("category", String(60), nullable=False),
        Column("catalogue_version", String(40), nullable=False),
        Column("provider_id", String(64), nullable=False),
        Column("status", String(12), nullable=False),
        Column("decided_at", Date, nullable=False),
        Column("display_from", Date, nullable=False),
        Column("display_until", Date, nullable=False),
        Column("payload", JSON, nullable=False),
        Column("idempotency_key", String(200)),
        Column("request_fingerprint", String(64)),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("revoked_at", DateTime(timezone=True)),
        UniqueConstraint("provider_id", "idempotency_key", name="uq_bench_plain_provider_idempotency"),
        Index("ix_bench_plain_subject_id_category", "subject_id", "category"),
        Index("ix_bench_plain_category_display_until", "category", "display_until"),
    )


def baseline_insert(ws: Workspace, dataset: Dataset) -> float:
    """Insert the file's rows with Core executemany, one commit per batch; return the seconds it took."""
    rt = ws.runtime
    table = _plain_table()
    table.create(rt.engine)
    try:
        started = time.perf_counter()
        _plain_insert(ws, dataset, table)
        elapsed = time.perf_counter() - started
        with rt.engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(table)).scalar_one()
        if count != dataset.records:
            raise BenchError(f"baseline inserted {count} of {dataset.records} rows")
        return elapsed
    finally:
        table.drop(rt.engine)


def _plain_insert(ws: Workspace, dataset: Dataset, table: Table) -> None:
    rt = ws.runtime
    batch_size = rt.settings.import_batch_size
    subject_ids: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    with dataset.path.open(encoding="utf-8") as handle, \
            progress_bar(dataset.records, "baseline", "rec", ws.options.progress) as bar:
        for number, text in enumerate(handle, start=1):
            raw = json.loads(text)
            decided = date.fromisoformat(raw["decided_at"])
            rows.append({
                "id": f"rec_{number:024x}",
                "subject_id": subject_ids.setdefault(raw["citizen_id"], len(subject_ids) + 1),
                "category": raw["category"],
                "catalogue_version": rt.catalogue.version,
                "provider_id": dataset.provider_id,
                "status": "active",
                "decided_at": decided,
                "display_from": decided,
                "display_until": rt.catalogue.category(raw["category"]).display_until(decided),
                "payload": {"payload": raw["payload"], "document": raw.get("document")},
                "idempotency_key": f"plain:{number}",
                "request_fingerprint": None,
                "created_at": datetime.now(UTC),
            })
            if len(rows) >= batch_size:
                _commit(ws, table, rows)
                bar.update(len(rows))
                rows = []
        _commit(ws, table, rows)
        bar.update(len(rows))


def _commit(ws: Workspace, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        with ws.runtime.engine.begin() as conn:
            conn.execute(insert(table), rows)


def run(ws: Workspace) -> list[Row]:
    """Measure the baseline, then the real import (which leaves the data in place for later benches)."""
    dataset = ensure_dataset(ws)
    if dataset.imported:
        raise BenchError("the data set is already imported: the import must be measured first")
    base = baseline_insert(ws, dataset)
    curve = import_dataset(ws, dataset)
    real = curve.seconds
    n = dataset.records
    rates = curve.rates
    return [
        Row(
            metric="records import", backend=ws.backend, unit="records/s", value=n / real, baseline=n / base,
            aim=AIM, note=f"{n:,} records, batch {ws.runtime.settings.import_batch_size}: {real:.1f} s vs {base:.1f} s",
        ),
        Row(
            metric="records import, last tenth", backend=ws.backend, unit="records/s", value=rates[-1],
            baseline=rates[0], aim=STEADY, note=f"per tenth of the file: {curve.describe()}",
        ),
    ]


MEASUREMENT = Measurement("import", "records/s of `records import` vs Core executemany of the same rows", run)
