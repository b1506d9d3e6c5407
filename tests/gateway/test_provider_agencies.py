"""Providers are registered as an agency role at a level; existing ones are migrated keeping what they file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from audit.entries import AuditEntry
from audit.tx import AccessContext
from consent.catalogue import LEGACY_AGENCY
from gateway.database import alembic_config, make_engine, upgrade
from gateway.models import Client
from gateway.runtime import Runtime
from gateway.usecases import clients as use
from gateway.usecases import records as record_use
from tests.conftest import People, drop_pg_database, penalty, pg_database, pg_url

COURT = "COURT_ENFORCEMENT_DEFAULT"
LIST = "SERIOUS_DISHONESTY_LIST"
GENERAL = "ADMINISTRATIVE_PENALTY_GENERAL"


def _add(rt: Runtime, categories: list[str], agency: str | None, level: str | None = None) -> use.NewClient:
    return use.add_client(rt, role="provider", name="测试局", categories=categories, kind=None, agency=agency,
                          level=level)


def _clients(rt: Runtime) -> int:
    with rt.sessions() as session, session.begin():
        return int(session.execute(select(func.count()).select_from(Client)).scalar_one())


def _refusal(rt: Runtime, categories: list[str], agency: str | None, level: str | None = None) -> str:
    with pytest.raises(use.ClientInvalid) as caught:
        _add(rt, categories, agency, level)
    assert _clients(rt) == 0
    return str(caught.value)


def _set_row(rt: Runtime, client_id: str, **values: object) -> None:
    with rt.sessions() as session, session.begin():
        session.execute(sa.update(Client).where(Client.client_id == client_id).values(**values))


# --- registration -------------------------------------------------------------------------------


def test_a_tax_office_is_not_registered_for_a_courts_category(rt: Runtime) -> None:
    message = _refusal(rt, ["TAX_ARREARS", COURT], "tax", "city")
    assert COURT in message
    assert "tax" in message


def test_a_list_needs_an_agency_at_county_level_or_above(rt: Runtime) -> None:
    assert "township" in _refusal(rt, [LIST], "any_competent_authority", "township")
    assert "--level" in _refusal(rt, [LIST], "any_competent_authority")
    made = _add(rt, [LIST, GENERAL], "any_competent_authority", "county")
    assert (made.agency, made.level) == ("any_competent_authority", "county")
    assert use.provider(rt, made.client_id).level == "county"


def test_a_provider_needs_a_known_role_and_level(rt: Runtime) -> None:
    assert "--agency" in _refusal(rt, [GENERAL], None)
    assert "court, tax" in _refusal(rt, [GENERAL], "neighbour")
    assert "not an agency role" in _refusal(rt, [GENERAL], LEGACY_AGENCY)  # only the migration marks legacy
    assert "administrative level" in _refusal(rt, [GENERAL], "tax", "village")


def test_only_providers_have_an_agency(rt: Runtime) -> None:
    with pytest.raises(use.ClientInvalid):
        use.add_client(rt, role="institution", name="Bank", categories=[], kind="lender", agency="tax")
    assert _clients(rt) == 0


def test_registration_is_audited_with_the_role_and_level(rt: Runtime) -> None:
    made = _add(rt, ["TAX_ARREARS"], "tax", "county")
    with rt.sessions() as session, session.begin():
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "gateway:client:added")).one()
    assert entry.detail["agency"] == "tax"  # type: ignore[index]
    assert entry.detail["level"] == "county"  # type: ignore[index]
    assert use.provider(rt, made.client_id).agency == "tax"


# --- ingestion checks again ---------------------------------------------------------------------


def test_an_import_refuses_the_line_a_role_may_not_file_naming_it(rt: Runtime, people: People,
                                                                   tmp_path: Path) -> None:
    made = _add(rt, [GENERAL], "tax", "city")
    # Registered before roles were checked: its row still lists a court's category.
    _set_row(rt, made.client_id, categories=[GENERAL, COURT])
    path = tmp_path / "records.jsonl"
    lines = [penalty(people.new()), penalty(people.new(), category=COURT)]
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    access = AccessContext(actor=made.client_id, role="provider", basis="bulk import")
    report = record_use.import_file(rt, use.provider(rt, made.client_id), path, access)
    assert report.created == 1
    [(number, reason)] = report.errors
    assert number == 2
    assert COURT in reason
    assert "tax" in reason


# --- migrated providers -------------------------------------------------------------------------


def test_a_legacy_provider_is_listed_as_migrated_and_given_a_role_later(rt: Runtime) -> None:
    made = _add(rt, [COURT], "court", "city")
    _set_row(rt, made.client_id, agency=LEGACY_AGENCY, agency_level=None, agency_migrated=True)
    [view] = use.list_clients(rt, "provider")
    assert view.legacy
    assert view.migrated
    assert view.as_dict()["legacy"] is True
    with pytest.raises(use.ClientInvalid) as caught:
        use.set_agency(rt, made.client_id, "tax", "city")
    assert COURT in str(caught.value)
    given = use.set_agency(rt, made.client_id, "court", "county")
    assert (given.agency, given.level, given.migrated, given.legacy) == ("court", "county", False, False)
    with rt.sessions() as session, session.begin():
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "gateway:client:agency-set")).one()
    assert entry.detail["before"] == {"agency": LEGACY_AGENCY, "level": None, "migrated": True}  # type: ignore[index]


def test_a_provider_without_an_agency_cannot_be_stored(rt: Runtime) -> None:
    made = _add(rt, [GENERAL], "tax")
    with pytest.raises(IntegrityError):
        _set_row(rt, made.client_id, agency=None)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of each backend, not yet migrated."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    name, admin = pg_database("xinyong_migrate")
    engine = make_engine(pg_url(name))
    yield engine
    engine.dispose()
    drop_pg_database(admin, name)


def test_migration_0008_gives_existing_providers_the_role_that_keeps_what_they_file(fresh: Engine) -> None:
    cfg = alembic_config(fresh.url.render_as_string(hide_password=False))
    with fresh.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")
    old = sa.table("clients", sa.column("client_id", sa.String), sa.column("secret_hash", sa.String),
                   sa.column("name", sa.String), sa.column("role", sa.String), sa.column("categories", sa.JSON),
                   sa.column("scope", sa.String), sa.column("created_at", sa.DateTime))
    before = {"prov_tax": ["TAX_ARREARS"], "prov_court": [COURT], "prov_admin": [GENERAL, "ADMINISTRATIVE_LICENCE"],
              "prov_mixed": [COURT, "TAX_ARREARS"], "prov_list": [LIST, GENERAL], "inst_bank": []}
    with fresh.begin() as conn:
        conn.execute(old.insert(), [
            {"client_id": cid, "secret_hash": "0" * 64, "name": cid, "role": "institution" if cid == "inst_bank"
             else "provider", "categories": cats, "scope": "records:write",
             "created_at": datetime(2026, 11, 1, tzinfo=UTC).replace(tzinfo=None)}
            for cid, cats in before.items()])
    upgrade(fresh)
    with fresh.connect() as conn:
        rows = {r.client_id: (r.agency, r.agency_level, r.agency_migrated, r.categories) for r in conn.execute(
            select(Client.client_id, Client.agency, Client.agency_level, Client.agency_migrated, Client.categories))}
    assert rows == {
        "prov_tax": ("tax", None, True, ["TAX_ARREARS"]),
        "prov_court": ("court", None, True, [COURT]),
        "prov_admin": ("any_competent_authority", None, True, [GENERAL, "ADMINISTRATIVE_LICENCE"]),
        "prov_mixed": (LEGACY_AGENCY, None, True, [COURT, "TAX_ARREARS"]),
        "prov_list": (LEGACY_AGENCY, None, True, [LIST, GENERAL]),
        "inst_bank": (None, None, False, []),
    }
