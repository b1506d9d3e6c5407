"""`xinyong clients` for source agencies: --agency and --level, `clients list` and `clients set-agency`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alembic import command
from click.testing import Result
from sqlalchemy import create_engine, text

from consent.catalogue import LEGACY_AGENCY, load_default
from gateway import demo
from gateway.database import alembic_config, make_engine
from gateway.usecases.clients import check_agency
from tests.gateway.conftest import Invoke

COURT = "COURT_ENFORCEMENT_DEFAULT"
LIST = "SERIOUS_DISHONESTY_LIST"


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


def _add(initialised: Invoke, *options: str) -> Result:
    return initialised("clients", "add", "--role", "provider", "--name", "测试局", *options)


def test_a_tax_office_registered_for_a_courts_category_is_refused_naming_both(initialised: Invoke) -> None:
    result = _add(initialised, "--agency", "tax", "--categories", f"TAX_ARREARS,{COURT}")
    assert result.exit_code != 0
    assert COURT in result.output
    assert "an agency with role tax (税务部门) may not file" in result.output
    assert _json(initialised("clients", "list", "--json")) == {"clients": []}


def test_a_provider_without_an_agency_is_told_the_roles(initialised: Invoke) -> None:
    result = _add(initialised, "--categories", "TAX_ARREARS")
    assert result.exit_code != 0
    assert "--agency" in result.output
    assert "any_competent_authority, court, tax" in result.output


def test_a_list_needs_a_county_level_agency(initialised: Invoke) -> None:
    for level in ("township", None):
        result = _add(initialised, "--agency", "any_competent_authority", "--categories", LIST,
                      *(("--level", level) if level else ()))
        assert result.exit_code != 0
        assert "county or above" in result.output
    made = _json(_add(initialised, "--agency", "any_competent_authority", "--level", "county", "--categories", LIST,
                      "--json"))
    assert (made["agency"], made["level"]) == ("any_competent_authority", "county")
    text_out = _add(initialised, "--agency", "tax", "--level", "city", "--categories", "TAX_ARREARS").output
    assert "agency:        tax (city level)" in text_out


def test_clients_list_shows_roles_and_levels_and_flags_migrated_providers(initialised: Invoke, home: Path) -> None:
    court = _json(_add(initialised, "--agency", "court", "--level", "city", "--categories", COURT,
                       "--json"))["client_id"]
    tax = _json(_add(initialised, "--agency", "tax", "--categories", "TAX_ARREARS", "--json"))["client_id"]
    _sql(home, "UPDATE clients SET agency = :legacy, agency_level = NULL, agency_migrated = true WHERE client_id = :c",
         legacy=LEGACY_AGENCY, c=court)
    _sql(home, "UPDATE clients SET agency_migrated = true WHERE client_id = :c", c=tax)
    listed = initialised("clients", "list").output
    court_line = next(line for line in listed.splitlines() if line.startswith(court))
    assert "provider legacy" in court_line
    assert "migrated" in court_line
    assert "set-agency" in court_line
    tax_line = next(line for line in listed.splitlines() if line.startswith(tax))
    assert "provider tax " in tax_line
    assert "[migrated: role derived" in tax_line
    listed = _json(initialised("clients", "list", "--role", "provider", "--json"))["clients"]
    by_id = {c["client_id"]: c for c in listed}
    assert (by_id[court]["legacy"], by_id[court]["migrated"]) == (True, True)
    assert (by_id[tax]["agency"], by_id[tax]["legacy"], by_id[tax]["migrated"]) == ("tax", False, True)

    refused = initialised("clients", "set-agency", court, "--agency", "tax")
    assert refused.exit_code != 0
    assert COURT in refused.output
    given = _json(initialised("clients", "set-agency", court, "--agency", "court", "--level", "city", "--json"))
    assert (given["agency"], given["level"], given["migrated"]) == ("court", "city", False)
    assert "migrated" not in next(line for line in initialised("clients", "list").output.splitlines()
                                  if line.startswith(court))


def test_init_on_a_database_from_before_roles_says_how_its_providers_were_migrated(xinyong: Invoke, home: Path) -> None:
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
    assert _json(xinyong("init", "--json"))["providers_migrated"] == {"derived": 1, "legacy": 1}
    said = xinyong("init").output
    assert "2 providers registered before agency roles were migrated" in said
    assert "1 marked legacy" in said
    legacy = next(line for line in xinyong("clients", "list").output.splitlines() if line.startswith("prov_mixed"))
    assert "legacy" in legacy
    xinyong("clients", "set-agency", "prov_tax", "--agency", "tax")
    assert _json(xinyong("init", "--json"))["providers_migrated"] == {"derived": 0, "legacy": 1}


def test_every_demo_agency_files_only_what_its_role_and_level_may() -> None:
    catalogue = load_default()
    for _name, agency, level, categories in demo.AGENCIES:
        check_agency(catalogue, categories, agency, level)
    assert {a for _n, a, _l, _c in demo.AGENCIES} >= {"court", "tax", "civil_affairs", "credit_office"}


def test_the_demo_registers_its_providers_with_roles(initialised: Invoke) -> None:
    _json(initialised("demo", "seed", "--people", "2", "--json"))
    providers = _json(initialised("clients", "list", "--role", "provider", "--json"))["clients"]
    assert len(providers) == len(demo.AGENCIES)
    assert all(p["agency"] not in (None, LEGACY_AGENCY) and p["level"] == "city" for p in providers)
