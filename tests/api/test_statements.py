"""The lean hot path, counted: statements per request, and the audit counter taken last.

A cursor listener records every statement the request's transaction sends (in tests a
transaction is a savepoint of the test's connection). The gapless counter's lock is held from
its `UPDATE ... RETURNING` to the commit, so that bump must be the last statement but the entry's
INSERT; and the authorised query must stay within its budget of statements.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.engine import Connection

from tests.conftest import Auth, People, Person, Registered, penalty

QUERY_BUDGET = 6
SELF_REPORT_BUDGET = 5


class Statements:
    """The statements of each transaction sent while recording, savepoints as the boundaries."""

    def __init__(self) -> None:
        self.transactions: list[list[str]] = []
        self._open: list[str] | None = None

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        text = " ".join(statement.split())
        head = text.upper()
        if head.startswith("SAVEPOINT"):
            self._open = []
        elif head.startswith("RELEASE SAVEPOINT") or head.startswith("ROLLBACK TO SAVEPOINT"):
            if self._open is not None and head.startswith("RELEASE"):
                self.transactions.append(self._open)
            self._open = None
        elif self._open is not None:
            self._open.append(text)

    def writing(self, table: str) -> list[str]:
        """Return the one committed transaction that wrote `table`."""
        found = [t for t in self.transactions if any(_writes(s, table) for s in t)]
        assert len(found) == 1, found
        return found[0]


def _writes(statement: str, table: str) -> bool:
    head = statement.upper()
    writes = (f"UPDATE {table.upper()} ", f"INSERT INTO {table.upper()} ")
    # A statement that writes through a common table expression (WITH spent AS (UPDATE grants ...) INSERT ...).
    return head.startswith(writes) or (head.startswith("WITH ") and any(w in head for w in writes))


def _is_write(statement: str) -> bool:
    return statement.upper().startswith(("UPDATE ", "INSERT ", "DELETE ", "WITH "))


@pytest.fixture
def statements(connection: Connection) -> Iterator[Any]:
    @contextmanager
    def record() -> Iterator[Statements]:
        seen = Statements()
        event.listen(connection, "before_cursor_execute", seen)
        try:
            yield seen
        finally:
            event.remove(connection, "before_cursor_execute", seen)

    return record


def _ends_with_the_audit_append(transaction: list[str]) -> None:
    assert _writes(transaction[-2], "audit_counter"), transaction
    assert _writes(transaction[-1], "audit_entries"), transaction
    assert not any(_writes(s, "audit_counter") for s in transaction[:-2])


def _grant(client: FlaskClient, employer: Registered, person: Person, uses: int = 2) -> str:
    created = client.post("/api/v1/consent-requests", headers=employer.headers, json={
        "citizen_id": person.citizen_id, "purpose": "employment_screening", "reason": "hiring",
        "valid_for": "P7D", "max_uses": uses})
    assert created.status_code == 201, created.json
    return str(person.approve(created.json["id"])["id"])


def test_the_authorised_query_stays_within_its_statement_budget_and_bumps_the_counter_last(
        client: FlaskClient, auth: Auth, person: Person, employer: Registered, statements: Any) -> None:
    provider = auth.provider()
    serious = penalty(person.citizen_id, date(2026, 6, 1), category="ADMINISTRATIVE_PENALTY_SERIOUS")
    assert client.post("/api/v1/records", json=serious, headers=provider.headers).status_code == 201
    consent_id = _grant(client, employer, person)
    warm = client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=employer.headers)
    assert warm.status_code == 201  # the token is cached from here on
    with statements() as seen:
        response = client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=employer.headers)
    assert response.status_code == 201, response.json
    assert len(response.json["report"]["records"]) == 1
    query = seen.writing("reports")
    assert len(query) <= QUERY_BUDGET, "\n".join(query)
    assert query[0].upper().startswith("SELECT "), "the grant is read first"
    assert " FROM GRANTS " in query[0].upper(), "the grant is read first"
    assert len([s for s in query if " FROM SUBJECTS" in s.upper()]) == 1, "the person is read once"
    # Every read comes before the first write (on SQLite the write lock is taken there), and that write spends
    # the use on the conditions the grant was read with (PostgreSQL: in the statement that stores the report).
    first_write = next(i for i, s in enumerate(query) if _is_write(s))
    assert _writes(query[first_write], "grants"), query[first_write]
    assert all(_is_write(s) for s in query[first_write:]), "\n".join(query)
    _ends_with_the_audit_append(query)
    assert len([t for t in seen.transactions if t]) == 1, "one transaction for the whole request"


def test_an_incentive_query_costs_one_statement_more_for_the_dates_its_evaluation_weighs(
        client: FlaskClient, auth: Auth, person: Person, statements: Any) -> None:
    # Only an incentive purpose reads the adverse records' dates (EVAL-7); every other query keeps its budget.
    provider = auth.provider()
    serious = penalty(person.citizen_id, date(2026, 6, 1), category="ADMINISTRATIVE_PENALTY_SERIOUS")
    assert client.post("/api/v1/records", json=serious, headers=provider.headers).status_code == 201
    lender = auth.register("institution", kind="lender")
    created = client.post("/api/v1/consent-requests", headers=lender.headers, json={
        "citizen_id": person.citizen_id, "purpose": "incentive_credit", "reason": "免押金", "valid_for": "P7D"})
    consent_id = person.approve(created.json["id"])["id"]
    with statements() as seen:
        response = client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=lender.headers)
    assert response.status_code == 201, response.json
    assert response.json["report"]["evaluation"]["no_adverse_record"]["value"] is False
    query = seen.writing("reports")
    assert len(query) <= QUERY_BUDGET + 1, "\n".join(query)
    assert " FROM GRANTS " in query[0].upper()
    _ends_with_the_audit_append(query)


def test_the_self_report_checks_the_session_with_its_reads_within_its_budget_and_bumps_the_counter_last(
        client: FlaskClient, auth: Auth, person: Person, statements: Any, connection: Connection) -> None:
    provider = auth.provider()
    client.post("/api/v1/records", json=penalty(person.citizen_id), headers=provider.headers)
    with statements() as seen:
        response = person.client.get("/api/v1/me/report")
    assert response.status_code == 200
    assert len(response.json["records"]) == 1
    report = seen.writing("audit_entries")
    _ends_with_the_audit_append(report)
    if connection.dialect.name != "sqlite":
        # The session, who looked, the person with their records and what is shown beside them, the audit append.
        assert len(report) <= SELF_REPORT_BUDGET, "\n".join(report)
        assert " FROM PORTAL_SESSIONS " in report[0].upper(), "the portal session is checked first"
        assert len([s for s in report if " FROM SUBJECTS" in s.upper()]) == 1, "the person is read once"
        assert len([t for t in seen.transactions if t]) == 1, "one transaction for the whole request"
        return
    # SQLite (UnitOfWork.reading_first): the reads, the log's length first; then, under the write lock (taken
    # between them outside a test's transaction), the session checked again and whether anything about the
    # person was logged since, and the append.
    reads, write = _reads_and_write(report)
    assert len(reads) <= SELF_REPORT_BUDGET, "\n".join(reads)
    assert " FROM AUDIT_COUNTER " in reads[0].upper(), "the snapshot's newest entry is read first"
    assert " FROM PORTAL_SESSIONS " in reads[1].upper(), "then the portal session is checked"
    assert len([s for s in reads if " FROM SUBJECTS" in s.upper()]) == 1, "the person is read once"
    assert not any(" FROM SUBJECTS" in s.upper() for s in write), "nothing is read again under the write lock"
    assert len(write) == 4, "\n".join(write)
    assert " FROM PORTAL_SESSIONS " in write[0].upper(), "the session is checked again under the write lock"
    assert " FROM AUDIT_ENTRIES " in write[1].upper(), "and whether anything about the person was logged since"


def _reads_and_write(report: list[str]) -> tuple[list[str], list[str]]:
    """Split a self report's statements on SQLite where the write begins: the session checked a second time."""
    checks = [i for i, s in enumerate(report) if " FROM PORTAL_SESSIONS " in s.upper()]
    assert len(checks) == 2, "\n".join(report)
    return report[:checks[1]], report[checks[1]:]


def test_a_self_report_reads_the_remedies_beside_its_records_only_where_there_are_some(
        client: FlaskClient, auth: Auth, person: Person, statements: Any, connection: Connection) -> None:
    provider = auth.provider()
    filed = client.post("/api/v1/records", json=penalty(person.citizen_id), headers=provider.headers)
    objected = person.post("/api/v1/me/objections", {"record_id": filed.json["id"], "reason": "不是我的记录"})
    assert objected.status_code == 201, objected.json
    with statements() as seen:
        response = person.client.get("/api/v1/me/report")
    assert response.status_code == 200
    assert response.json["records"][0]["objection"]["id"] == objected.json["id"]
    _ends_with_the_audit_append(seen.writing("audit_entries"))
    # The reads (on SQLite those before the checks under the write lock).
    [report] = [t for t in seen.transactions if any(" FROM SUBJECTS" in s.upper() for s in t)]
    reads = _reads_and_write(report)[0] if connection.dialect.name == "sqlite" else report
    assert len(reads) <= SELF_REPORT_BUDGET + 1, "\n".join(reads)  # the open objection's details


def test_ingesting_a_record_bumps_the_counter_last(client: FlaskClient, auth: Auth, people: People,
                                                   statements: Any) -> None:
    provider = auth.provider()
    with statements() as seen:
        response = client.post("/api/v1/records", json=penalty(people.new()), headers=provider.headers)
    assert response.status_code == 201
    _ends_with_the_audit_append(seen.writing("records"))


def test_approving_a_request_bumps_the_counter_last(client: FlaskClient, person: Person, employer: Registered,
                                                    statements: Any) -> None:
    created = client.post("/api/v1/consent-requests", headers=employer.headers, json={
        "citizen_id": person.citizen_id, "purpose": "employment_screening", "reason": "hiring", "valid_for": "P7D"})
    with statements() as seen:
        person.approve(created.json["id"])
    _ends_with_the_audit_append(seen.writing("grants"))


def test_the_access_log_of_two_hundred_entries_reads_in_a_few_statements(
        client: FlaskClient, person: Person, statements: Any, rt: Any) -> None:
    for _ in range(200):  # each self report adds an entry about the person
        assert person.client.get("/api/v1/me/report").status_code == 200
    from gateway.usecases import ledger
    ledger.checkpoint(rt)
    with statements() as seen:
        response = person.client.get("/api/v1/me/access-log?limit=200")
    assert response.status_code == 200
    assert len(response.json["entries"]) == 200
    assert all(e["verified"] for e in response.json["entries"])
    reads = [s for t in seen.transactions for s in t]
    assert len(reads) <= 8, "\n".join(reads)
