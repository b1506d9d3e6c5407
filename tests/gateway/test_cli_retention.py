"""`xinyong records expire` and `xinyong subjects erase` on a SQLite file: what they print, that they are
idempotent and audited, and that the erased ciphertexts are no longer anywhere in the database's files."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from tests.conftest import People, penalty
from tests.gateway.conftest import Invoke
from tests.gateway.test_cli import _json, _lines, _provider

BASIS = "《个人信息保护法》第四十七条; 删除申请第 118 号"


def _import(xinyong: Invoke, tmp_path: Path, provider: str, *bodies: dict[str, Any]) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text(_lines(*bodies), encoding="utf-8")
    assert xinyong("records", "import", str(path), "--provider", provider).exit_code == 0


def _query(home: Path, sql: str) -> list[Any]:
    engine = create_engine(f"sqlite:///{home / 'xinyong.db'}")
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


def _files(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.glob("xinyong.db*")) if p.name != "xinyong.db.writers")


def _settle(home: Path) -> None:
    """Checkpoint the log into the main file, as years of service would have: the records are in it."""
    with sqlite3.connect(home / "xinyong.db") as conn:
        assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0


def _sealed(home: Path) -> dict[str, bytes]:
    return {decided: bytes(sealed) for decided, sealed in _query(home, "SELECT decided_at, sealed FROM records")}


def test_expire_previews_per_category_then_erases_once_and_the_ciphertext_leaves_the_files(
    initialised: Invoke, home: Path, tmp_path: Path,
) -> None:
    provider = _provider(initialised)
    today = date.today()
    old, recent = today - timedelta(days=7 * 366), today - timedelta(days=2 * 366)
    people = People(71)
    # Long texts: the sealed record spills into overflow pages, which SQLite frees rather than rewrites.
    large = penalty(people.new(), old)
    large["payload"] |= {"violation": "未按规定明码标价" * 125, "penalty_content": "罚款人民币二千元" * 125}
    _import(initialised, tmp_path, provider, large, penalty(people.new(), recent))
    _settle(home)
    before = _sealed(home)

    preview = _json(initialised("records", "expire", "--dry-run", "--json"))
    assert preview == {"dry_run": True, "erased": 0, "categories": [
        {"category": "ADMINISTRATIVE_PENALTY_GENERAL", "due": 1, "held": 0, "erased": 0}]}
    assert _sealed(home) == before
    text_out = initialised("records", "expire", "--dry-run").stdout
    assert "ADMINISTRATIVE_PENALTY_GENERAL: 1 past retention" in text_out
    assert "dry run: nothing erased" in text_out

    done = _json(initialised("records", "expire", "--json"))
    assert (done["dry_run"], done["erased"]) == (False, 1)
    assert _json(initialised("records", "expire", "--json"))["erased"] == 0
    after = _sealed(home)
    assert after[old.isoformat()] == b""
    assert after[recent.isoformat()] == before[recent.isoformat()]
    assert _query(home, "SELECT count(*) FROM audit_entries WHERE action = 'vault:record:erased'") == [(1,)]
    files = _files(home)
    assert before[recent.isoformat()] in files  # the scan finds a ciphertext that is there
    assert before[old.isoformat()] not in files
    assert initialised("audit", "verify").exit_code == 0


def test_subjects_erase_asks_first_then_crypto_shreds_and_leaves_no_ciphertext_behind(
    initialised: Invoke, home: Path, tmp_path: Path,
) -> None:
    provider = _provider(initialised)
    people = People(72)
    erased_id, kept_id = people.new(), people.new()
    _import(initialised, tmp_path, provider, penalty(erased_id, date.today() - timedelta(days=30)),
            penalty(kept_id, date.today() - timedelta(days=60)))
    assert initialised("subjects", "enroll", erased_id, "--name", "赵敏").exit_code == 0
    _settle(home)
    before = _sealed(home)
    [(citizen_id_ct, name_ct)] = _query(home, "SELECT citizen_id_ct, name_ct FROM subjects WHERE name_ct IS NOT NULL")

    declined = initialised("subjects", "erase", erased_id, "--basis", BASIS, input="n\n")
    assert declined.exit_code == 1
    assert "Aborted" in declined.output
    assert _sealed(home) == before

    done = _json(initialised("subjects", "erase", erased_id, "--basis", BASIS, "--yes", "--json"))
    assert done == {"erased": True, "records": 1, "categories": {"ADMINISTRATIVE_PENALTY_GENERAL": 1},
                    "grants_revoked": 0, "requests_lapsed": 0, "reports_purged": 0}
    [(basis, ref)] = _query(home, "SELECT basis, subject_ref FROM audit_entries WHERE action = 'vault:subject:erased'")
    assert basis == BASIS
    assert _query(home, "SELECT count(*) FROM subjects WHERE subject_ref = :ref".replace(":ref", f"'{ref}'")) == [(0,)]
    files = _files(home)
    kept = before[(date.today() - timedelta(days=60)).isoformat()]
    assert kept in files
    for gone in (before[(date.today() - timedelta(days=30)).isoformat()], citizen_id_ct, name_ct):
        assert bytes(gone) not in files
    assert initialised("audit", "verify").exit_code == 0

    again = initialised("subjects", "erase", erased_id, "--basis", BASIS, "--yes")
    assert again.exit_code == 1
    assert "no person with this citizen ID" in again.output


def test_subjects_erase_refuses_a_basis_that_quotes_a_citizen_id(initialised: Invoke) -> None:
    citizen_id = People(73).new()
    refused = initialised("subjects", "erase", citizen_id, "--basis", f"删除 {citizen_id}", "--yes")
    assert refused.exit_code == 2
    assert "never a citizen ID" in refused.output
