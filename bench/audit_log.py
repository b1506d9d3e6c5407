"""The audit log: appends under concurrency, and the Merkle tree, its proofs and `audit verify` at scale.

Appends are measured first, on the log as the earlier measurements left it: threads append one
entry per durable transaction while a checkpoint integrates them every second (the service does so
every 10 s after a response), beside threads inserting one plain row per durable transaction.

Then the log is grown to its full size (1,000,000 entries at full scale, fewer with --quick):
synthetic entries like an authorised query's are bulk-loaded with their real leaf hashes (COPY on
PostgreSQL, raw executemany on SQLite), and the tree over them is built the same way. That is set-up,
not measured; what is measured at that size is integrating a further tenth through the real path,
a checkpoint (integrate, root, sign, store), inclusion and consistency proofs through their use
cases, and `audit verify` over the whole log.
"""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Session, sessionmaker

from audit import merkle, tree
from audit.clock import Clock
from audit.entries import AuditEntry, EntryDraft, entry_document, leaf_hash_of
from audit.tags import Tag
from audit.tx import AccessContext, Tx
from bench.dataset import progress_bar
from bench.registry import Aim, BenchError, Measurement, Row
from bench.workspace import Workspace
from gateway.database import make_engine
from gateway.usecases import ledger

TARGET_ENTRIES = 1_000_000
VERIFY_TARGET = 100_000.0  # entries/s, from the issue
CHUNK = 20_000
APPEND_AIM = Aim(0.5, "PERFORMANCE.md: the serialised part of an append is kept short")
VERIFY_AIM = Aim(1.0, "issue: `audit verify` at least 100,000 entries/s")
PROOF_AIM = Aim(0.25, "issue: a proof is O(log n) reads in one query, so a few primary-key reads' time")
_ENTRY_COLUMNS = ("seq", "at", "actor", "role", "action", "subject_ref", "purpose", "basis", "record_ids",
                  "outcome", "reason", "request_id", "detail", "leaf_hash")


def target_entries(ws: Workspace) -> int:
    """Return the size the log is grown to: as many entries as the data set has records, at most a million."""
    return max(16, min(TARGET_ENTRIES, ws.options.records))


def run(ws: Workspace) -> list[Row]:
    """Measure appends, grow the log, then measure the tree, proofs and verification at that size."""
    rows = measure_appends(ws)
    total = target_entries(ws)
    added = max(1, total // 10)
    with ws.step(f"grow the log to {total - added:,} entries and build its tree"):
        grow(ws, total - added)
    rows.append(measure_integration(ws, added))
    size = _counter(ws.runtime.engine)
    rows.append(measure_checkpoint(ws, size))
    rows.extend(measure_proofs(ws, size))
    rows.append(measure_verify(ws))
    return rows


# --- appends ------------------------------------------------------------------------------------


def _append(session: Session, clock: Clock, ns: Sequence[int]) -> None:
    """Append entries like releases through a Tx, as the unit of work does, in the caller's transaction."""
    tx = Tx(session, clock, AccessContext(actor="bench", role="institution"))
    for n in ns:
        d = _draft(n)
        tx.acting_as(AccessContext(d.actor, d.role, d.purpose, d.basis, d.request_id)).record(
            Tag(d.action), subject_ref=d.subject_ref, record_ids=d.record_ids, detail=d.detail)
    tx.append_recorded()


def _draft(n: int) -> EntryDraft:
    """Return an entry like an authorised query's release."""
    return EntryDraft(
        actor=f"ins_{n % 997:016x}", role="institution", action=Tag.QUERY_RELEASED,
        subject_ref=f"{(n * 2654435761) % 2**256:064x}", purpose="lending", basis=f"cns_{n:024x}",
        record_ids=[f"rec_{n:024x}", f"rec_{n + 1:024x}"], request_id=f"{n:016x}",
        detail={"report_id": f"rpt_{n:020x}"} if n % 4 == 0 else {},
    )


def _plain_table() -> Table:
    return Table(
        "bench_plain_appends", MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("actor", String(80), nullable=False),
        Column("action", String(60), nullable=False),
        Column("record_ids", JSON, nullable=False),
        Column("at", DateTime, nullable=False),
        Column("leaf_hash", LargeBinary(32), nullable=False),
    )


def _hammer(sessions: sessionmaker[Session], threads: int, seconds: float,
            once: Callable[[Session, int], None]) -> tuple[float, int, str]:
    """Run `once` in `threads` threads for `seconds`; return (completed per second, errors, first error)."""
    done = [0] * threads
    errors: list[str] = []
    start = threading.Barrier(threads + 1)
    stop = threading.Event()

    def work(t: int) -> None:
        with sessions() as session:
            start.wait()
            while not stop.is_set():
                try:
                    once(session, t * 10_000_000 + done[t])
                    done[t] += 1
                except Exception as exc:  # noqa: BLE001 - counted and reported as failed operations
                    errors.append(f"{type(exc).__name__}: {exc}")

    pool = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(threads)]
    for thread in pool:
        thread.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in pool:
        thread.join(timeout=60)
    elapsed = time.perf_counter() - began
    return sum(done) / elapsed, len(errors), errors[0] if errors else ""


def measure_appends(ws: Workspace) -> list[Row]:
    """Appends/s with threads in separate durable transactions and checkpoints alongside, vs plain inserts."""
    opts, rt = ws.options, ws.runtime
    threads = max(2, min(opts.connections, 16))
    engine = make_engine(ws.database_url, pool_size=threads, max_overflow=2)
    sessions = sessionmaker(bind=engine, autobegin=False, expire_on_commit=False)
    plain = _plain_table()
    plain.create(engine)
    try:
        def append_one(session: Session, n: int) -> None:
            with session.begin():
                _append(session, rt.clock, [n])

        def insert_one(session: Session, n: int) -> None:
            with session.begin():
                session.execute(insert(plain).values(actor="ins_1", action=str(Tag.QUERY_RELEASED),
                                                     record_ids=[f"rec_{n}"], at=datetime.now(UTC),
                                                     leaf_hash=b"\x00" * 32))

        with ws.step(f"append with {threads} threads, checkpointing every second"), _checkpointing(ws) as failures:
            rate, errors, first = _hammer(sessions, threads, opts.throughput_seconds, append_one)
        with ws.step(f"plain inserts with {threads} threads"):
            base, base_errors, base_first = _hammer(sessions, threads, opts.throughput_seconds, insert_one)
    finally:
        plain.drop(engine)
        engine.dispose()
    errors += base_errors + len(failures)
    first = first or base_first or (failures[0] if failures else "")
    trouble = f"; {errors} failed, first: {first}" if errors else ""
    return [Row("audit appends", ws.backend, "appends/s", rate, base, aim=APPEND_AIM, errors=errors,
                note=f"{threads} threads, one entry per durable transaction, {opts.throughput_seconds:g} s, "
                     f"a checkpoint every second alongside; baseline: one plain row per transaction{trouble}")]


@contextmanager
def _checkpointing(ws: Workspace) -> Iterator[list[str]]:
    """Run a checkpoint every second in a thread until the block ends; yield the list of its failures."""
    stop = threading.Event()
    failures: list[str] = []

    def loop() -> None:
        while not stop.wait(1.0):
            try:
                ledger.checkpoint(ws.runtime)
            except Exception as exc:  # noqa: BLE001 - reported as a failed operation
                failures.append(f"checkpoint: {type(exc).__name__}: {exc}")

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield failures
    finally:
        stop.set()
        thread.join(timeout=120)


# --- growing the log ----------------------------------------------------------------------------


def _counter(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT last_seq FROM audit_counter WHERE id = 1")).scalar_one())


def grow(ws: Workspace, entries: int) -> None:
    """Bulk-load synthetic entries until the log holds `entries`, then build the tree over every entry."""
    engine = ws.runtime.engine
    have = _counter(engine)
    if have < entries:
        _load_entries(ws, engine, have, entries)
    _build_tree(ws, engine)
    ledger.checkpoint(ws.runtime)


def _entry_rows(first: int, last: int, sqlite: bool) -> list[tuple[Any, ...]]:
    """Return the rows of entries first..last with their real leaf hashes, as the driver takes them."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    rows = []
    for seq in range(first, last + 1):
        at = start + timedelta(microseconds=seq * 2_371)
        document = entry_document(seq, at, _draft(seq))
        naive = at.replace(tzinfo=None)
        rows.append((
            seq, naive.isoformat(sep=" ", timespec="microseconds") if sqlite else naive, document["actor"],
            document["role"], document["action"], document["subject_ref"], document["purpose"], document["basis"],
            json.dumps(document["record_ids"]), document["outcome"], document["reason"], document["request_id"],
            json.dumps(document["detail"]), leaf_hash_of(document),
        ))
    return rows


def _load_entries(ws: Workspace, engine: Engine, have: int, entries: int) -> None:
    sqlite = engine.dialect.name == "sqlite"
    with progress_bar(entries - have, "load entries", "entry", ws.options.progress) as bar:
        for first in range(have + 1, entries + 1, CHUNK):
            last = min(entries, first + CHUNK - 1)
            _bulk(engine, "audit_entries", _ENTRY_COLUMNS, _entry_rows(first, last, sqlite),
                  f"UPDATE audit_counter SET last_seq = {last} WHERE id = 1")
            bar.update(last - first + 1)


def _bulk(engine: Engine, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]], then: str) -> None:
    """Insert rows with the driver's fastest path (COPY, or one executemany) and run `then`, in one commit."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        names = ", ".join(f'"{c}"' for c in columns)
        if engine.dialect.name == "postgresql":
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})", rows)
        cursor.execute(then)
        if engine.dialect.name == "postgresql":
            raw.commit()
        else:
            cursor.execute("COMMIT")
    finally:
        raw.close()


def _leaf_chunks(engine: Engine, after: int, last: int) -> Iterator[list[bytes]]:
    """Yield the leaf hashes of entries after..last in order, a chunk per short transaction.

    (On SQLite every transaction holds the write lock, which the bulk insert between chunks needs.)
    """
    for start in range(after, last, CHUNK):
        with engine.begin() as conn:
            chunk = [bytes(h) for h in conn.execute(
                select(AuditEntry.leaf_hash).where(AuditEntry.seq > start, AuditEntry.seq <= start + CHUNK)
                .order_by(AuditEntry.seq)).scalars()]
        yield chunk


def _build_tree(ws: Workspace, engine: Engine) -> None:
    """Build the tree over every entry not yet in it, as integrate would, but with bulk inserts."""
    with engine.begin() as conn:
        size = tree.integrated_size(conn)
        keys = merkle.frontier_keys(size)
        found = tree.DbNodeStore(conn).get_many(keys)
        frontier = [found[key] for key in keys]
    total = _counter(engine)
    with progress_bar(total - size, "build tree", "leaf", ws.options.progress) as bar:
        for leaves in _leaf_chunks(engine, size, total):
            nodes = merkle.nodes_to_add(frontier, size, leaves)
            known = dict(zip(merkle.frontier_keys(size), frontier, strict=True))
            known.update({(level, index): node for level, index, node in nodes})
            size += len(leaves)
            frontier = [known[key] for key in merkle.frontier_keys(size)]
            _bulk(engine, "audit_tree_nodes", ("level", "index", "hash"), nodes,
                  f"UPDATE audit_tree_state SET size = {size} WHERE id = 1")
            bar.update(len(leaves))


# --- the tree at size ---------------------------------------------------------------------------


def _plain_nodes() -> Table:
    return Table("bench_plain_nodes", MetaData(),
                 Column("level", SmallInteger, primary_key=True, autoincrement=False),
                 Column("index", BigInteger, primary_key=True, autoincrement=False),
                 Column("hash", LargeBinary(32), nullable=False))


def measure_integration(ws: Workspace, count: int) -> Row:
    """Leaves/s of a checkpoint integrating `count` appended entries, vs inserting the same nodes plainly."""
    rt = ws.runtime
    first = _counter(rt.engine) + 1
    with ws.step(f"append {count:,} entries"), rt.sessions() as session:
        for start in range(0, count, 500):
            with session.begin():
                _append(session, rt.clock, range(first + start, first + min(count, start + 500)))
    with ws.step(f"integrate {count:,} entries"):
        began = time.perf_counter()
        head = ledger.checkpoint(rt).head
        elapsed = time.perf_counter() - began
    if head.tree_size != first - 1 + count:
        raise BenchError(f"the checkpoint signed {head.tree_size} leaves, not {first - 1 + count}")
    # The node rows the integration wrote, computed again for the baseline to insert.
    with rt.engine.connect() as conn:
        store = tree.DbNodeStore(conn)
        leaves = [bytes(h) for h in conn.execute(select(AuditEntry.leaf_hash).where(AuditEntry.seq >= first)
                                                 .order_by(AuditEntry.seq).limit(count)).scalars()]
        rows = merkle.nodes_to_add(store, first - 1, leaves)
    plain = _plain_nodes()
    plain.create(rt.engine)
    try:
        began = time.perf_counter()
        batch = 2 * ledger.INTEGRATE_BATCH
        for start in range(0, len(rows), batch):
            with rt.engine.begin() as conn:
                conn.execute(insert(plain), [{"level": lv, "index": ix, "hash": h}
                                             for lv, ix, h in rows[start:start + batch]])
        base = time.perf_counter() - began
    finally:
        plain.drop(rt.engine)
    return Row("tree integration", ws.backend, "leaves/s", count / elapsed, count / base,
               note=f"{count:,} leaves onto a tree of {first - 1:,} in batches of {ledger.INTEGRATE_BATCH:,}, "
                    f"and a signed head; baseline: the same {len(rows):,} node rows inserted with Core executemany")


def _timed(samples: int, call: Callable[[int], object]) -> list[float]:
    out = []
    for i in range(samples):
        began = time.perf_counter()
        call(i)
        out.append(time.perf_counter() - began)
    return out


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def _pk_reads(ws: Workspace, size: int, samples: int, rng: random.Random) -> list[float]:
    """Latencies of reading one entry's leaf hash by primary key in a transaction of its own."""
    rt = ws.runtime

    def read(_: int) -> None:
        with rt.sessions() as session, session.begin():
            session.execute(select(AuditEntry.leaf_hash).where(AuditEntry.seq == rng.randint(1, size))).scalar_one()

    return _timed(samples, read)


def measure_checkpoint(ws: Workspace, size: int) -> Row:
    """Latency of a checkpoint after one new entry (integrate it, compute the root, sign, store the head)."""
    rt = ws.runtime
    samples = max(5, min(50, ws.options.latency_requests // 10))

    def one(i: int) -> None:
        with rt.sessions() as session, session.begin():
            _append(session, rt.clock, [size + i])
        began = time.perf_counter()
        if not ledger.checkpoint(rt).created:
            raise BenchError("a checkpoint after a new entry signed no head")
        latencies.append(time.perf_counter() - began)

    latencies: list[float] = []
    _timed(samples, one)
    plain = _plain_table()
    plain.create(rt.engine)
    try:
        def insert_one(_: int) -> None:
            with rt.sessions() as session, session.begin():
                session.execute(insert(plain).values(actor="x", action="x", record_ids=[], at=datetime.now(UTC),
                                                     leaf_hash=b"\x00" * 32))

        base = _timed(samples, insert_one)
    finally:
        plain.drop(rt.engine)
    return Row("tree head (checkpoint) p50", ws.backend, "ms", _percentile(latencies, 50) * 1000,
               _percentile(base, 50) * 1000, lower_is_better=True,
               note=f"at {size:,} entries, {samples} checkpoints each after one new entry; "
                    f"baseline: a durable one-row insert")


def measure_proofs(ws: Workspace, size: int) -> list[Row]:
    """Latencies of inclusion and consistency proofs through their use cases, vs a primary-key read."""
    rt = ws.runtime
    rng = random.Random(ws.options.seed)
    samples = ws.options.latency_requests
    head = ledger.latest_head(rt.uow)
    n = head.tree_size

    def inclusion(_: int) -> None:
        index = rng.randrange(n)
        proof = ledger.inclusion(rt.uow, index, None, None)
        if not merkle.verify_inclusion(proof.leaf_hash, index, n, proof.audit_path, head.root_hash):
            raise BenchError(f"the inclusion proof of leaf {index} does not verify against the signed head")

    def consistency(_: int) -> None:
        ledger.consistency(rt.uow, rng.randint(1, n), None)

    included = _timed(samples, inclusion)
    consistent = _timed(samples, consistency)
    base = _pk_reads(ws, n, samples, rng)
    note = f"at {n:,} entries, {samples} random proofs against the latest head, one at a time, in-process; " \
           "baseline: reading one entry by primary key"
    return [
        Row(f"inclusion proof latency p{q}", ws.backend, "ms", _percentile(included, q) * 1000,
            _percentile(base, q) * 1000, aim=PROOF_AIM, lower_is_better=True, note=note)
        for q in (50, 99)
    ] + [Row("consistency proof latency p50", ws.backend, "ms", _percentile(consistent, 50) * 1000,
             _percentile(base, 50) * 1000, aim=PROOF_AIM, lower_is_better=True, note=note)]


def measure_verify(ws: Workspace) -> Row:
    """Entries/s of `audit verify` over the whole log, against the issue's 100,000."""
    rt = ws.runtime
    total = ledger.entry_count(rt)
    with ws.step(f"audit verify over {total:,} entries"), \
            progress_bar(total, "verify", "entry", ws.options.progress) as bar:
        began = time.perf_counter()
        report = ledger.verify_log(rt, progress=bar.update)
        elapsed = time.perf_counter() - began
    if not report.ok:
        raise BenchError(f"audit verify found {report.total_differences} differences; first: {report.first}")
    return Row("audit verify", ws.backend, "entries/s", report.entries / elapsed, VERIFY_TARGET, aim=VERIFY_AIM,
               note=f"{report.entries:,} entries, {report.heads} heads in {elapsed:.1f} s; "
                    "the baseline is the issue's target, not a measurement")


MEASUREMENT = Measurement(
    "audit", "audit appends/s under concurrency; tree integration, heads, proofs and `audit verify` at 1M entries",
    run)
