"""The `xinyong` command on a fresh SQLite home: init, clients, enrolment, bulk import, demo data."""

from __future__ import annotations

import json
import os
import signal
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import create_engine, text

from audit.clock import Clock
from consent.catalogue import load_default
from gateway.runtime import Runtime
from tests.conftest import People, penalty
from tests.gateway.conftest import Invoke


def _json(result: Result) -> Any:
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def _count(home: Path, table: str) -> int:
    engine = create_engine(f"sqlite:///{home / 'xinyong.db'}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608 - fixed names
    finally:
        engine.dispose()


def _provider(xinyong: Invoke, *categories: str) -> str:
    roles = load_default().roles_for(categories or ("ADMINISTRATIVE_PENALTY_GENERAL",))
    agency = "any_competent_authority" if "any_competent_authority" in roles else roles[0]
    out = _json(xinyong("clients", "add", "--role", "provider", "--name", "测试局 Test Bureau", "--agency", agency,
                        "--categories", ",".join(categories or ("ADMINISTRATIVE_PENALTY_GENERAL",)), "--json"))
    return str(out["client_id"])


# --- init ----------------------------------------------------------------------------------------


def test_init_creates_the_keyring_with_mode_0600_and_can_run_twice(xinyong: Invoke, home: Path) -> None:
    first = _json(xinyong("init", "--json"))
    keyring = home / "keyring.json"
    assert first["keyring_created"] is True
    assert stat.S_IMODE(keyring.stat().st_mode) == 0o600
    saved = keyring.read_bytes()
    second = _json(xinyong("init", "--json"))
    assert second["keyring_created"] is False
    assert keyring.read_bytes() == saved
    assert stat.S_IMODE(keyring.stat().st_mode) == 0o600
    assert first["catalogue_version"] == second["catalogue_version"]
    assert _count(home, "catalogues") == 1


def test_commands_before_init_fail_naming_xinyong_init(xinyong: Invoke) -> None:
    result = xinyong("subjects", "enroll", People().new())
    assert result.exit_code != 0
    assert "xinyong init" in result.output


# --- clients ---------------------------------------------------------------------------------------


def test_adding_a_provider_prints_its_id_and_secret_once(initialised: Invoke, home: Path) -> None:
    out = _json(initialised("clients", "add", "--role", "provider", "--name", "Tax", "--agency", "tax",
                            "--categories", "TAX_ARREARS", "--json"))
    assert out["client_id"].startswith("prov_")
    assert len(out["client_secret"]) >= 40
    assert out["categories"] == ["TAX_ARREARS"]
    assert out["scope"] == "records:write"
    stored = b"".join(p.read_bytes() for p in home.glob("xinyong.db*"))
    assert out["client_secret"].encode() not in stored


def test_a_provider_with_an_unknown_category_is_refused_by_name(initialised: Invoke, home: Path) -> None:
    result = initialised("clients", "add", "--role", "provider", "--name", "X", "--agency", "tax",
                         "--categories", "TAX_ARREARS,GOSSIP")
    assert result.exit_code != 0
    assert "GOSSIP" in result.output
    assert "not in the catalogue" in result.output
    assert _count(home, "clients") == 0


def test_an_institution_without_a_kind_is_refused(initialised: Invoke, home: Path) -> None:
    result = initialised("clients", "add", "--role", "institution", "--name", "Bank")
    assert result.exit_code != 0
    assert "--kind" in result.output
    assert _count(home, "clients") == 0
    made = _json(initialised("clients", "add", "--role", "institution", "--name", "Bank", "--kind", "lender",
                             "--json"))
    assert made["client_id"].startswith("inst_")


# --- enrolment -------------------------------------------------------------------------------------


def test_enrolment_prints_a_one_time_activation_code(initialised: Invoke, home: Path) -> None:
    out = _json(initialised("subjects", "enroll", People().new(), "--name", "张三", "--json"))
    assert len(out["activation_code"]) == 14
    assert out["expires_at"]
    assert _count(home, "accounts") == 1


@pytest.mark.parametrize(("citizen_id", "described"), [
    ("110105194912310021", "check character"),
    ("11010519491231002", "18 characters"),
    ("11010519491231002A", "17 digits"),
])
def test_enrolment_with_a_bad_id_fails_naming_the_check(
    initialised: Invoke, home: Path, citizen_id: str, described: str
) -> None:
    result = initialised("subjects", "enroll", citizen_id)
    assert result.exit_code != 0
    assert described in result.output
    assert _count(home, "accounts") == 0


# --- bulk import -----------------------------------------------------------------------------------


def _lines(*bodies: Any) -> str:
    return "\n".join(b if isinstance(b, str) else json.dumps(b, ensure_ascii=False) for b in bodies) + "\n"


def test_import_reports_each_bad_line_by_number_and_commits_the_good_ones(
    initialised: Invoke, home: Path, tmp_path: Path
) -> None:
    provider = _provider(initialised)
    people = People(11)
    no_document = penalty(people.new())
    del no_document["document"]
    path = tmp_path / "records.jsonl"
    path.write_text(_lines(
        penalty(people.new()),                              # 1 good
        '{"citizen_id": "1101',                             # 2 not JSON
        penalty("110105194912310021"),                      # 3 bad checksum
        {**penalty(people.new()), "hobby": "chess"},        # 4 unknown field
        no_document,                                        # 5 negative record without its document
        "",                                                 # 6 blank: skipped
        penalty(people.new(), decided=date(2026, 9, 1)),    # 7 good
    ), encoding="utf-8")
    result = initialised("records", "import", str(path), "--provider", provider, "--json")
    assert result.exit_code == 1
    out = _json(result)
    assert out["lines"] == 6
    assert out["created"] == 2
    assert out["duplicates"] == 0
    reasons = {e["line"]: e["reason"] for e in out["errors"]}
    assert sorted(reasons) == [2, 3, 4, 5]
    assert "JSON" in reasons[2]
    assert "citizen_id" in reasons[3]
    assert "check character" in reasons[3]
    assert "hobby" in reasons[4]
    assert reasons[5].startswith("document")
    assert _count(home, "records") == 2


def test_an_import_of_several_batches_prepared_by_workers_reports_bad_lines_by_number(
    initialised: Invoke, home: Path, tmp_path: Path
) -> None:
    provider = _provider(initialised)
    people = People(16)
    bodies: list[Any] = [penalty(people.new(), date(2026, 1 + n % 9, 1 + n % 28)) for n in range(1_050)]
    bodies[1] = '{"citizen_id": "1101'     # line 2: not JSON, in the first batch
    bodies[1_049] = "[]"                   # line 1,050: not an object, in the third
    path = tmp_path / "records.jsonl"
    path.write_text(_lines(*bodies), encoding="utf-8")
    out = _json(initialised("records", "import", str(path), "--provider", provider, "--json"))
    assert [e["line"] for e in out["errors"]] == [2, 1_050]
    assert (out["lines"], out["created"]) == (1_050, 1_048)
    assert _count(home, "records") == 1_048


def test_an_import_whose_worker_dies_fails_with_a_message_and_a_second_run_completes_it(
    initialised: Invoke, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.usecases import records

    provider, parse, parent = _provider(initialised), records._parse_line, os.getpid()

    def deadly(rt: Runtime, provider: Any, text: str, seen: Any) -> Any:
        if '"mark"' in text and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return parse(rt, provider, text, seen)

    monkeypatch.setattr(records, "_parse_line", deadly)
    people = People(17)
    bodies: list[Any] = [penalty(people.new(), date(2026, 1 + n % 9, 1 + n % 28)) for n in range(1_200)]
    path = tmp_path / "records.jsonl"
    path.write_text(_lines(*bodies[:1_100], {"mark": True}, *bodies[1_100:]), encoding="utf-8")
    result = initialised("records", "import", str(path), "--provider", provider)
    assert result.exit_code == 1
    assert "a worker process ended without answering (exit code -9): the batches before it are stored" in (
        result.output)
    assert isinstance(result.exception, SystemExit)  # a message, not an exception that escaped
    assert _count(home, "records") == 1_000  # two batches of 500; the third held the line that killed its worker
    path.write_text(_lines(*bodies), encoding="utf-8")
    out = _json(initialised("records", "import", str(path), "--provider", provider, "--json"))
    assert (out["created"], out["duplicates"], out["errors"]) == (200, 1_000, [])


def test_import_without_bad_lines_exits_zero_and_prints_a_summary(
    initialised: Invoke, home: Path, tmp_path: Path
) -> None:
    provider = _provider(initialised)
    path = tmp_path / "records.jsonl"
    path.write_text(_lines(penalty(People(12).new())), encoding="utf-8")
    result = initialised("records", "import", str(path), "--provider", provider)
    assert result.exit_code == 0, result.output
    assert "1 created" in result.stdout


def test_importing_the_same_file_twice_creates_no_duplicates(initialised: Invoke, home: Path, tmp_path: Path) -> None:
    provider = _provider(initialised)
    people = People(13)
    path = tmp_path / "records.jsonl"
    path.write_text(_lines(*(penalty(people.new()) for _ in range(3))), encoding="utf-8")
    first = _json(initialised("records", "import", str(path), "--provider", provider, "--json"))
    second = initialised("records", "import", str(path), "--provider", provider, "--json")
    assert second.exit_code == 0
    assert (first["created"], first["duplicates"]) == (3, 0)
    assert (_json(second)["created"], _json(second)["duplicates"]) == (0, 3)
    assert _count(home, "records") == 3


def test_import_with_a_client_that_is_not_a_provider_fails_clearly(
    initialised: Invoke, home: Path, tmp_path: Path
) -> None:
    institution = _json(initialised("clients", "add", "--role", "institution", "--name", "Bank", "--kind", "lender",
                                    "--json"))["client_id"]
    path = tmp_path / "records.jsonl"
    path.write_text(_lines(penalty(People(14).new())), encoding="utf-8")
    for client_id in (institution, "prov_doesnotexist"):
        result = initialised("records", "import", str(path), "--provider", client_id)
        assert result.exit_code != 0
        assert f"{client_id} is not an enabled provider" in result.output
    assert _count(home, "records") == 0


def test_import_of_a_category_the_provider_is_not_registered_for_is_a_bad_line(
    initialised: Invoke, tmp_path: Path
) -> None:
    provider = _provider(initialised, "TAX_ARREARS")
    path = tmp_path / "records.jsonl"
    path.write_text(_lines(penalty(People(15).new())), encoding="utf-8")
    result = initialised("records", "import", str(path), "--provider", provider, "--json")
    assert result.exit_code == 1
    [error] = _json(result)["errors"]
    assert error["line"] == 1
    assert "ADMINISTRATIVE_PENALTY_GENERAL" in error["reason"]


# --- demo data -------------------------------------------------------------------------------------


def test_demo_seed_runs_once_and_then_prints_the_same_logins(initialised: Invoke, home: Path) -> None:
    first = _json(initialised("demo", "seed", "--people", "3", "--json"))
    assert len(first["people"]) == 3
    assert {"citizen_id", "name", "password"} <= set(first["people"][0])
    clients, records, subjects = _count(home, "clients"), _count(home, "records"), _count(home, "subjects")
    assert clients == len(first["providers"]) + len(first["institutions"]) + 1
    assert records >= 3
    logins = home / "demo-logins.json"
    assert stat.S_IMODE(logins.stat().st_mode) == 0o600
    again = _json(initialised("demo", "seed", "--people", "3", "--json"))
    assert again == first
    assert (_count(home, "clients"), _count(home, "records"), _count(home, "subjects")) == (clients, records, subjects)


def test_demo_seed_after_a_database_reset_seeds_afresh_instead_of_printing_dead_logins(
    initialised: Invoke, home: Path
) -> None:
    first = _json(initialised("demo", "seed", "--people", "2", "--json"))
    for stale in home.glob("xinyong.db*"):
        stale.unlink()
    assert initialised("init").exit_code == 0
    fresh = _json(initialised("demo", "seed", "--people", "2", "--json"))
    assert fresh["auditor"]["client_id"] != first["auditor"]["client_id"]
    assert _count(home, f"clients WHERE client_id = '{fresh['auditor']['client_id']}'") == 1
    text = initialised("demo", "seed", "--people", "2").output
    assert fresh["people"][0]["shows"] in text
    (home / "demo-logins.json").unlink()
    lost = initialised("demo", "seed", "--people", "2")
    assert lost.exit_code == 1
    assert "does not hold its logins" in lost.output


def test_disabling_a_client_revokes_its_tokens_and_is_audited(initialised: Invoke, home: Path) -> None:
    client_id = _provider(initialised)
    out = _json(initialised("clients", "disable", client_id, "--json"))
    assert out == {"client_id": client_id, "disabled": True, "tokens_revoked": 0}
    assert _count(home, "audit_entries WHERE action = 'gateway:client:disabled'") == 1
    unknown = initialised("clients", "disable", "prov_nobody")
    assert unknown.exit_code == 1
    assert "prov_nobody is not a registered client" in unknown.output


def test_an_agency_answers_objections_from_the_command_line(
        initialised: Invoke, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.config import from_environ
    from gateway.runtime import build_runtime
    from gateway.usecases import objections as use

    provider = _provider(initialised, "ADMINISTRATIVE_PENALTY_GENERAL")
    citizen_id = People(11).new()
    lines = tmp_path / "one.jsonl"
    lines.write_text(json.dumps(penalty(citizen_id), ensure_ascii=False) + "\n", encoding="utf-8")
    assert initialised("records", "import", str(lines), "--provider", provider).exit_code == 0
    monkeypatch.setenv("XINYONG_HOME", str(home))
    for name in ("XINYONG_DATABASE_URL", "XINYONG_KEYRING", "XINYONG_ENV"):
        monkeypatch.delenv(name, raising=False)
    rt = build_runtime(from_environ())
    try:
        with rt.sessions() as session, session.begin():
            record_id = session.execute(text("SELECT id FROM records")).scalar_one()
        filed = use.file_objection(rt, use.FileObjection(rt.vault.subject_ref(citizen_id), record_id, "金额有误"))
    finally:
        rt.engine.dispose()

    listed = _json(initialised("objections", "list", "--provider", provider, "--json"))["objections"]
    assert [o["id"] for o in listed] == [filed["id"]]
    early = initialised("objections", "answer", filed["id"], "--provider", provider, "--step", "decide",
                        "--outcome", "upheld", "--reason", "无误")
    assert early.exit_code == 1
    assert "submitted" in early.output
    assert _json(initialised("objections", "answer", filed["id"], "--provider", provider, "--step", "accept",
                             "--json"))["status"] == "accepted"
    decided = _json(initialised("objections", "answer", filed["id"], "--provider", provider, "--step", "decide",
                                "--outcome", "upheld", "--reason", "经核实无误", "--json"))
    assert decided["status"] == "upheld"
    assert _json(initialised("objections", "list", "--provider", provider, "--json")) == {"objections": []}
    assert "0 overdue steps recorded" in initialised("objections", "sweep").output


@contextmanager
def _home_runtime(home: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock | None = None) -> Iterator[Runtime]:
    """Yield the runtime of the CLI's home, as the service would build it, for steps the CLI has no command for."""
    from gateway.config import from_environ
    from gateway.runtime import build_runtime

    monkeypatch.setenv("XINYONG_HOME", str(home))
    for name in ("XINYONG_DATABASE_URL", "XINYONG_KEYRING", "XINYONG_ENV"):
        monkeypatch.delenv(name, raising=False)
    rt = build_runtime(from_environ(), clock=clock)
    try:
        yield rt
    finally:
        rt.engine.dispose()


def test_an_agency_decides_repairs_from_the_command_line(
        initialised: Invoke, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.usecases import repairs as use

    provider = _provider(initialised, "ADMINISTRATIVE_PENALTY_GENERAL")
    citizen_id = People(12).new()
    lines = tmp_path / "one.jsonl"
    lines.write_text(json.dumps(penalty(citizen_id, date(2026, 6, 1)), ensure_ascii=False) + "\n", encoding="utf-8")
    assert initialised("records", "import", str(lines), "--provider", provider).exit_code == 0
    with _home_runtime(home, monkeypatch) as rt:
        with rt.sessions() as session, session.begin():
            record_id = session.execute(text("SELECT id FROM records")).scalar_one()
        filed = use.apply(rt, use.ApplyForRepair(rt.vault.subject_ref(citizen_id), record_id, ("performance",),
                                                 "罚款已缴清", "本人承诺守法"))

    listed = _json(initialised("repairs", "list", "--provider", provider, "--json"))["repairs"]
    assert [r["id"] for r in listed] == [filed["id"]]
    assert initialised("repairs", "decide", filed["id"], "--provider", provider, "--outcome", "repaired",
                       "--reason", "准予").exit_code == 2  # a repair needs its effect
    decided = _json(initialised("repairs", "decide", filed["id"], "--provider", provider, "--outcome", "repaired",
                                "--effect", "mark", "--reason", "准予修复", "--json"))
    assert (decided["status"], decided["changed"]["released_to_third_parties"]) == ("repaired", False)
    again = initialised("repairs", "decide", filed["id"], "--provider", provider, "--outcome", "refused",
                        "--reason", "迟了")
    assert again.exit_code == 1
    assert "repaired" in again.output
    assert _json(initialised("repairs", "list", "--provider", provider, "--json")) == {"repairs": []}
    assert "0 overdue repair decisions recorded" in initialised("repairs", "sweep").output


def test_the_listing_clock_runs_from_the_command_line(
        initialised: Invoke, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from audit.clock import FrozenClock
    from gateway.usecases import clients as client_use
    from gateway.usecases import listings as use

    out = _json(initialised("clients", "add", "--role", "provider", "--name", "县市场监管局", "--agency",
                            "any_competent_authority", "--level", "county", "--categories",
                            "ADMINISTRATIVE_PENALTY_SERIOUS", "--json"))
    provider = str(out["client_id"])
    citizen_id = People(13).new()
    lines = tmp_path / "one.jsonl"
    body = penalty(citizen_id, date(2025, 6, 1), category="ADMINISTRATIVE_PENALTY_SERIOUS")
    lines.write_text(json.dumps(body, ensure_ascii=False) + "\n", encoding="utf-8")
    assert initialised("records", "import", str(lines), "--provider", provider).exit_code == 0
    # Proposed on Monday 12 October 2026: its window closed on the 19th, long before the command runs.
    with _home_runtime(home, monkeypatch, FrozenClock(datetime(2026, 10, 12, 2, tzinfo=UTC))) as rt:
        with rt.sessions() as session, session.begin():
            record_id = session.execute(text("SELECT id FROM records")).scalar_one()
        proposed = use.propose(rt, use.ProposeListing(client_use.provider(rt, provider), record_id, "black",
                                                      "拒不履行", "依据", ("restrict_flights",)))

    [queued] = _json(initialised("listings", "list", "--provider", provider, "--json"))["listings"]
    assert (queued["id"], queued["status"], queued["objection_until"]) == (proposed["id"], "proposed", "2026-10-19")
    assert "objection until 2026-10-19" in initialised("listings", "list", "--provider", provider).output
    assert _json(initialised("listings", "run", "--json")) == {"took_effect": [proposed["id"]], "ended": []}
    assert "0 listings took effect, 0 ended" in initialised("listings", "run").output
    [effective] = _json(initialised("listings", "list", "--provider", provider, "--json"))["listings"]
    assert effective["status"] == "in_effect"


def test_an_agency_verifies_declarations_from_the_command_line(
        initialised: Invoke, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.usecases import declarations as use

    provider = _provider(initialised, "VOLUNTEER_SERVICE", "CREDIT_COMMITMENT_BREACH")
    citizen_id = People(13).new()
    assert initialised("subjects", "enroll", citizen_id).exit_code == 0
    hours = {"organisation": "青年志愿者协会", "service_hours": "12", "period_start": "2026-01-10",
             "period_end": "2026-09-30"}
    with _home_runtime(home, monkeypatch) as rt:
        filed = use.declare(rt, use.Declare(rt.vault.subject_ref(citizen_id), "VOLUNTEER_SERVICE", hours, "属实"))

    listed = _json(initialised("declarations", "list", "--provider", provider, "--json"))["declarations"]
    assert [d["id"] for d in listed] == [filed["id"]]
    verified = _json(initialised("declarations", "verify", filed["id"], "--provider", provider, "--outcome",
                                 "verified", "--reason", "一致", "--json"))
    assert verified["status"] == "verified"
    assert verified["record_id"] in initialised("declarations", "list", "--provider", provider, "--status",
                                                "verified").output
    again = initialised("declarations", "verify", filed["id"], "--provider", provider, "--outcome", "false",
                        "--reason", "改判")
    assert again.exit_code == 1
    assert "DeclarationStepOutOfOrder" in again.output
    assert "0 overdue verifications recorded" in initialised("declarations", "sweep").output


def test_an_import_reports_a_line_nested_too_deeply_as_a_bad_line_and_stores_the_others(
    initialised: Invoke, home: Path, tmp_path: Path
) -> None:
    provider = _provider(initialised, "ADMINISTRATIVE_PENALTY_GENERAL")
    people = People(16)
    path = tmp_path / "records.jsonl"
    deep = '{"payload": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    path.write_text(_lines(penalty(people.new())) + deep + _lines(penalty(people.new())), encoding="utf-8")
    result = initialised("records", "import", str(path), "--provider", provider, "--json")
    assert result.exit_code == 1, result.output
    assert _json(result)["errors"] == [{"line": 2, "reason": "nested too deeply to read"}]
    assert _count(home, "records") == 2


def test_an_import_that_meets_a_byte_that_is_not_utf8_says_so_without_a_traceback(
    initialised: Invoke, home: Path, tmp_path: Path
) -> None:
    provider = _provider(initialised, "ADMINISTRATIVE_PENALTY_GENERAL")
    path = tmp_path / "records.jsonl"
    path.write_bytes(_lines(penalty(People(17).new())).encode() + b'{"citizen_id": "\xff"}\n')
    result = initialised("records", "import", str(path), "--provider", provider)
    assert result.exit_code == 1
    assert "could not be read on as UTF-8 text (UnicodeDecodeError)" in result.output
    assert isinstance(result.exception, SystemExit)  # a message, not an exception that escaped
