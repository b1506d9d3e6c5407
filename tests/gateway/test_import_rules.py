"""`records import` refuses the lines that break the catalogue's entry rules, by line number, as the API does."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from audit.tx import AccessContext
from gateway.runtime import Runtime
from gateway.usecases import clients as client_use
from gateway.usecases import records
from tests.api.test_entry_rules_api import academic, listing, with_credit_code
from tests.conftest import People, penalty
from vault.models import Record
from vault.types import Provider


def test_the_import_refuses_each_line_that_breaks_an_entry_rule_with_its_number(
    rt: Runtime, tmp_path: Path
) -> None:
    people = People(31)
    # An education bureau (an administrative authority) at city level files every kind of line below.
    categories = [c for c in rt.catalogue.categories if rt.catalogue.filing_refusal(c, "education", "city") is None]
    made = client_use.add_client(rt, role="provider", name="test provider", categories=categories, kind=None,
                                 agency="education", level="city")
    provider = Provider(made.client_id, frozenset(categories), "education", "city")
    before_1949 = penalty(people.new(born=date(1930, 1, 1)))
    before_1949["decided_at"] = "0001-01-01"
    effective_early = penalty(people.new(), date(2026, 10, 8))
    effective_early["document"]["effective_at"] = "2026-10-07"
    lines: list[dict[str, Any]] = [
        penalty(people.new()),                                                   # 1 good
        academic(people.new(born=date(2009, 3, 1)), date(2026, 10, 1)),          # 2 a minor
        before_1949,                                                             # 3 decided in year 1
        effective_early,                                                         # 4 effective before decided
        listing(people.new(), date(2026, 10, 12), date(2026, 10, 31)),           # 5 notice after the listing
        with_credit_code(people.new(), "91110000600037341M"),                    # 6 bad credit code
        penalty(people.new(born=date(2001, 1, 1)), date(2000, 12, 31)),         # 7 decided before birth
        listing(people.new(), date(2026, 10, 26), date(2026, 10, 16)),           # 8 good
    ]
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
    access = AccessContext(actor=provider.client_id, role="provider", basis="bulk import")

    report = records.import_file(rt, provider, path, access)

    reasons = dict(report.errors)
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7]
    assert reasons[2].startswith("decided_at: the person was under 18")
    assert reasons[3].startswith("decided_at: is before 1949-10-01")
    assert reasons[4].startswith("document.effective_at: is before decided_at")
    assert reasons[5].startswith("payload.notified_on: is not before decided_at")
    assert reasons[6].startswith("payload.organisation_credit_code: not a unified social credit code")
    assert reasons[7].startswith("decided_at: is before the person's birth date")
    assert (report.lines, report.created) == (8, 2)
    with rt.sessions() as session, session.begin():
        assert session.execute(select(func.count()).select_from(Record)).scalar_one() == 2
