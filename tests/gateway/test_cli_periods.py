"""`xinyong records reapply-periods`: records stored before a category's display rules get the end they set."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from tests.conftest import People, penalty
from tests.gateway.conftest import Invoke
from tests.gateway.test_cli import _json, _lines, _provider


def test_reapplying_periods_lengthens_records_still_shown_and_leaves_ended_ones_ended(
    initialised: Invoke, home: Path, tmp_path: Path,
) -> None:
    provider = _provider(initialised, "COURT_ENFORCEMENT_DEFAULT")
    today = date.today()

    def listing(decided: date) -> dict[str, Any]:
        return penalty(People(decided.toordinal()).new(), decided, category="COURT_ENFORCEMENT_DEFAULT",
                       document={"type": "court_enforcement_ruling", "number": "(2025)苏0402执1号",
                                 "authority": "常州市天宁区人民法院", "effective_at": decided.isoformat()},
                       payload={"case_number": "(2025)苏0402执1号", "enforcement_court": "常州市天宁区人民法院",
                                "listing_ground": "able_but_refuses_to_perform", "obligation": "支付货款",
                                "performance": "not_performed"})

    shown, ended = today - timedelta(days=400), today - timedelta(days=1000)
    path = tmp_path / "records.jsonl"
    path.write_text(_lines(listing(shown), listing(ended)), encoding="utf-8")
    assert initialised("records", "import", str(path), "--provider", provider).exit_code == 0
    # As stored under the old catalogue: two years for every ground.
    engine = create_engine(f"sqlite:///{home / 'xinyong.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE records SET period_source = 'catalogue', "
                              "display_until = date(decided_at, '+2 years')"))
            ids = dict(conn.execute(text("SELECT decided_at, id FROM records")).all())
        changed = _json(initialised("records", "reapply-periods", "--json"))["changed"]
        assert changed == [ids[shown.isoformat()]]
        with engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT id, display_until FROM records")).all())
            entries = conn.execute(text("SELECT count(*) FROM audit_entries "
                                        "WHERE action = 'vault:record:period-changed'")).scalar_one()
    finally:
        engine.dispose()
    assert rows[ids[shown.isoformat()]] is None
    assert rows[ids[ended.isoformat()]] is not None
    assert entries == 1
    assert _json(initialised("records", "reapply-periods", "--json"))["changed"] == []
