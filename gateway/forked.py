"""Work on chunks done in processes forked from this one, the results taken back in order.

`records import` spends more than half its time preparing lines (parse, check against the catalogue, keyed
hashes, encoding) and the rest storing them, one process using one core. Forked workers prepare the next
chunks while this process stores the one before. Forked, not spawned: a worker starts with the keyring and
the catalogue in its memory, so no key travels through a pipe or a file, and the work function is not pickled.

A worker gets one chunk at a time and answers before it gets the next (so neither side can block the other
on a full pipe); chunk i goes to worker i mod n, and answers are read in the same order. A worker never
touches the database: it inherits the parent's pooled connections and must leave them alone, and the
objects it inherits are frozen away from its garbage collector so that no finaliser of the parent's (a
pooled connection returned, a rollback sent on a shared socket) runs in it. Workers that outlive a failure
are ended when the pool closes; a worker that ends without answering raises WorkerFailed here.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 4


class WorkerFailed(RuntimeError):
    """Raised when a worker ended without answering (killed, out of memory), or its work raised."""


def default_count() -> int:
    """Return the number of workers to fork: one per CPU this process may use, at most MAX_WORKERS; 0 where
    fork is not available."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 0
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


class Forked(Generic[T, R]):
    """`count` forked processes that apply `work` to chunks; use as a context manager, then `map`."""

    def __init__(self, work: Callable[[T], R], count: int) -> None:
        self._work = work
        self._count = count
        self._conns: list[Connection] = []
        self._processes: list[BaseProcess] = []

    def __enter__(self) -> Forked[T, R]:
        context = multiprocessing.get_context("fork")
        pipes = [context.Pipe() for _ in range(self._count)]
        self._conns = [mine for mine, _ in pipes]
        # Objects alive now are left out of the workers' collections (see the module's docstring); unfrozen
        # here as soon as the workers are forked.
        gc.freeze()
        try:
            for index, (_, theirs) in enumerate(pipes):
                # Every other end is closed in the worker: the parent's end of its own pipe, so that it sees
                # the parent go, and the ends of the other pipes, so that the parent sees each worker go.
                others = [end for pair in pipes for end in pair if end is not theirs]
                process = context.Process(target=_serve, args=(self._work, theirs, others), daemon=True,
                                          name=f"xinyong-worker-{index}")
                process.start()
                self._processes.append(process)
        except BaseException:
            self._close()
            raise
        finally:
            gc.unfreeze()
            for _, theirs in pipes:
                theirs.close()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._close()

    def map(self, chunks: Iterable[T]) -> Iterator[tuple[T, R]]:
        """Yield each chunk with `work(chunk)`, in order; raise WorkerFailed if a worker stops answering."""
        sent: deque[tuple[int, T]] = deque()
        todo = iter(chunks)
        for index in range(len(self._conns)):
            chunk = next(todo, None)
            if chunk is None:
                break
            self._send(index, chunk)
            sent.append((index, chunk))
        while sent:
            index, chunk = sent.popleft()
            result = self._receive(index)
            following = next(todo, None)  # read (the file) while the worker is busy with its other chunks
            if following is not None:
                self._send(index, following)
                sent.append((index, following))
            yield chunk, result

    def _send(self, index: int, chunk: T) -> None:
        try:
            self._conns[index].send(chunk)
        except OSError as exc:  # a broken pipe: the worker is gone
            raise self._gone(index) from exc

    def _receive(self, index: int) -> R:
        try:
            answer: tuple[bool, R | str] = self._conns[index].recv()
        except (EOFError, OSError) as exc:
            raise self._gone(index) from exc
        done, value = answer
        if not done:
            raise WorkerFailed(f"a worker's work raised {value}")
        return value  # type: ignore[return-value]  # done: the work's result

    def _gone(self, index: int) -> WorkerFailed:
        process = self._processes[index]
        process.join(timeout=5)
        return WorkerFailed(f"a worker process ended without answering (exit code {process.exitcode})")

    def _close(self) -> None:
        for conn in self._conns:
            conn.close()  # a worker waiting for a chunk sees the end and exits
        for process in self._processes:
            process.join(timeout=2)
            if process.is_alive():  # busy with a chunk nobody will read
                process.terminate()
                process.join()
        self._conns, self._processes = [], []


def _serve(work: Callable[[T], R], conn: Connection, others: list[Connection]) -> None:
    """A worker's loop: a chunk in, `work(chunk)` out, until the parent closes the pipe."""
    for other in others:
        other.close()
    # A ^C reaches the whole process group: the parent stops the import and then ends its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer: tuple[bool, R | str] = (True, work(chunk))
        except Exception as exc:  # noqa: BLE001 - raised in the parent; by type only (a message may quote data)
            answer = (False, type(exc).__name__)
        try:
            try:
                conn.send(answer)
            except OSError:
                raise
            except Exception as exc:  # noqa: BLE001 - the answer could not be pickled: nothing was sent
                conn.send((False, f"{type(exc).__name__} (its answer could not be sent)"))
        except OSError:  # the parent is gone
            return
