"""`records import` prepares the lines of a file longer than one batch in forked workers: with the same report,
batches and progress as in one process, and a clean failure when a worker fails or dies."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from audit.tx import AccessContext
from gateway.forked import WorkerFailed
from gateway.runtime import Runtime
from gateway.usecases import clients as client_use
from gateway.usecases import records
from tests.conftest import People, penalty
from vault.errors import RecordConflict
from vault.models import Record
from vault.types import Provider

CODE, AGENCY = "ADMINISTRATIVE_PENALTY_GENERAL", "any_competent_authority"
MARK = '{"mark": true}'  # a line the tests' hooks act on (left alone, a bad line: an unknown field)


def _provider(rt: Runtime) -> Provider:
    made = client_use.add_client(rt, role="provider", name="test provider", categories=[CODE], kind=None,
                                 agency=AGENCY, level="city")
    return Provider(made.client_id, frozenset({CODE}), AGENCY, "city")


def _write(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n"
                            for line in lines), encoding="utf-8")
    return path


def _import(rt: Runtime, provider: Provider, path: Path, workers: int,
            progress: Callable[[int], object] = lambda n: None) -> records.ImportReport:
    rt.settings = rt.settings.with_overrides(import_workers=workers)
    access = AccessContext(actor=provider.client_id, role="provider", basis="bulk import")
    return records.import_file(rt, provider, path, access, progress=progress)


def _stored(rt: Runtime, provider: Provider) -> int:
    with rt.sessions() as session, session.begin():
        return session.execute(select(func.count()).select_from(Record)
                               .where(Record.provider_id == provider.client_id)).scalar_one()


def _good(people: People, count: int) -> list[Any]:
    return [penalty(people.new(), date(2026, 1 + n % 9, 1 + n % 28)) for n in range(count)]


def test_workers_give_the_report_batches_and_progress_of_one_process(rt: Runtime, tmp_path: Path) -> None:
    people = People(71)
    no_document = penalty(people.new())
    del no_document["document"]
    lines: list[Any] = _good(people, 40)
    # Bad lines of each kind, blank lines and a repeated line, spread over several chunks of 7 lines.
    lines[3] = '{"citizen_id": "1101'
    lines[9] = ""
    lines[12] = {**penalty(people.new()), "hobby": "chess"}
    lines[20] = no_document
    lines[21] = penalty("110105194912310021")
    lines[30] = lines[29]
    lines[38] = "[1, 2]"
    path = _write(tmp_path / "records.jsonl", lines)
    seen: dict[int, tuple[records.ImportReport, list[int], int]] = {}
    for workers in (0, 2):
        provider = _provider(rt)
        calls: list[int] = []
        report = _import(rt, provider, path, workers, calls.append)
        seen[workers] = (report, calls, _stored(rt, provider))
    (alone, alone_calls, alone_stored), (forked, forked_calls, forked_stored) = seen[0], seen[2]
    assert forked == alone
    assert [n for n, _ in forked.errors] == [4, 13, 21, 22, 39]
    assert (forked.lines, forked.created, forked.duplicates) == (39, 33, 1)
    assert forked_calls == alone_calls
    assert sum(forked_calls) == path.stat().st_size
    assert forked_stored == alone_stored == 33
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("workers", [0, 2])
def test_a_fault_preparing_a_line_stops_the_import_there_with_its_line_number(
    rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    parse = records._parse_line

    def faulty(rt: Runtime, provider: Provider, text: str, seen: dict[tuple[str, date], str]) -> Any:
        if text.strip() == MARK:
            raise ZeroDivisionError("a fault in the code, not in the line")
        return parse(rt, provider, text, seen)

    monkeypatch.setattr(records, "_parse_line", faulty)  # forked workers start with it too
    lines = _good(People(72), 30)
    lines[16] = MARK  # line 17: the batches of lines 1-7 and 8-14 are stored, 15-16 are not
    provider = _provider(rt)
    with pytest.raises(WorkerFailed) as raised:  # in a worker or not: the fault's type, never its message
        _import(rt, provider, _write(tmp_path / "records.jsonl", lines), workers)
    assert str(raised.value) == "line 17 could not be prepared (ZeroDivisionError)"
    assert raised.value.__cause__ is None
    assert _stored(rt, provider) == 14
    assert multiprocessing.active_children() == []


def test_a_worker_that_dies_fails_the_import_cleanly_and_a_second_run_completes_it(
    rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parse, parent = records._parse_line, os.getpid()

    def deadly(rt: Runtime, provider: Provider, text: str, seen: dict[tuple[str, date], str]) -> Any:
        if text.strip() == MARK and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return parse(rt, provider, text, seen)

    monkeypatch.setattr(records, "_parse_line", deadly)
    lines = _good(People(73), 30)
    lines[16] = MARK
    path = _write(tmp_path / "records.jsonl", lines)
    provider = _provider(rt)
    with pytest.raises(WorkerFailed, match=r"ended without answering \(exit code -9\)"):
        _import(rt, provider, path, workers=2)
    assert _stored(rt, provider) == 14  # the batches before the dead worker's chunk, nothing after
    assert multiprocessing.active_children() == []
    lines[16] = penalty(People(74).new())
    report = _import(rt, provider, _write(path, lines), workers=2)
    assert (report.created, report.duplicates, report.errors) == (16, 14, [])
    assert _stored(rt, provider) == 30


def test_a_batch_that_fails_to_store_ends_the_workers(
    rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest, calls = rt.vault.ingest, []

    def failing(*args: Any) -> Any:
        calls.append(1)
        stored = ingest(*args)
        if len(calls) == 2:  # after its rows were written in the batch's transaction: none of them may stay
            raise RecordConflict("the second batch meets a conflict")
        return stored

    monkeypatch.setattr(rt.vault, "ingest", failing)
    provider = _provider(rt)
    with pytest.raises(RecordConflict):
        _import(rt, provider, _write(tmp_path / "records.jsonl", _good(People(75), 60)), workers=2)
    assert _stored(rt, provider) == 7
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("workers", [0, 2])
def test_a_byte_that_is_not_utf8_stops_the_import_after_the_lines_before_it(
    rt: Runtime, tmp_path: Path, workers: int
) -> None:
    lines = _good(People(76), 30)
    path = _write(tmp_path / "records.jsonl", lines)
    # Text is decoded in blocks of 8 KiB: the fault is met on reading the block that holds it, after the batches
    # completed before it were stored (three here), as a plain loop over the file met it.
    with path.open("ab") as handle:
        handle.write(b'{"citizen_id": "\xff"}\n')
    provider = _provider(rt)
    with pytest.raises(UnicodeDecodeError):
        _import(rt, provider, path, workers)
    assert _stored(rt, provider) == 21
    assert multiprocessing.active_children() == []
