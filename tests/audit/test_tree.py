"""The Merkle tree over the audit log, in the database: batched integration, proofs, signed heads.

Roots and proofs from the stored tree must equal the RFC's recursive definition over the entries'
leaf hashes, whatever batches the tree grew in, and cost one small read.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, event, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from audit import entries as audit
from audit import heads, merkle, tree
from audit.clock import FrozenClock
from audit.entries import AuditEntry, EntryDraft
from audit.errors import TreeInconsistent, TreeSizeOutOfRange
from audit.heads import TreeHead
from audit.tags import Tag
from audit.tree import DbNodeStore, TreeNode
from gateway.database import make_engine, upgrade
from gateway.runtime import Runtime, build_runtime
from gateway.usecases import ledger
from tests.conftest import NOW, drop_pg_database, pg_database, pg_url, settings_for_tests
from vault.vault import Vault


def draft(n: int) -> EntryDraft:
    return EntryDraft(actor=f"inst_{n}", role="institution", action=Tag.QUERY_RELEASED, record_ids=[f"rec_{n}"],
                      detail={"n": n})


def append(rt: Runtime, count: int, start: int = 0) -> None:
    with rt.sessions() as session, session.begin():
        audit.append_many(session, rt.clock, [draft(start + i) for i in range(count)])


def integrate_all(rt: Runtime, batch: int) -> list[int]:
    """Integrate everything in transactions of `batch` leaves; return how many each added."""
    added = []
    with rt.sessions() as session:
        while True:
            with session.begin():
                n = tree.integrate(session, batch)
            if not n:
                return added
            added.append(n)


def leaves(session: Session) -> list[bytes]:
    return [bytes(h) for h in session.execute(select(AuditEntry.leaf_hash).order_by(AuditEntry.seq)).scalars()]


def sign(claims: dict[str, Any]) -> str:
    return f"signed:{claims['tree_size']}:{claims['root_hash']}"


@pytest.fixture
def grown(rt: Runtime) -> list[bytes]:
    """A log of 45 entries appended in uneven transactions, integrated in batches of 4; its leaf hashes."""
    for i, count in enumerate([1, 6, 2, 13, 1, 22]):
        append(rt, count, start=100 * i)
    integrate_all(rt, 4)
    with rt.sessions() as session, session.begin():
        return leaves(session)


# --- integration --------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 3, 7, 64])
def test_integrating_in_any_batches_gives_the_root_of_a_full_rebuild(rt: Runtime, batch: int) -> None:
    for i, count in enumerate([3, 1, 9, 4, 17]):
        append(rt, count, start=100 * i)
        integrate_all(rt, batch)
    with rt.sessions() as session, session.begin():
        hashes = leaves(session)
        assert tree.integrated_size(session) == len(hashes)
        for size in range(len(hashes) + 1):
            assert tree.root(session, size) == merkle.root_from_leaves(hashes[:size])


def test_integration_stores_exactly_the_nodes_of_an_in_memory_tree(rt: Runtime, grown: list[bytes]) -> None:
    reference = merkle.InMemoryNodeStore()
    reference.extend(merkle.nodes_to_add([], 0, grown))
    with rt.sessions() as session, session.begin():
        stored = {(lv, ix): bytes(h) for lv, ix, h in session.execute(select(TreeNode.level, TreeNode.index,
                                                                           TreeNode.hash))}
    assert stored == {key: reference.get(*key) for key in reference.keys()}  # noqa: SIM118 - a store, not a dict


def test_each_integration_takes_at_most_its_batch_and_then_nothing(rt: Runtime) -> None:
    append(rt, 10)
    assert integrate_all(rt, 4) == [4, 4, 2]
    assert integrate_all(rt, 4) == []


def test_integration_refuses_to_grow_past_a_missing_entry(rt: Runtime) -> None:
    append(rt, 6)
    with rt.sessions() as session:
        with session.begin():
            session.execute(delete(AuditEntry).where(AuditEntry.seq == 4))
        with pytest.raises(TreeInconsistent, match="entry 4 is missing"), session.begin():
            tree.integrate(session, 100)
        with session.begin():
            assert tree.integrated_size(session) == 0
            assert session.execute(select(func.count()).select_from(TreeNode)).scalar_one() == 0


def test_a_batch_before_the_missing_entry_still_integrates(rt: Runtime) -> None:
    append(rt, 6)
    with rt.sessions() as session:
        with session.begin():
            session.execute(delete(AuditEntry).where(AuditEntry.seq == 5))
        with session.begin():
            assert tree.integrate(session, 3) == 3
        with pytest.raises(TreeInconsistent), session.begin():
            tree.integrate(session, 3)


# --- proofs -------------------------------------------------------------------------------------


def test_every_inclusion_proof_from_the_database_verifies(rt: Runtime, grown: list[bytes]) -> None:
    with rt.sessions() as session, session.begin():
        for size in range(1, len(grown) + 1):
            root = merkle.root_from_leaves(grown[:size])
            for index in range(size):
                proof = tree.inclusion_proof(session, index, size)
                assert merkle.verify_inclusion(grown[index], index, size, proof, root)
                assert tree.inclusion_proof_with_leaf(session, index, size) == (grown[index], proof)


def test_every_consistency_proof_from_the_database_verifies(rt: Runtime, grown: list[bytes]) -> None:
    roots = [merkle.root_from_leaves(grown[:n]) for n in range(len(grown) + 1)]
    with rt.sessions() as session, session.begin():
        for second in range(1, len(grown) + 1):
            for first in range(1, second + 1):
                proof = tree.consistency_proof(session, first, second)
                assert merkle.verify_consistency(first, second, roots[first], roots[second], proof)


class CountingStore(DbNodeStore):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.batches: list[int] = []

    def get_many(self, keys: Sequence[merkle.Key]) -> dict[merkle.Key, bytes]:
        self.batches.append(len(keys))
        return super().get_many(keys)


def test_roots_and_proofs_read_logarithmically_many_nodes_in_one_batch(rt: Runtime) -> None:
    append(rt, 1000)
    integrate_all(rt, 300)
    bound = 2 * math.ceil(math.log2(1000)) + 2
    with rt.sessions() as session, session.begin():
        for size, index, first in [(1000, 0, 1), (1000, 999, 999), (1000, 517, 333), (777, 776, 512)]:
            stores = [CountingStore(session) for _ in range(3)]
            merkle.root(stores[0], size)
            merkle.inclusion_proof(stores[1], index, size)
            merkle.consistency_proof(stores[2], first, size)
            for store in stores:
                assert len(store.batches) <= 1
                assert sum(store.batches) <= bound


@pytest.fixture
def statements(connection: Connection) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(connection, "before_cursor_execute", count)
    yield seen
    event.remove(connection, "before_cursor_execute", count)


def test_an_inclusion_proof_with_its_leaf_takes_two_queries(rt: Runtime, statements: list[str]) -> None:
    append(rt, 300)
    integrate_all(rt, 1000)
    with rt.sessions() as session, session.begin():
        statements.clear()
        tree.inclusion_proof_with_leaf(session, 123, 300)
        # the integrated size, then every node (the leaf included) at once
        assert len([s for s in statements if "audit_tree" in s]) == 2


def test_proofs_beyond_the_integrated_tree_are_refused(rt: Runtime) -> None:
    append(rt, 5)
    integrate_all(rt, 3)
    append(rt, 2)
    with rt.sessions() as session, session.begin():
        with pytest.raises(TreeSizeOutOfRange) as caught:
            tree.inclusion_proof(session, 0, 6)
        assert caught.value.field == "tree_size"
        with pytest.raises(TreeSizeOutOfRange) as caught:
            tree.inclusion_proof(session, 5, 5)
        assert caught.value.field == "index"
        with pytest.raises(TreeSizeOutOfRange) as caught:
            tree.consistency_proof(session, 0, 5)
        assert caught.value.field == "first"
        with pytest.raises(TreeSizeOutOfRange):
            tree.root(session, 6)


# --- signed heads -------------------------------------------------------------------------------


def test_the_first_checkpoint_signs_the_empty_tree_when_the_log_is_empty(rt: Runtime) -> None:
    with rt.sessions() as session, session.begin():
        assert session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 0
        done = heads.checkpoint(session, rt.clock, sign)
    assert done.created
    assert (done.head.tree_size, done.head.root_hash) == (0, merkle.EMPTY_ROOT)


def test_a_checkpoint_integrates_everything_and_signs_the_root(rt: Runtime, clock: FrozenClock) -> None:
    append(rt, 11)
    with rt.sessions() as session, session.begin():
        done = heads.checkpoint(session, clock, sign, max_batch=3)
        assert done.created
        assert tree.integrated_size(session) == 11
        assert done.head.root_hash == merkle.root_from_leaves(leaves(session))
        assert done.head.timestamp == NOW
        assert done.head.jws == sign(done.head.claims())
        assert heads.latest_head(session) == done.head


def test_a_checkpoint_signs_a_new_head_only_when_the_tree_grew(rt: Runtime, clock: FrozenClock) -> None:
    append(rt, 3)
    with rt.sessions() as session:
        with session.begin():
            first = heads.checkpoint(session, clock, sign).head
        clock.advance(seconds=10)
        with session.begin():
            again = heads.checkpoint(session, clock, sign)
        assert not again.created
        assert again.head == first
        append(rt, 2)
        with session.begin():
            grown = heads.checkpoint(session, clock, sign)
        assert grown.created
        assert (grown.head.tree_size, grown.head.timestamp) == (5, NOW.replace(second=10))


def test_heads_are_appended_never_changed(rt: Runtime, clock: FrozenClock) -> None:
    made = []
    with rt.sessions() as session:
        for count in (2, 1, 4):
            append(rt, count)
            clock.advance(seconds=10)
            with session.begin():
                made.append(heads.checkpoint(session, clock, sign).head)
        with session.begin():
            assert heads.all_heads(session) == made
            assert [h.tree_size for h in made] == [2, 3, 7]
            assert [h.id for h in made] == sorted(h.id for h in made)


def test_there_is_one_head_per_tree_size(rt: Runtime) -> None:
    append(rt, 2)
    with rt.sessions() as session:
        with session.begin():
            head = heads.checkpoint(session, rt.clock, sign).head
        with session.begin():
            session.add(TreeHead(tree_size=head.tree_size, root_hash=head.root_hash, timestamp=NOW, jws="x"))
            with pytest.raises(IntegrityError):
                session.flush()
            session.rollback()


def test_the_gateway_signs_heads_that_verify_with_the_keyring(rt: Runtime) -> None:
    append(rt, 4)
    done = ledger.checkpoint(rt)
    claims = ledger.head_verifier(rt)(done.head.jws)
    assert claims == done.head.claims()
    assert claims == {"tree_size": 4, "root_hash": heads.b64(done.head.root_hash),
                      "timestamp": "2026-11-22T02:00:00.000000Z"}


def test_a_report_signature_is_no_tree_head(rt: Runtime) -> None:

    token = rt.vault.sign({"tree_size": 0}, "xinyong-report+jws")
    assert ledger.head_verifier(rt)(token) is None
    assert ledger.head_verifier(rt)("not.a.jws") is None


def test_an_entry_proof_against_the_latest_head_verifies(rt: Runtime) -> None:
    append(rt, 9)
    head = ledger.checkpoint(rt).head
    append(rt, 1)
    with rt.sessions() as session, session.begin():
        assert ledger.proof_against_latest(session, 10) is None
        found = ledger.proof_against_latest(session, 4)
        assert found is not None
        assert found.head == head
        assert merkle.verify_inclusion(leaves(session)[3], 3, 9, found.proof.audit_path, head.root_hash)
        many = ledger.proofs_against_latest(session, [9, 2, 10, 2])
        assert sorted(many) == [2, 9]
        for seq, entry in many.items():
            assert entry.head == head
            assert merkle.verify_inclusion(leaves(session)[seq - 1], seq - 1, 9, entry.proof.audit_path,
                                           head.root_hash)


# --- real concurrency ---------------------------------------------------------------------------


@pytest.fixture
def committed(tmp_path: Path) -> Iterator[tuple[Runtime, Engine]]:
    """A runtime on its own PostgreSQL database whose transactions really commit."""
    name, admin = pg_database("xinyong_tree")
    engine = make_engine(pg_url(name), pool_size=8, max_overflow=2)
    upgrade(engine)
    sessions = sessionmaker(bind=engine, autobegin=False, expire_on_commit=False)
    rt = build_runtime(settings_for_tests(tmp_path), clock=FrozenClock(NOW), engine=engine, sessions=sessions,
                       vault=Vault.generate())
    yield rt, engine
    engine.dispose()
    drop_pg_database(admin, name)


def test_concurrent_appends_on_postgresql_get_gapless_unique_numbers_and_one_tree(
    committed: tuple[Runtime, Engine],
) -> None:
    rt, engine = committed
    start = threading.Barrier(8)

    def worker(w: int) -> list[int]:
        got = []
        start.wait(timeout=10)
        for i in range(25):
            with rt.sessions() as session, session.begin():
                got.append(audit.append(session, rt.clock, draft(w * 100 + i)))
            if i % 10 == 9:
                # Integrations run alongside the appends, as the checkpoint after a response does.
                ledger.checkpoint(rt, batch=7)
        return got

    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = [n for got in pool.map(worker, range(8)) for n in got]
    assert sorted(numbers) == list(range(1, 201))
    head = ledger.checkpoint(rt).head
    with engine.connect() as conn:
        assert conn.execute(text("SELECT last_seq FROM audit_counter")).scalar_one() == 200
        hashes = [bytes(h) for h in conn.execute(select(AuditEntry.leaf_hash).order_by(AuditEntry.seq)).scalars()]
        assert [s for (s,) in conn.execute(select(AuditEntry.seq).order_by(AuditEntry.seq))] == list(range(1, 201))
        assert tree.integrated_size(conn) == 200
    assert head.tree_size == 200
    assert head.root_hash == merkle.root_from_leaves(hashes)
    with engine.connect() as conn:
        sizes = [h.tree_size for h in heads.all_heads(conn)]
    assert sizes == sorted(set(sizes))
