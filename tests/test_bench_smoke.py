"""The bench's machinery at a tiny scale: every measurement yields its rows, ratios and table.

Timings are never asserted: they depend on the machine. The self report is served by werkzeug in
the test's process rather than gunicorn, which `python -m bench --quick` exercises.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bench import table
from bench.options import Options
from bench.runner import run

TINY = Options(
    people=30, records_per_person=3, backends=("sqlite",), sample_people=3, latency_requests=20,
    latency_max_seconds=20.0, throughput_seconds=1.0, connections=4, generator="python", server="thread",
    progress=False, verbose=False,
)


def test_bench_measures_import_self_report_and_authorised_query_at_a_tiny_scale(tmp_path: Path) -> None:
    outcome = run(replace(TINY, workdir=tmp_path))

    assert outcome.failures == []
    assert outcome.ok
    by_metric = {row.metric: row for row in outcome.rows}
    assert set(by_metric) == {"records import", "records import, last tenth",
                              "self report latency p50", "self report latency p99",
                              "self report throughput", "authorised query latency p50",
                              "authorised query latency p99", "authorised query throughput", "audit appends",
                              "tree integration", "tree head (checkpoint) p50", "inclusion proof latency p50",
                              "inclusion proof latency p99", "consistency proof latency p50", "audit verify"}
    for row in outcome.rows:
        assert row.backend == "sqlite"
        assert row.value > 0
        assert row.baseline is not None
        assert row.baseline > 0
        assert row.ratio is not None
        assert row.errors == 0
    assert by_metric["records import"].aim is not None
    assert by_metric["records import"].met in (True, False)
    assert "90 records" in by_metric["records import"].note
    assert by_metric["records import, last tenth"].note.count(" / ") == 9
    assert by_metric["authorised query throughput"].met in (True, False)
    assert "lending purpose" in by_metric["authorised query latency p50"].note


def test_bench_table_lists_every_row_with_its_ratio(tmp_path: Path) -> None:
    outcome = run(replace(TINY, only=("import",), workdir=tmp_path))

    text = table.render(outcome.rows)
    assert text.splitlines()[0].split() == ["metric", "backend", "value", "baseline", "ratio", "aim", "met"]
    assert "records import" in text
    assert table.as_json(outcome.rows)[0]["ratio"] == outcome.rows[0].ratio
