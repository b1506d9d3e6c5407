"""Worker processes: each checks chunks in the snapshot this process exported."""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Iterator
from multiprocessing.util import Finalize

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from audit.verify.chunks import Chunk, ChunkResult, check_chunk
from audit.verify.snapshot import Source, reader_engine

_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f-]{1,64}")

_worker: tuple[Source, Engine, Connection] | None = None


def _start_worker(source: Source) -> None:
    global _worker  # one connection per worker process, opened once
    engine = reader_engine(source.url)
    conn = engine.connect()
    if engine.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    _worker = (source, engine, conn)
    Finalize(None, _stop_worker, exitpriority=10)


def _stop_worker() -> None:
    if _worker is not None:
        _worker[2].close()
        _worker[1].dispose()


def _check_chunk_in_worker(chunk: Chunk) -> ChunkResult:
    assert _worker is not None
    source, _, conn = _worker
    with conn.begin():
        if source.snapshot is not None:
            if not _SNAPSHOT_ID.fullmatch(source.snapshot):
                raise ValueError("not a PostgreSQL snapshot id")
            # The exporting transaction is open in the parent until every chunk is done.
            conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{source.snapshot}'")
        return check_chunk(conn, chunk)


def chunk_results(conn: Connection, chunks: list[Chunk], source: Source | None, workers: int) -> Iterator[ChunkResult]:
    """Yield the chunks' results in order, checked here or by worker processes."""
    if workers <= 1 or source is None or len(chunks) < 2:
        for chunk in chunks:
            yield check_chunk(conn, chunk)
        return
    # Forked where the platform can (a spawned worker spends seconds importing before it starts);
    # a worker opens connections of its own and leaves the inherited ones alone (it ends in os._exit).
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    pool = context.Pool(min(workers, len(chunks)), initializer=_start_worker, initargs=(source,))
    try:
        yield from pool.imap(_check_chunk_in_worker, chunks)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
