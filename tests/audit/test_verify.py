"""`audit verify`: the whole log rebuilt from its entries, and the first index where anything differs.

The fast leaf must be exactly leaf_hash_of(stored_document(entry)); then every kind of tampering
(an entry edited, deleted, reordered or inserted, a tree node or a head rewritten) is reported at
the right index, by the library on both backends and by the command on a SQLite file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import sessionmaker

from audit import entries as audit
from audit import verify
from audit.clock import FrozenClock
from audit.entries import AuditEntry, EntryDraft, entry_document, leaf_hash_of, stored_document
from audit.tags import Outcome, Tag
from audit.verify import Report, entry_rows, fast_leaf_hash
from audit.verify import leaves as verify_leaves
from audit.verify import log as verify_log_module
from gateway.cli import main
from gateway.config import from_environ
from gateway.database import make_engine, upgrade
from gateway.runtime import Runtime, build_runtime
from gateway.usecases import ledger
from tests.conftest import NOW, People, drop_pg_database, penalty, pg_database, pg_url, settings_for_tests
from vault.vault import Vault

# PostgreSQL text holds no NUL, and no string of a lone surrogate can be stored anywhere.
_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)
_TIMES = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1)).map(
    lambda t: t.replace(tzinfo=UTC))


@st.composite
def drafts(draw: st.DrawFn) -> EntryDraft:
    optional = st.none() | _TEXT
    return EntryDraft(
        actor=draw(_TEXT), role=draw(_TEXT), action=draw(_TEXT | st.sampled_from(list(Tag))),
        outcome=draw(st.sampled_from(list(Outcome))), subject_ref=draw(optional), purpose=draw(optional),
        basis=draw(optional), record_ids=draw(st.lists(_TEXT, max_size=3)), reason=draw(optional),
        request_id=draw(optional), detail=draw(st.dictionaries(_TEXT, _JSON, max_size=3)),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(drafts(), _TIMES), min_size=1, max_size=4))
def test_the_fast_leaf_is_the_leaf_of_the_stored_document(rt: Runtime, clock: FrozenClock,
                                                          batch: list[tuple[EntryDraft, datetime]]) -> None:
    with rt.sessions() as session, session.begin():
        seqs = []
        for draft, at in batch:
            clock.set(at)
            seqs.append(audit.append(session, clock, draft))
        session.expire_all()
        for seq in seqs:
            entry = session.get_one(AuditEntry, seq)
            row = session.execute(entry_rows().where(AuditEntry.seq == seq)).one()
            assert fast_leaf_hash(row) == leaf_hash_of(stored_document(entry)) == entry.leaf_hash


def test_the_fast_leaf_reads_times_before_the_year_1000_as_isoformat_z_does() -> None:
    at = datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)
    draft = EntryDraft(actor="a", role="r", action="x")
    document = entry_document(7, at, draft)
    row = (7, at, "a", "r", "x", None, None, None, "[]", "allowed", None, None, "{}")
    assert fast_leaf_hash(row) == leaf_hash_of(document)


@pytest.mark.parametrize("record_ids", [[", "], [","], ["a", ", ", "b"], [", ", ", "], ["a, b"], ["", ""]])
def test_the_fast_leaf_keeps_record_ids_that_look_like_separators(record_ids: list[str]) -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    document = entry_document(7, at, EntryDraft(actor="a", role="r", action="x", record_ids=record_ids))
    row = (7, at, "a", "r", "x", None, None, None, json.dumps(record_ids), "allowed", None, None, "{}")
    assert fast_leaf_hash(row) == leaf_hash_of(document)


# --- the library, on both backends --------------------------------------------------------------


def draft(n: int, **changes: Any) -> EntryDraft:
    fields: dict[str, Any] = {"actor": f"inst_{n}", "role": "institution", "action": Tag.QUERY_RELEASED,
                              "subject_ref": f"{n:064x}", "record_ids": [f"rec_{n}", "rec_x"],
                              "detail": {"n": n} if n % 2 else {}, **changes}
    return EntryDraft(**fields)


def append(rt: Runtime, count: int, start: int) -> None:
    with rt.sessions() as session, session.begin():
        audit.append_many(session, rt.clock, [draft(start + i) for i in range(count)])


@pytest.fixture
def log(rt: Runtime, clock: FrozenClock) -> Runtime:
    """A log of 24 entries: heads at 5, 12 and 20 leaves, and 4 entries not yet in the tree."""
    start = 1
    for count in (5, 7, 8):
        append(rt, count, start)
        start += count
        clock.advance(seconds=11)
        ledger.checkpoint(rt, batch=3)
    append(rt, 4, start)
    return rt


@pytest.fixture(params=[2, 16], ids=["chunks-of-4", "one-chunk"])
def bits(request: pytest.FixtureRequest) -> int:
    """Leaves per chunk, as a power of two: several small chunks, or one chunk for the whole log."""
    return int(request.param)


def check(rt: Runtime, connection: Connection, bits: int) -> Report:
    return verify.verify_log(connection, ledger.head_verifier(rt), batch=4, chunk_bits=bits)


def sql(connection: Connection, statement: str, **params: Any) -> None:
    connection.execute(text(statement), params)


def test_an_intact_log_verifies(log: Runtime, connection: Connection, bits: int) -> None:
    seen: list[int] = []
    report = verify.verify_log(connection, ledger.head_verifier(log), progress=seen.append, batch=5,
                               chunk_bits=bits)
    assert report.ok, report.differences
    assert (report.entries, report.tree_size, report.heads) == (24, 20, 3)
    assert sum(seen) == 24
    assert report.first is None


def test_an_empty_log_verifies(rt: Runtime, connection: Connection, bits: int) -> None:
    report = check(rt, connection, bits)
    assert report.ok
    assert report.entries == 0


def _first(report: Report) -> tuple[int, str]:
    assert not report.ok
    assert report.first is not None
    return report.first.index, report.first.kind


def test_an_edited_entry_is_found_at_its_index(log: Runtime, connection: Connection, bits: int) -> None:
    sql(connection, "UPDATE audit_entries SET actor = 'someone else' WHERE seq = 9")
    report = check(log, connection, bits)
    assert _first(report) == (8, "edited")
    # the heads over it differ too, but only as a consequence: the edit is what is named
    assert all(d.index == 8 for d in report.differences)


def test_an_edit_after_the_last_head_is_found_too(log: Runtime, connection: Connection, bits: int) -> None:
    sql(connection, "UPDATE audit_entries SET outcome = 'denied' WHERE seq = 23")
    assert _first(check(log, connection, bits)) == (22, "edited")


def test_an_edit_with_a_rewritten_leaf_hash_differs_from_the_tree(
    log: Runtime, connection: Connection, bits: int
) -> None:
    with log.sessions() as session, session.begin():
        entry = session.get_one(AuditEntry, 3)
        entry.actor = "forged"
        entry.leaf_hash = leaf_hash_of(stored_document(entry))
    index, kind = _first(check(log, connection, bits))
    assert (index, kind) == (2, "tree")


def test_a_deleted_entry_is_found_at_its_index(log: Runtime, connection: Connection, bits: int) -> None:
    sql(connection, "DELETE FROM audit_entries WHERE seq = 7")
    report = check(log, connection, bits)
    assert _first(report) == (6, "deleted")
    assert "entries 7 to 7 are missing" in report.differences[0].detail


def test_deleted_last_entries_are_found(log: Runtime, connection: Connection, bits: int) -> None:
    sql(connection, "DELETE FROM audit_entries WHERE seq >= 22")
    assert _first(check(log, connection, bits)) == (21, "deleted")


def test_deleted_integrated_entries_at_the_end_are_found(log: Runtime, connection: Connection, bits: int) -> None:
    sql(connection, "DELETE FROM audit_entries WHERE seq >= 18")
    assert _first(check(log, connection, bits))[0] == 17


def test_two_swapped_entries_are_found_at_the_first(log: Runtime, connection: Connection, bits: int) -> None:
    sql(connection, "UPDATE audit_entries SET seq = 1000 WHERE seq = 4")
    sql(connection, "UPDATE audit_entries SET seq = 4 WHERE seq = 15")
    sql(connection, "UPDATE audit_entries SET seq = 15 WHERE seq = 1000")
    report = check(log, connection, bits)
    assert _first(report) == (3, "edited")
    assert {d.index for d in report.differences if d.kind == "edited"} == {3, 14}


def test_an_inserted_entry_is_found_beyond_the_counter(log: Runtime, connection: Connection, bits: int) -> None:
    document = entry_document(25, NOW, draft(25))
    row = {k: v for k, v in document.items() if k != "at"}
    connection.execute(insert(AuditEntry).values(**row, at=NOW, leaf_hash=leaf_hash_of(document)))
    assert _first(check(log, connection, bits)) == (24, "inserted")


def test_a_renumbering_to_insert_an_entry_is_found(log: Runtime, connection: Connection, bits: int) -> None:
    for seq in range(24, 9, -1):
        sql(connection, "UPDATE audit_entries SET seq = seq + 1 WHERE seq = :s", s=seq)
    sql(connection, "UPDATE audit_counter SET last_seq = 25")
    document = entry_document(10, NOW, draft(99))
    row = {k: v for k, v in document.items() if k != "at"}
    connection.execute(insert(AuditEntry).values(**row, at=NOW, leaf_hash=leaf_hash_of(document)))
    assert _first(check(log, connection, bits))[0] == 9


def test_a_corrupted_head_signature_is_found_from_the_previous_head(
    log: Runtime, connection: Connection, bits: int
) -> None:
    jws = connection.execute(text("SELECT jws FROM audit_tree_heads WHERE tree_size = 12")).scalar_one()
    head, payload, signature = jws.split(".")
    forged = f"{head}.{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    sql(connection, "UPDATE audit_tree_heads SET jws = :j WHERE tree_size = 12", j=forged)
    report = check(log, connection, bits)
    assert _first(report) == (5, "head")
    assert "signature does not verify" in report.differences[0].detail


def test_a_rewritten_head_root_is_found_from_the_previous_head(log: Runtime, connection: Connection, bits: int) -> None:
    sql(connection, "UPDATE audit_tree_heads SET root_hash = :r WHERE tree_size = 20", r=b"\x01" * 32)
    report = check(log, connection, bits)
    assert _first(report) == (12, "head")
    assert {d.detail.split(": ")[1] for d in report.differences} >= {
        "the signed claims differ from the stored head", "the stored root differs from the rebuilt tree's root"}


def test_a_rewritten_tree_node_is_found_at_the_leaves_it_covers(
    log: Runtime, connection: Connection, bits: int
) -> None:
    sql(connection, "UPDATE audit_tree_nodes SET hash = :h WHERE level = 2 AND \"index\" = 2", h=b"\x02" * 32)
    assert _first(check(log, connection, bits)) == (8, "tree")


def test_a_tree_shrunk_behind_its_heads_is_found(log: Runtime, connection: Connection, bits: int) -> None:
    sql(connection, "UPDATE audit_tree_state SET size = 10")
    assert not check(log, connection, bits).ok


def test_a_stray_node_beyond_the_tree_is_counted_on_its_level(log: Runtime, connection: Connection,
                                                              bits: int) -> None:
    sql(connection, "INSERT INTO audit_tree_nodes (level, \"index\", hash) VALUES (0, 25, :h)", h=b"\x05" * 32)
    found = [d for d in check(log, connection, bits).differences if d.kind == "tree" and "holds" in d.detail]
    assert [(d.index, d.detail) for d in found] == [(20, "level 0 of the tree holds 21 nodes, 1 beyond a tree of "
                                                         "20 leaves")]


def test_a_stray_node_within_the_bounds_of_its_level_is_counted_on_sqlite(
    log: Runtime, connection: Connection, bits: int
) -> None:
    # SQLite keeps a 3.5 in an integer column: the node lies between the level's first and last index.
    if connection.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's index column holds integers only")
    sql(connection, "INSERT INTO audit_tree_nodes (level, \"index\", hash) VALUES (0, 3.5, :h)", h=b"\x05" * 32)
    found = [d for d in check(log, connection, bits).differences if d.kind == "tree" and "holds" in d.detail]
    assert [d.detail for d in found] == ["level 0 of the tree holds 21 nodes, 1 beyond a tree of 20 leaves"]


# --- the same report whatever the chunks ---------------------------------------------------------


# Each a way to tamper with the log fixture, chosen for what a chunk's edge could split or reorder:
# gaps across edges, a rebuild broken off before later edits, differences sharing an index.
CHUNK_EDGES = {
    "an edit": ["UPDATE audit_entries SET actor = 'x' WHERE seq = 9"],
    "a gap across several chunks": ["DELETE FROM audit_entries WHERE seq >= 3 AND seq <= 14"],
    "a gap to the end": ["DELETE FROM audit_entries WHERE seq >= 15"],
    "a gap past the counter": ["UPDATE audit_counter SET last_seq = 30"],
    "a tree beyond the entries": ["UPDATE audit_tree_state SET size = 40"],
    "every entry deleted": ["DELETE FROM audit_entries"],
    "a break, then edits": ["DELETE FROM audit_entries WHERE seq IN (9, 10)",
                            'DELETE FROM audit_tree_nodes WHERE level = 0 AND "index" IN (8, 9)',
                            "UPDATE audit_entries SET actor = 'x' WHERE seq IN (15, 19)"],
    "a shrunk tree, a gap and an edit": ["UPDATE audit_tree_state SET size = 10",
                                         "DELETE FROM audit_entries WHERE seq IN (12, 13)",
                                         "UPDATE audit_entries SET actor = 'x' WHERE seq = 20"],
    "nodes and a head at one index": ['UPDATE audit_tree_nodes SET hash = :h WHERE level = 3 AND "index" = 0',
                                      'UPDATE audit_tree_nodes SET hash = :h WHERE level = 1 AND "index" = 0',
                                      "UPDATE audit_entries SET actor = 'x' WHERE seq = 1",
                                      "UPDATE audit_tree_heads SET root_hash = :h WHERE tree_size = 5"],
    "an entry moved past the counter": ["UPDATE audit_entries SET seq = 33 WHERE seq = 6"],
}


@pytest.mark.parametrize("case", sorted(CHUNK_EDGES))
def test_the_report_is_the_same_whatever_the_size_of_the_chunks(log: Runtime, connection: Connection,
                                                                case: str) -> None:
    for statement in CHUNK_EDGES[case]:
        sql(connection, statement, **({"h": b"\x02" * 32} if ":h" in statement else {}))
    for limit in (3, 100):
        reports = [verify.verify_log(connection, ledger.head_verifier(log), batch=3, chunk_bits=bits, limit=limit)
                   for bits in (16, 1, 2, 3)]
        assert not reports[0].ok
        for report in reports[1:]:
            assert report == reports[0]
            assert [d.as_dict() for d in report.differences] == [d.as_dict() for d in reports[0].differences]


def test_a_small_log_is_cut_into_several_chunks_per_worker() -> None:
    assert verify.chunk_bits_for(65_000, 1) == verify.CHUNK_BITS  # one process: the fewest statements
    assert verify.chunk_bits_for(65_000, 2) == 12  # 16 chunks of 4,096 leaves
    assert verify.chunk_bits_for(200_000, 2) == 14  # 13 chunks of 16,384
    assert verify.chunk_bits_for(2_000_000, 2) == verify.CHUNK_BITS
    assert verify.chunk_bits_for(100, 8) == 12  # never below 2**12 leaves


def _tampered_alike(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Check that the log is reported alike by one process and by workers given chunks of 4 leaves."""
    one = ledger.verify_log(rt, workers=1)
    monkeypatch.setattr(verify_log_module, "MIN_CHUNK_BITS", 2)
    chunks: list[int] = []
    several = ledger.verify_log(rt, progress=chunks.append, workers=2)
    assert len(chunks) > 4
    assert not one.ok
    assert several == one
    assert [d.as_dict() for d in several.differences] == [d.as_dict() for d in one.differences]


# --- the command, on a SQLite file --------------------------------------------------------------


@dataclass
class Home:
    path: Path
    runner: CliRunner

    def run(self, *args: str) -> Result:
        env: dict[str, str | None] = {"XINYONG_HOME": str(self.path), "XINYONG_DATABASE_URL": None,
                                      "XINYONG_KEYRING": None, "XINYONG_ENV": None}
        return self.runner.invoke(main, list(args), env=env, catch_exceptions=False)

    def verify(self) -> tuple[int, dict[str, Any]]:
        result = self.run("audit", "verify", "--json")
        return result.exit_code, json.loads(result.stdout)

    def sql(self, statement: str, *params: Any) -> None:
        with sqlite3.connect(self.path / "xinyong.db") as conn:
            conn.execute(statement, params)

    def runtime(self) -> Runtime:
        return build_runtime(from_environ({"XINYONG_HOME": str(self.path)}))


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """An initialised home whose log has records imported (one head), then more entries and two more heads."""
    home = Home(tmp_path, CliRunner())
    assert home.run("init", "--json").exit_code == 0
    provider = json.loads(home.run("clients", "add", "--role", "provider", "--name", "P", "--categories",
                                   "ADMINISTRATIVE_PENALTY_GENERAL", "--agency", "any_competent_authority",
                                   "--json").stdout)["client_id"]
    people = People(seed=5)
    jsonl = tmp_path / "records.jsonl"
    jsonl.write_text("".join(json.dumps(penalty(people.new()), ensure_ascii=False) + "\n" for _ in range(4)),
                     encoding="utf-8")
    assert home.run("records", "import", str(jsonl), "--provider", provider, "--json").exit_code == 0
    rt = home.runtime()
    try:
        for start in (100, 200):
            append(rt, 6, start)
            assert json.loads(home.run("audit", "checkpoint", "--json").stdout)["created"] is True
        append(rt, 2, 300)
    finally:
        rt.engine.dispose()
    return home


def heads_of(home: Home) -> list[int]:
    with sqlite3.connect(home.path / "xinyong.db") as conn:
        return [size for (size,) in conn.execute("SELECT tree_size FROM audit_tree_heads ORDER BY id")]


def test_the_import_leaves_a_head_and_verify_passes_on_an_intact_log(home: Home) -> None:
    sizes = heads_of(home)
    assert len(sizes) == 3
    assert sizes[2] == sizes[1] + 6 == sizes[0] + 12
    code, out = home.verify()
    assert code == 0
    assert out["ok"] is True
    assert out["entries"] == sizes[2] + 2
    assert out["heads"] == 3
    assert out["first"] is None
    text_out = home.run("audit", "verify")
    assert text_out.exit_code == 0
    assert text_out.stdout.startswith("OK: ")


def test_a_checkpoint_with_nothing_new_keeps_the_head(home: Home) -> None:
    first = json.loads(home.run("audit", "checkpoint", "--json").stdout)
    again = home.run("audit", "checkpoint", "--json")
    assert json.loads(again.stdout) == {**first, "created": False}
    assert first["tree_size"] == heads_of(home)[-1]


TAMPERING = {
    "edited": (["UPDATE audit_entries SET actor = 'x' WHERE seq = 5"], 4, "edited"),
    "deleted": (["DELETE FROM audit_entries WHERE seq = 6"], 5, "deleted"),
    "reordered": (["UPDATE audit_entries SET seq = 1000 WHERE seq = 3",
                   "UPDATE audit_entries SET seq = 3 WHERE seq = 8",
                   "UPDATE audit_entries SET seq = 8 WHERE seq = 1000"], 2, "edited"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_verify_names_the_first_index_of_a_tampered_entry(home: Home, case: str) -> None:
    statements, index, kind = TAMPERING[case]
    for statement in statements:
        home.sql(statement)
    code, out = home.verify()
    assert code == 1
    assert out["ok"] is False
    assert (out["first"]["index"], out["first"]["kind"]) == (index, kind)
    plain = home.run("audit", "verify")
    assert plain.exit_code == 1
    assert f"DIFFERS at index {index} (entry {index + 1})" in plain.stdout


def test_verify_finds_an_inserted_entry(home: Home) -> None:
    with sqlite3.connect(home.path / "xinyong.db") as conn:
        last = conn.execute("SELECT last_seq FROM audit_counter").fetchone()[0]
    document = entry_document(last + 1, NOW + timedelta(days=1), draft(7))
    home.sql("INSERT INTO audit_entries (seq, at, actor, role, action, record_ids, outcome, detail, leaf_hash) "
             "VALUES (?, '2026-11-23 02:00:00.000000', ?, 'institution', ?, ?, 'allowed', ?, ?)",
             last + 1, document["actor"], document["action"], json.dumps(document["record_ids"]),
             json.dumps(document["detail"]), leaf_hash_of({**document, "subject_ref": None}))
    code, out = home.verify()
    assert code == 1
    assert (out["first"]["index"], out["first"]["kind"]) == (last, "inserted")


@pytest.mark.parametrize("part", ["signature", "root"])
def test_verify_names_a_corrupted_head(home: Home, part: str) -> None:
    sizes = heads_of(home)
    if part == "signature":
        with sqlite3.connect(home.path / "xinyong.db") as conn:
            jws = conn.execute("SELECT jws FROM audit_tree_heads WHERE tree_size = ?", (sizes[1],)).fetchone()[0]
        home.sql("UPDATE audit_tree_heads SET jws = ? WHERE tree_size = ?", jws[:-2] + ("AA" if jws[-2:] != "AA"
                                                                                      else "BB"), sizes[1])
    else:
        home.sql("UPDATE audit_tree_heads SET root_hash = ? WHERE tree_size = ?", b"\x07" * 32, sizes[1])
    code, out = home.verify()
    assert code == 1
    assert (out["first"]["index"], out["first"]["kind"]) == (sizes[0], "head")


def test_entries_stored_by_the_service_are_rebuilt_by_the_fast_path(home: Home) -> None:
    rt = home.runtime()
    try:
        with rt.sessions() as session, session.begin():
            for entry in session.execute(select(AuditEntry)).scalars():
                row = session.execute(entry_rows().where(AuditEntry.seq == entry.seq)).one()
                assert fast_leaf_hash(row) == leaf_hash_of(stored_document(entry)) == entry.leaf_hash
    finally:
        rt.engine.dispose()


def test_worker_processes_check_the_chunks_of_a_sqlite_file(home: Home) -> None:
    rt = home.runtime()
    try:
        intact = ledger.verify_log(rt, workers=2, chunk_bits=2)
        assert intact.ok, intact.differences
        assert intact.entries == heads_of(home)[-1] + 2
        home.sql("UPDATE audit_entries SET detail = '{\"n\": 1}' WHERE seq = 10")
        home.sql("UPDATE audit_tree_heads SET root_hash = ? WHERE id = (SELECT max(id) FROM audit_tree_heads)",
                 b"\x05" * 32)
        tampered = ledger.verify_log(rt, workers=2, chunk_bits=2)
        assert tampered.first is not None
        assert (tampered.first.index, tampered.first.kind) == (9, "edited")
        assert heads_of(home)[1] in {d.index for d in tampered.differences if d.kind == "head"}
    finally:
        rt.engine.dispose()


def test_workers_report_a_small_sqlite_log_as_one_process_does(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    home.sql("UPDATE audit_entries SET actor = 'x' WHERE seq = 7")
    home.sql("DELETE FROM audit_entries WHERE seq >= 11 AND seq <= 14")
    home.sql("UPDATE audit_tree_heads SET root_hash = ? WHERE id = (SELECT max(id) FROM audit_tree_heads)",
             b"\x05" * 32)
    rt = home.runtime()
    try:
        _tampered_alike(rt, monkeypatch)
    finally:
        rt.engine.dispose()


@pytest.fixture
def committed_pg(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on its own PostgreSQL database whose transactions really commit (worker processes
    read committed data only)."""
    name, admin = pg_database("xinyong_verify")
    engine = make_engine(pg_url(name))
    upgrade(engine)
    sessions = sessionmaker(bind=engine, autobegin=False, expire_on_commit=False)
    yield build_runtime(settings_for_tests(tmp_path), clock=FrozenClock(NOW), engine=engine, sessions=sessions,
                        vault=Vault.generate())
    engine.dispose()
    drop_pg_database(admin, name)


def test_worker_processes_check_the_chunks_of_a_postgresql_snapshot(committed_pg: Runtime) -> None:
    rt = committed_pg
    for start in (1, 30, 60):
        append(rt, 29, start)
        ledger.checkpoint(rt, batch=11)
    append(rt, 5, 100)
    intact = ledger.verify_log(rt, workers=2, chunk_bits=3)
    assert intact.ok, intact.differences
    assert (intact.entries, intact.tree_size, intact.heads) == (92, 87, 3)
    with rt.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq = 41"))
    tampered = ledger.verify_log(rt, workers=2, chunk_bits=3)
    assert tampered.first is not None
    assert (tampered.first.index, tampered.first.kind) == (40, "deleted")


def test_workers_report_a_small_postgresql_log_as_one_process_does(committed_pg: Runtime,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    rt = committed_pg
    for start in (1, 30):
        append(rt, 29, start)
        ledger.checkpoint(rt, batch=11)
    append(rt, 5, 100)
    with rt.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET actor = 'x' WHERE seq = 9"))
        conn.execute(text("DELETE FROM audit_entries WHERE seq >= 15 AND seq <= 26"))
        conn.execute(text("UPDATE audit_tree_heads SET root_hash = :r WHERE tree_size = 58"), {"r": b"\x05" * 32})
    _tampered_alike(rt, monkeypatch)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(drafts(), _TIMES), min_size=1, max_size=5))
def test_any_stored_entries_verify_whether_the_database_or_python_writes_their_leaf(
    rt: Runtime, clock: FrozenClock, connection: Connection, batch: list[tuple[EntryDraft, datetime]]
) -> None:
    with rt.sessions() as session, session.begin():
        for draft_, at in batch:
            clock.set(at)
            audit.append(session, clock, draft_)
    ledger.checkpoint(rt)
    report = verify.verify_log(connection, ledger.head_verifier(rt), chunk_bits=2)
    assert report.ok, report.differences


def test_times_from_the_year_1000_to_9999_and_outside_them_verify_and_an_edited_time_is_found(
    rt: Runtime, clock: FrozenClock, connection: Connection, bits: int
) -> None:
    # PostgreSQL writes the time of these years itself; Python writes the others.
    times = [datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), datetime(1000, 1, 1, tzinfo=UTC),
             datetime(2026, 11, 22, 10, 0, 0, 5, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)]
    with rt.sessions() as session, session.begin():
        for n, at in enumerate(times):
            clock.set(at)
            audit.append(session, clock, draft(n))
    ledger.checkpoint(rt)
    report = check(rt, connection, bits)
    assert report.ok, report.differences
    connection.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(at=times[2] + timedelta(microseconds=1)))
    assert _first(check(rt, connection, bits)) == (2, "edited")


def test_ordinary_entries_take_the_sqlite_shortcut(
    log: Runtime, connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    if connection.dialect.name != "sqlite":
        pytest.skip("on PostgreSQL every leaf is built from the columns")
    exact: list[int] = []
    real = verify_leaves._exact_leaves

    def counting(conn: Connection, seqs: list[int]) -> Any:
        exact.extend(seqs)
        return real(conn, seqs)

    monkeypatch.setattr(verify_leaves, "_exact_leaves", counting)
    assert check(log, connection, 16).ok
    assert exact == []
    sql(connection, "UPDATE audit_entries SET actor = 'edited' WHERE seq = 3")
    assert _first(check(log, connection, 16)) == (2, "edited")
    assert exact == [3]


def test_a_json_column_that_is_no_json_is_found_on_sqlite(log: Runtime, connection: Connection, bits: int) -> None:
    if connection.dialect.name != "sqlite":
        pytest.skip("PostgreSQL refuses text that is not JSON in a json column")
    sql(connection, "UPDATE audit_entries SET detail = 'not json' WHERE seq = 6")
    report = check(log, connection, bits)
    assert _first(report) == (5, "edited")
    assert "cannot be read back" in report.differences[0].detail
