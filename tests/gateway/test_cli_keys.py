"""`xinyong keys rotate`: a new KEK re-wraps every data key, and a rotation killed half-way can be resumed.

The commands run as an operator would run them, against a SQLite file under XINYONG_HOME.
"""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from audit.entries import AuditEntry
from audit.tx import AccessContext
from gateway.cli import main
from gateway.config import from_environ
from gateway.runtime import Runtime, build_runtime
from tests.conftest import People, penalty
from vault.models import Subject
from vault.vault import Vault

READER = AccessContext(actor="person", role="person", purpose="self_report")
OPERATOR = AccessContext(actor="operator", role="operator")


@dataclass
class Home:
    path: Path
    runner: CliRunner
    citizen_ids: list[str]

    @property
    def keyring_path(self) -> Path:
        return self.path / "keyring.json"

    def run(self, *args: str, exit_code: int = 0) -> Result:
        env: dict[str, str | None] = {"XINYONG_HOME": str(self.path), "XINYONG_DATABASE_URL": None,
                                      "XINYONG_KEYRING": None, "XINYONG_ENV": None}
        result = self.runner.invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == exit_code, result.output
        return result

    def run_json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def runtime(self) -> Runtime:
        return build_runtime(from_environ({"XINYONG_HOME": str(self.path)}))

    def keks(self) -> tuple[int, list[int]]:
        """Return (current version, every version) of the key-encryption keys in the keyring file."""
        kek = json.loads(self.keyring_path.read_text())["kek"]
        return int(kek["current"]), sorted(int(v) for v in kek["versions"])


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """An initialised home with five people and six records, imported through the CLI."""
    people = People(seed=11)
    citizen_ids = [people.new() for _ in range(5)]
    home = Home(tmp_path, CliRunner(), citizen_ids)
    home.run_json("init")
    provider = home.run_json("clients", "add", "--role", "provider", "--name", "P", "--categories",
                             "ADMINISTRATIVE_PENALTY_GENERAL", "--agency", "any_competent_authority")["client_id"]
    lines = [penalty(cid) for cid in citizen_ids]
    lines.append(penalty(citizen_ids[0], payload={**penalty(citizen_ids[0])["payload"], "violation": "第二次"}))
    jsonl = tmp_path / "records.jsonl"
    jsonl.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    assert home.run_json("records", "import", str(jsonl), "--provider", provider) == {
        "lines": 6, "created": 6, "duplicates": 0, "errors": []}
    return home


def kek_versions(home: Home) -> list[int | None]:
    rt = home.runtime()
    try:
        with rt.sessions() as session, session.begin():
            return list(session.execute(select(Subject.kek_version).order_by(Subject.id)).scalars())
    finally:
        rt.engine.dispose()


def violations(home: Home) -> dict[str, list[str]]:
    """Return each person's decrypted records, read with the keyring on disk."""
    rt = home.runtime()
    try:
        with rt.uow.begin(READER) as tx:
            files = {cid: rt.vault.read_own(tx, rt.vault.subject_ref(cid)) for cid in home.citizen_ids}
        return {cid: sorted(view.payload["violation"] for view in own.records) for cid, own in files.items()}
    finally:
        rt.engine.dispose()


EXPECTED = 4 * [["未按规定明码标价"]]


def test_the_home_starts_with_every_data_key_under_the_first_kek(home: Home) -> None:
    assert kek_versions(home) == [1] * 5
    assert list(violations(home).values()) == [["未按规定明码标价", "第二次"], *EXPECTED]


def test_rotating_rewraps_every_data_key_under_a_new_version_and_every_record_still_decrypts(home: Home) -> None:
    before = violations(home)
    assert home.run_json("keys", "rotate", "--batch-size", "2") == {"kek_version": 2, "rewrapped": 5}
    assert kek_versions(home) == [2] * 5
    assert home.keks() == (2, [1, 2])
    assert violations(home) == before


def test_a_second_rotation_keeps_every_old_version_in_the_keyring(home: Home) -> None:
    home.run_json("keys", "rotate")
    assert home.run_json("keys", "rotate") == {"kek_version": 3, "rewrapped": 5}
    assert home.keks()[1] == [1, 2, 3]
    assert kek_versions(home) == [3] * 5


def test_a_rotation_killed_half_way_reads_everything_and_resume_finishes_it_without_a_new_key(home: Home) -> None:
    before = violations(home)
    assert Vault.open(home.keyring_path).add_kek() == 2
    rt = home.runtime()
    try:
        with rt.uow.begin(OPERATOR) as tx:
            assert rt.vault.rewrap(tx, 2) == 2
    finally:
        rt.engine.dispose()
    # Killed here: the keyring has version 2, two rows use it and three still use version 1.
    assert sorted(kek_versions(home)) == [1, 1, 1, 2, 2]
    assert violations(home) == before

    assert home.run_json("keys", "rotate", "--resume") == {"kek_version": 2, "rewrapped": 3}
    assert home.keks()[1] == [1, 2]
    assert kek_versions(home) == [2] * 5
    assert violations(home) == before


def test_resuming_with_nothing_pending_adds_no_key_and_rewraps_nothing(home: Home) -> None:
    assert home.run_json("keys", "rotate", "--resume") == {"kek_version": 1, "rewrapped": 0}
    assert home.keks()[1] == [1]


def test_the_keyring_file_stays_readable_by_its_owner_only_after_rotation(home: Home) -> None:
    assert stat.S_IMODE(home.keyring_path.stat().st_mode) == 0o600
    home.run_json("keys", "rotate")
    assert stat.S_IMODE(home.keyring_path.stat().st_mode) == 0o600
    assert [p.name for p in home.path.iterdir() if p.name.startswith(".keyring")] == []


def test_rotating_before_init_says_to_run_init(tmp_path: Path) -> None:
    home = Home(tmp_path, CliRunner(), [])
    result = home.run("keys", "rotate", exit_code=1)
    assert "xinyong init" in result.output
    assert not home.keyring_path.exists()


def test_a_rotation_is_itself_audited(tmp_path: Path) -> None:
    env = {"XINYONG_HOME": str(tmp_path), "XINYONG_DATABASE_URL": None, "XINYONG_KEYRING": None}
    runner = CliRunner(env=env)
    assert runner.invoke(main, ["init"], catch_exceptions=False).exit_code == 0
    assert runner.invoke(main, ["keys", "rotate", "--json"], catch_exceptions=False).exit_code == 0
    rt = build_runtime(from_environ({"XINYONG_HOME": str(tmp_path)}))
    with rt.sessions() as session, session.begin():
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "vault:keyring:rotated")).scalar_one()
    assert entry.detail["kek_version"] == 2
    rt.engine.dispose()
