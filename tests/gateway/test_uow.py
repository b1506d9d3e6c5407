"""The unit of work: one transaction, entries appended last, refusals kept, read-only ones deferred on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import sessionmaker

from audit import entries
from audit.clock import FrozenClock
from audit.entries import AuditEntry
from audit.errors import AuditAppendFailed
from audit.tags import Outcome, Tag
from audit.tx import AccessContext, Tx
from gateway.database import make_engine, readonly_engine, upgrade
from gateway.uow import ReadOnlyViolation, UnitOfWork
from tests.conftest import NOW

WHO = AccessContext(actor="inst_1", role="institution", request_id="req-7")


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'uow.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _uow(engine: Engine) -> UnitOfWork:
    make = sessionmaker(bind=engine, autobegin=False, expire_on_commit=False)
    ro = sessionmaker(bind=readonly_engine(engine), autobegin=False, expire_on_commit=False)
    return UnitOfWork(make, FrozenClock(NOW), ro)


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one())


def _begins(engine: Engine) -> list[str]:
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.upper().startswith("BEGIN"):
            seen.append(statement.upper())

    event.listen(engine, "before_cursor_execute", listen)
    return seen


def _record(uow: UnitOfWork) -> None:
    with uow.begin(WHO) as tx:
        tx.record(Tag.QUERY_RELEASED, subject_ref="ref")


def _record_then_fail(uow: UnitOfWork) -> None:
    with uow.begin(WHO) as tx:
        tx.record(Tag.QUERY_RELEASED, subject_ref="ref")
        raise RuntimeError("the use case failed")


def test_recorded_entries_are_appended_at_commit_with_the_access_context(sqlite_file: Engine) -> None:
    uow = _uow(sqlite_file)
    with uow.begin(WHO) as tx:
        tx.under(purpose="lending", basis="cn_1").record(Tag.QUERY_RELEASED, subject_ref="ref", record_ids=["r1"])
        assert _count(sqlite_file) == 0  # not yet: the append is the transaction's last statement
    with sqlite_file.connect() as conn:
        entry = conn.execute(select(AuditEntry)).one()
    assert (entry.actor, entry.role, entry.purpose, entry.basis, entry.request_id) == (
        "inst_1", "institution", "lending", "cn_1", "req-7")


def test_an_error_in_the_block_rolls_back_the_entries_too(sqlite_file: Engine) -> None:
    uow = _uow(sqlite_file)
    with pytest.raises(RuntimeError):
        _record_then_fail(uow)
    assert _count(sqlite_file) == 0


def test_a_refusal_is_kept_after_the_work_was_rolled_back(sqlite_file: Engine) -> None:
    uow = _uow(sqlite_file)
    with pytest.raises(RuntimeError):
        _record_then_fail(uow)
    with uow.refusal(WHO) as tx:
        tx.record(Tag.QUERY_DENIED, outcome=Outcome.DENIED, subject_ref="ref", reason="consent_expired")
    with sqlite_file.connect() as conn:
        assert [e.action for e in conn.execute(select(AuditEntry))] == [Tag.QUERY_DENIED]


def test_when_the_append_fails_the_whole_transaction_fails(sqlite_file: Engine,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from audit import entries

    def broken(*_: Any) -> None:
        raise AuditAppendFailed("the log is not writable")

    monkeypatch.setattr(entries, "append_many", broken)
    uow = _uow(sqlite_file)
    with pytest.raises(AuditAppendFailed):
        _record(uow)


def test_a_read_only_unit_of_work_begins_deferred_and_a_writing_one_immediate(sqlite_file: Engine) -> None:
    begins = _begins(sqlite_file)
    uow = _uow(sqlite_file)
    with uow.begin(WHO, readonly=True) as tx:
        tx.session.execute(select(func.count()).select_from(AuditEntry))
    with uow.begin(WHO) as tx:
        tx.session.execute(select(func.count()).select_from(AuditEntry))
    assert begins == ["BEGIN", "BEGIN IMMEDIATE"]


def test_a_read_only_unit_of_work_reads_while_a_writer_holds_the_lock(sqlite_file: Engine) -> None:
    writer = sqlite_file.connect()
    held = writer.begin()  # BEGIN IMMEDIATE, and a write: "another request" holds the lock
    writer.exec_driver_sql("UPDATE audit_counter SET last_seq = last_seq WHERE id = 1")
    try:
        # A BEGIN IMMEDIATE here would wait out the busy timeout and fail; a deferred one reads at once.
        with _uow(sqlite_file).begin(WHO, readonly=True) as tx:
            assert tx.session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 0
    finally:
        held.rollback()
        writer.close()


def test_recording_in_a_read_only_unit_of_work_is_refused(sqlite_file: Engine) -> None:
    uow = _uow(sqlite_file)
    with pytest.raises(ReadOnlyViolation), uow.begin(WHO, readonly=True) as tx:
        tx.record(Tag.AUDIT_READ)
    assert _count(sqlite_file) == 0


def test_a_read_only_unit_of_work_that_reads_first_is_a_mistake_refused_before_anything_begins(
        sqlite_file: Engine) -> None:
    uow = _uow(sqlite_file)
    began = _begins(sqlite_file)
    with pytest.raises(ValueError, match="read-only"), uow.begin(WHO, readonly=True, reads_first=True):
        pass
    assert began == []


def test_the_writer_gate_lets_one_writer_in_at_a_time_and_the_next_in_when_it_leaves(tmp_path: Path) -> None:
    import threading

    from gateway.database import WriterGate

    gate = WriterGate(tmp_path / "xinyong.db.writers")
    order: list[str] = []
    inside, leave = threading.Event(), threading.Event()

    def first() -> None:
        with gate():
            order.append("first in")
            inside.set()
            leave.wait(timeout=10)
            order.append("first out")

    def second() -> None:
        inside.wait(timeout=10)
        with gate():
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    inside.wait(timeout=10)
    assert order == ["first in"]
    leave.set()
    for thread in threads:
        thread.join(timeout=10)
    assert order == ["first in", "first out", "second in"]
    assert (tmp_path / "xinyong.db.writers").stat().st_mode & 0o777 == 0o600


def test_a_writing_unit_of_work_on_a_sqlite_file_goes_through_the_gate(sqlite_file: Engine) -> None:
    from gateway.database import writer_gate

    gate = writer_gate(sqlite_file)
    make = sessionmaker(bind=sqlite_file, autobegin=False, expire_on_commit=False)
    entered: list[bool] = []

    class Watched:
        def __call__(self) -> Any:
            entered.append(True)
            return gate()

    uow = UnitOfWork(make, FrozenClock(NOW), writers=Watched())
    with uow.begin(WHO) as tx:
        tx.record(Tag.AUDIT_READ)
    with uow.begin(WHO, readonly=True) as tx:
        tx.session.execute(select(1))
    assert entered == [True]
    assert Path(str(sqlite_file.url.database) + ".writers").exists()


def test_the_sqlite_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    old.write_bytes(b"")
    old.chmod(0o644)  # made by an earlier version
    for path in (tmp_path / "new.db", old):
        engine = make_engine(f"sqlite:///{path}")
        try:
            upgrade(engine)
            with engine.connect() as conn:  # the connection keeps -wal and -shm open
                conn.exec_driver_sql("SELECT count(*) FROM audit_entries").scalar()
                made = [p for p in tmp_path.iterdir() if p.name.startswith(path.name)]
                assert {p.name for p in made} >= {path.name, path.name + "-wal", path.name + "-shm"}
                assert {p.name: oct(p.stat().st_mode & 0o777) for p in made} == {p.name: "0o600" for p in made}
        finally:
            engine.dispose()


def test_a_read_only_sqlite_file_is_tightened_but_stays_read_only(tmp_path: Path) -> None:
    path = tmp_path / "xinyong.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    path.chmod(0o444)  # an operator made it read-only, for everyone
    make_engine(f"sqlite:///{path}").dispose()
    assert path.stat().st_mode & 0o777 == 0o400


def _statements(engine: Engine) -> list[str]:
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()[:2]).upper())

    event.listen(engine, "before_cursor_execute", listen)
    return seen


def test_a_unit_of_work_that_reads_first_takes_the_write_lock_only_when_it_writes(sqlite_file: Engine) -> None:
    seen = _statements(sqlite_file)
    uow = _uow(sqlite_file)
    with uow.begin(WHO, reads_first=True) as tx:
        tx.session.execute(select(func.count()).select_from(AuditEntry))
        tx.write()
        tx.write()  # a second time does nothing
        tx.record(Tag.QUERY_RELEASED, subject_ref="ref")
    assert seen[:4] == ["BEGIN", "SELECT COUNT(*)", "ROLLBACK", "BEGIN IMMEDIATE"], seen
    assert [s.split()[0] for s in seen[4:]] == ["UPDATE", "INSERT"], seen  # the counter, the entry; then COMMIT
    assert _count(sqlite_file) == 1


def test_reading_first_reads_while_another_writer_holds_the_lock_and_writes_after_it(sqlite_file: Engine) -> None:
    import threading

    writer = sqlite_file.connect()
    held = writer.begin()  # BEGIN IMMEDIATE, and a write: "another request" holds the lock
    writer.exec_driver_sql("UPDATE audit_counter SET last_seq = last_seq WHERE id = 1")
    read, done = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    def query() -> None:
        try:
            with _uow(sqlite_file).begin(WHO, reads_first=True) as tx:
                tx.session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
                read.set()
                tx.record(Tag.QUERY_RELEASED, subject_ref="ref")  # appended at the end: takes the lock first
        except BaseException as exc:  # noqa: BLE001 - reported to the test's thread
            failed.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=query)
    try:
        thread.start()
        assert read.wait(timeout=10), "the reads did not wait for the writer"
        assert not done.wait(timeout=0.3), "the write did not wait for the writer"
    finally:
        held.commit()
        writer.close()
    thread.join(timeout=10)
    assert not failed, failed
    assert _count(sqlite_file) == 1


def test_an_error_after_the_write_began_rolls_back_what_was_written(sqlite_file: Engine) -> None:
    uow = _uow(sqlite_file)

    def write_then_fail() -> None:
        with uow.begin(WHO, reads_first=True) as tx:
            tx.write()
            tx.session.execute(text("UPDATE audit_counter SET last_seq = 41 WHERE id = 1"))
            tx.record(Tag.QUERY_RELEASED, subject_ref="ref")
            raise RuntimeError("the use case failed")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert _count(sqlite_file) == 0
    with sqlite_file.connect() as conn:
        assert conn.exec_driver_sql("SELECT last_seq FROM audit_counter").scalar_one() == 0


def test_a_write_before_the_lock_is_refused_and_nothing_of_it_is_kept(sqlite_file: Engine) -> None:
    uow = _uow(sqlite_file)

    def write_early() -> None:
        with uow.begin(WHO, reads_first=True) as tx:
            tx.session.execute(text("UPDATE audit_counter SET last_seq = 41 WHERE id = 1"))  # before tx.write()
            tx.write()

    with pytest.raises(RuntimeError, match=r"before tx\.write"):
        write_early()
    with sqlite_file.connect() as conn:
        assert conn.exec_driver_sql("SELECT last_seq FROM audit_counter").scalar_one() == 0


def _reading_first_uow(engine: Engine) -> UnitOfWork:
    uow = _uow(engine)
    uow.reads_apart = True  # as the runtime sets it on SQLite
    return uow


def _read_and_record(tx: Tx) -> int:
    found = int(tx.session.execute(select(func.count()).select_from(AuditEntry)).scalar_one())
    tx.record(Tag.REPORT_SELF, subject_ref="ref")
    return found


def test_reading_first_on_a_sqlite_file_reads_in_a_snapshot_then_checks_and_appends_under_the_write_lock(
        sqlite_file: Engine) -> None:
    seen = _statements(sqlite_file)
    checked: list[int] = []

    def unchanged(tx: Tx, seq: int, found: int) -> bool:
        checked.append(seq)
        return True

    found = _reading_first_uow(sqlite_file).reading_first(WHO, _read_and_record, unchanged)
    assert (found, checked) == (0, [0])
    assert seen[:3] == ["BEGIN", "SELECT LAST_SEQ", "SELECT COUNT(*)"], seen
    assert seen[3:5] == ["ROLLBACK", "BEGIN IMMEDIATE"], seen
    assert [s.split()[0] for s in seen[5:]] == ["UPDATE", "INSERT"], seen  # the counter, the entry; then COMMIT
    assert _count(sqlite_file) == 1


def test_reading_first_reads_again_under_the_lock_when_what_it_read_changed_and_records_once(
        sqlite_file: Engine) -> None:
    uow = _reading_first_uow(sqlite_file)
    reads: list[int] = []

    def read(tx: Tx) -> int:
        found = _read_and_record(tx)
        reads.append(found)
        if len(reads) == 1:  # another request appends an entry, committed, between the reads and the write
            other = _uow(sqlite_file)
            with other.begin(WHO) as elsewhere:
                elsewhere.record(Tag.AUDIT_READ, subject_ref="ref")
        return found

    def unchanged(tx: Tx, seq: int, _found: int) -> bool:
        return bool(entries.newest_seq(tx.session) == seq)

    assert uow.reading_first(WHO, read, unchanged) == 1  # the second read, under the lock, saw the other entry
    assert reads == [0, 1]
    with sqlite_file.connect() as conn:
        actions = [a for (a,) in conn.execute(select(AuditEntry.action).order_by(AuditEntry.seq))]
    assert actions == [Tag.AUDIT_READ, Tag.REPORT_SELF]  # the first read's entry was dropped, not appended


def test_reading_first_that_recorded_nothing_writes_nothing(sqlite_file: Engine) -> None:
    seen = _statements(sqlite_file)

    def read(tx: Tx) -> int:
        return int(tx.session.execute(select(func.count()).select_from(AuditEntry)).scalar_one())

    assert _reading_first_uow(sqlite_file).reading_first(WHO, read, lambda *_: True) == 0
    assert not any(s.startswith(("BEGIN IMMEDIATE", "UPDATE", "INSERT")) for s in seen), seen
