"""`xinyong clients` for source agencies: --agency and --level, `clients list` and `clients set-agency`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from consent.catalogue import LEGACY_AGENCY, load_default
from gateway import demo
from gateway.cli import main
from gateway.database import alembic_config, make_engine
from gateway.usecases.clients import check_agency

Invoke = Callable[..., Result]
COURT = "COURT_ENFORCEMENT_DEFAULT"
LIST = "SERIOUS_DISHONESTY_LIST"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def fresh(home: Path) -> Invoke:
    """`xinyong ARGS` with XINYONG_HOME at `home` and the default SQLite database."""
    runner = CliRunner(env={"XINYONG_HOME": str(home), "XINYONG_DATABASE_URL": None, "XINYONG_KEYRING": None,
                            "XINYONG_ARGON2_TIME_COST": "1", "XINYONG_ARGON2_MEMORY_KIB": "1024",
                            "XINYONG_ENV": None})

    def invoke(*args: str) -> Result:
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def xinyong(fresh: Invoke) -> Invoke:
    """The same, on an initialised home."""
    assert fresh("init").exit_code == 0
    return fresh


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _sql(home: Path, statement: str, **params: object) -> None:
    engine = create_engine(f"sqlite:///{home / 'xinyong.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()


def _add(xinyong: Invoke, *options: str) -> Result:
    return xinyong("clients", "add", "--role", "provider", "--name", "测试局", *options)


def test_a_tax_office_registered_for_a_courts_category_is_refused_naming_both(xinyong: Invoke) -> None:
    result = _add(xinyong, "--agency", "tax", "--categories", f"TAX_ARREARS,{COURT}")
    assert result.exit_code != 0
    assert COURT in result.output
    assert "an agency with role tax (税务部门) may not file" in result.output
    assert _json(xinyong("clients", "list", "--json")) == {"clients": []}


def test_a_provider_without_an_agency_is_told_the_roles(xinyong: Invoke) -> None:
    result = _add(xinyong, "--categories", "TAX_ARREARS")
    assert result.exit_code != 0
    assert "--agency" in result.output
    assert "any_competent_authority, court, tax" in result.output


def test_a_list_needs_a_county_level_agency(xinyong: Invoke) -> None:
    for level in ("township", None):
        result = _add(xinyong, "--agency", "any_competent_authority", "--categories", LIST,
                      *(("--level", level) if level else ()))
        assert result.exit_code != 0
        assert "county or above" in result.output
    made = _json(_add(xinyong, "--agency", "any_competent_authority", "--level", "county", "--categories", LIST,
                      "--json"))
    assert (made["agency"], made["level"]) == ("any_competent_authority", "county")
    text_out = _add(xinyong, "--agency", "tax", "--level", "city", "--categories", "TAX_ARREARS").output
    assert "agency:        tax (city level)" in text_out


def test_clients_list_shows_roles_and_levels_and_flags_migrated_providers(xinyong: Invoke, home: Path) -> None:
    court = _json(_add(xinyong, "--agency", "court", "--level", "city", "--categories", COURT, "--json"))["client_id"]
    tax = _json(_add(xinyong, "--agency", "tax", "--categories", "TAX_ARREARS", "--json"))["client_id"]
    _sql(home, "UPDATE clients SET agency = :legacy, agency_level = NULL, agency_migrated = true WHERE client_id = :c",
         legacy=LEGACY_AGENCY, c=court)
    _sql(home, "UPDATE clients SET agency_migrated = true WHERE client_id = :c", c=tax)
    listed = xinyong("clients", "list").output
    court_line = next(line for line in listed.splitlines() if line.startswith(court))
    assert "provider legacy" in court_line
    assert "migrated" in court_line
    assert "set-agency" in court_line
    tax_line = next(line for line in listed.splitlines() if line.startswith(tax))
    assert "provider tax " in tax_line
    assert "[migrated: role derived" in tax_line
    by_id = {c["client_id"]: c for c in _json(xinyong("clients", "list", "--role", "provider", "--json"))["clients"]}
    assert (by_id[court]["legacy"], by_id[court]["migrated"]) == (True, True)
    assert (by_id[tax]["agency"], by_id[tax]["legacy"], by_id[tax]["migrated"]) == ("tax", False, True)

    refused = xinyong("clients", "set-agency", court, "--agency", "tax")
    assert refused.exit_code != 0
    assert COURT in refused.output
    given = _json(xinyong("clients", "set-agency", court, "--agency", "court", "--level", "city", "--json"))
    assert (given["agency"], given["level"], given["migrated"]) == ("court", "city", False)
    assert "migrated" not in next(line for line in xinyong("clients", "list").output.splitlines()
                                  if line.startswith(court))


def test_init_on_a_database_from_before_roles_says_how_its_providers_were_migrated(fresh: Invoke, home: Path) -> None:
    home.mkdir()
    engine = make_engine(f"sqlite:///{home / 'xinyong.db'}")
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")
    engine.dispose()
    for client_id, categories in (("prov_tax", ["TAX_ARREARS"]), ("prov_mixed", [COURT, "TAX_ARREARS"])):
        _sql(home, "INSERT INTO clients (client_id, secret_hash, name, role, categories, scope, created_at) "
                   "VALUES (:c, :h, :c, 'provider', :cats, 'records:write', '2026-11-01 00:00:00.000000')",
             c=client_id, h="0" * 64, cats=json.dumps(categories))
    assert _json(fresh("init", "--json"))["providers_migrated"] == {"derived": 1, "legacy": 1}
    said = fresh("init").output
    assert "2 providers registered before agency roles were migrated" in said
    assert "1 marked legacy" in said
    legacy = next(line for line in fresh("clients", "list").output.splitlines() if line.startswith("prov_mixed"))
    assert "legacy" in legacy
    fresh("clients", "set-agency", "prov_tax", "--agency", "tax")
    assert _json(fresh("init", "--json"))["providers_migrated"] == {"derived": 0, "legacy": 1}


def test_every_demo_agency_files_only_what_its_role_and_level_may() -> None:
    catalogue = load_default()
    for _name, agency, level, categories in demo.AGENCIES:
        check_agency(catalogue, categories, agency, level)
    assert {a for _n, a, _l, _c in demo.AGENCIES} >= {"court", "tax", "civil_affairs", "credit_office"}


def test_the_demo_registers_its_providers_with_roles(xinyong: Invoke) -> None:
    _json(xinyong("demo", "seed", "--people", "2", "--json"))
    providers = _json(xinyong("clients", "list", "--role", "provider", "--json"))["clients"]
    assert len(providers) == len(demo.AGENCIES)
    assert all(p["agency"] not in (None, LEGACY_AGENCY) and p["level"] == "city" for p in providers)
