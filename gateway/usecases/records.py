"""Use cases of source agencies: submit, revoke and bulk-import records."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from audit.clock import today as clock_today
from audit.tags import Outcome, Tag
from audit.tx import AccessContext
from consent import entry, listings, periods
from consent.catalogue import Category
from consent.errors import ConsentError
from consent.fields import HIDDEN_CHARACTERS_REASON, hidden_characters
from gateway import database, forked
from gateway.forked import WorkerFailed
from gateway.runtime import Runtime
from gateway.uow import UnitOfWork
from gateway.usecases import notices
from vault.errors import RecordConflict, VaultError
from vault.identity import normalise_citizen_id
from vault.types import Document, Ingested, NewRecord, Packed, PeriodState, Prepared, Provider


@dataclass
class Refused:
    """Whom a refusal is recorded about: known at the start, or learnt in the block (`about`)."""

    about: str | None = None


@contextmanager
def denials_audited(uow: UnitOfWork, access: AccessContext, action: Tag,
                    subject_ref: str | None = None) -> Iterator[Refused]:
    """Record a refused request in its own transaction after the work was rolled back, then re-raise.

    The refusal is recorded about `subject_ref`, or about whom the block set `about` to once it knew (a citizen
    ID found valid), so that a refusal that came before is recorded about no one."""
    refused = Refused(subject_ref)
    try:
        yield refused
    except (VaultError, ConsentError) as exc:
        with uow.refusal(access) as tx:
            tx.record(action, outcome=Outcome.DENIED, subject_ref=refused.about, reason=refusal_reason(exc))
        raise


# What a submission may be refused with: the catalogue's rules where records enter, or the vault's.
_REFUSED = (VaultError, ConsentError)


def refusal_reason(exc: Exception) -> str:
    """Return what an audited refusal says of why: the error's type, and the field or status it names."""
    # The field a refusal names, or the status a step out of order found (an objection, a repair application).
    where = getattr(exc, "field", None) or getattr(exc, "status", None)
    code = type(exc).__name__
    return f"{code}:{where}" if where else code


def to_new_record(data: dict[str, Any], idempotency_key: str | None, today: date) -> NewRecord:
    """Turn a record's checked fields into a NewRecord; raises InvalidCitizenId."""
    return NewRecord(
        citizen_id=normalise_citizen_id(data["citizen_id"], today),
        name=data.get("name"),
        category=data["category"],
        decided_at=data["decided_at"],
        document=data.get("document"),
        payload=data["payload"],
        idempotency_key=idempotency_key,
        display_until=data.get("display_until"),
    )


def submit(rt: Runtime, provider: Provider, data: dict[str, Any], key: str | None, access: AccessContext) -> Ingested:
    """Check and store one record; a retry with the same Idempotency-Key returns the first result."""
    with denials_audited(rt.uow, access, Tag.RECORD_INGEST_DENIED):
        today = clock_today(rt.clock)
        prepared = entry.prepare(rt.catalogue, rt.vault.fingerprint, provider, to_new_record(data, key, today),
                                   today)
        # Two requests racing on one idempotency key: the vault stores the first and returns it to the second.
        with rt.uow.begin(access) as tx:
            return rt.vault.ingest(tx, provider, [prepared])[0]


def revoke(rt: Runtime, provider: Provider, record_id: str, reason: str, access: AccessContext) -> Ingested:
    """Revoke one of this provider's records."""
    with denials_audited(rt.uow, access, Tag.RECORD_INGEST_DENIED), rt.uow.begin(access) as tx:
        revoked = rt.vault.revoke(tx, provider, record_id, reason)
        notices.tell(rt, tx, record_id, "revoked")  # OBJ-5: its past recipients are told
        listings.end_for_record(tx, rt.policy.lists, record_id, "record_revoked", provider.client_id)
        return revoked


def extend(rt: Runtime, provider: Provider, record_id: str, document: Document, until: date,
           access: AccessContext) -> Ingested:
    """Extend the display of one of this provider's records to `until`, by `document`: a new version."""
    with denials_audited(rt.uow, access, Tag.RECORD_INGEST_DENIED), rt.uow.begin(access) as tx:
        state = rt.vault.period_state(tx, provider, record_id)
        category = _checked_change(rt, state, document, tx.today)
        change = periods.plan_extension(category, state.display_until, state.entry_until, until, tx.today)
        return rt.vault.change_period(tx, provider, state, change.kind, change.until, document)
    raise AssertionError("unreachable")


def end(rt: Runtime, provider: Provider, record_id: str, document: Document, access: AccessContext) -> Ingested:
    """End the display of one of this provider's records today (CST), by `document`: a new version."""
    with denials_audited(rt.uow, access, Tag.RECORD_INGEST_DENIED), rt.uow.begin(access) as tx:
        state = rt.vault.period_state(tx, provider, record_id)
        _checked_change(rt, state, document, tx.today)
        change = periods.plan_end(state.display_until, tx.today)
        ended = rt.vault.change_period(tx, provider, state, change.kind, change.until, document)
        notices.tell(rt, tx, record_id, "withdrawn from display")  # OBJ-5: its past recipients are told
        return ended
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class Correction:
    """A correction on the agency's own initiative: the whole corrected payload, and the date or document if
    they were wrong too, with the reason (sealed with the old record's revocation)."""

    record_id: str
    payload: dict[str, Any] = field(repr=False)
    reason: str = field(repr=False)
    decided_at: date | None = None
    document: Document | None = None


def correct(rt: Runtime, provider: Provider, cmd: Correction, access: AccessContext) -> Ingested:
    """Replace one of this provider's records by its corrected version: the old one revoked and kept in the
    person's history, never released again; the institutions that received it are told (OBJ-5)."""
    with denials_audited(rt.uow, access, Tag.RECORD_INGEST_DENIED), rt.uow.begin(access) as tx:
        today = tx.today

        def prepare(record: NewRecord) -> Prepared:
            return entry.prepare(rt.catalogue, rt.vault.fingerprint, provider, record, today)

        stored = rt.vault.correct(tx, provider, cmd.record_id, cmd.payload, prepare, cmd.reason,
                                  cmd.decided_at, cmd.document)
        notices.tell(rt, tx, cmd.record_id, "corrected")
        # A listing rested on the old version: it ends with it, and the agency proposes anew if it still holds.
        listings.end_for_record(tx, rt.policy.lists, cmd.record_id, "record_revoked", provider.client_id)
        return stored
    raise AssertionError("unreachable")


def _checked_change(rt: Runtime, state: PeriodState, document: Document, today: date) -> Category:
    if state.status == "revoked":
        raise RecordConflict(f"record {state.id} is revoked")
    category = rt.catalogue.category(state.category)
    entry.check_change_document(rt.catalogue, category, document, state.decided_at, today)
    return category


def reapply_periods(rt: Runtime, access: AccessContext) -> list[str]:
    """Give records stored before a category's display rules the longer end those rules now set; return their ids.

    For a catalogue whose rules changed (a court listing until performance, arrears until paid, a ban in
    force): records still shown are lengthened, each change audited; ended ones stay ended.
    """
    catalogue = rt.catalogue

    def rule(code: str, decided: date, payload: dict[str, Any]) -> tuple[date | None, str]:
        end = periods.display_end(catalogue.category(code), decided, payload, None)
        return end.until, end.source

    ruled = [code for code, category in catalogue.categories.items() if category.display_rules]
    with rt.uow.begin(access) as tx:
        return rt.vault.reapply_periods(tx, ruled, rule)
    raise AssertionError("unreachable")


@dataclass
class ImportReport:
    lines: int = 0
    created: int = 0
    duplicates: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)




def _parse_line(rt: Runtime, provider: Provider, text: str, seen: dict[tuple[str, date], str]) -> Packed:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(raw, dict):
        raise ValueError("a line must be a JSON object")
    data = record_shape(raw)
    today = clock_today(rt.clock)
    new = NewRecord(
        citizen_id=_citizen_id(data["citizen_id"], today, seen), name=data.get("name"), category=data["category"],
        decided_at=data["decided_at"], document=data.get("document"), payload=data["payload"],
        display_until=data.get("display_until"),
    )
    p = entry.prepare(rt.catalogue, rt.vault.fingerprint, provider, new, today)
    # The same line imported twice must not create a second record: key it by its content.
    return rt.vault.pack(p, "import:" + rt.vault.fingerprint(p.fingerprint.encode())[:48])


def _citizen_id(raw: str, today: date, seen: dict[tuple[str, date], str]) -> str:
    # A file holds each person's records many times over; the checks need doing once per import (the
    # memo lives only as long as the import: no citizen ID stays in the process after it).
    found = seen.get((raw, today))
    if found is None:
        found = seen[raw, today] = normalise_citizen_id(raw, today)
    return found


# The record's shape (the body of POST /api/v1/records, checked there by its wire schema) as plain checks:
# marshmallow's load was half of an import's time, and the use case knows nothing of wire schemas.
# tests/gateway/test_import.py checks on generated lines that it accepts exactly what the schema accepts.
_RECORD_FIELDS = frozenset({"citizen_id", "name", "category", "decided_at", "document", "payload", "display_until"})
_REQUIRED_FIELDS = ("citizen_id", "category", "decided_at", "payload")
_DOCUMENT_FIELDS = ("type", "number", "authority", "effective_at")
_DOCUMENT_NAMES = frozenset(_DOCUMENT_FIELDS)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ShapeInvalid(ValueError):
    """Raised when a record's JSON is not a record: `field` names where, the message says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def record_shape(raw: dict[str, Any]) -> dict[str, Any]:
    """Return the record's fields with dates and the document parsed; raise ShapeInvalid naming the field."""
    if not _RECORD_FIELDS.issuperset(raw):
        raise ShapeInvalid(min(raw.keys() - _RECORD_FIELDS), "Unknown field.")
    for name in _REQUIRED_FIELDS:
        if name not in raw:
            raise ShapeInvalid(name, "Missing data for required field.")
    data = dict(raw)
    _text("citizen_id", raw["citizen_id"], 40, plain=False)  # its own checks name what is wrong
    if "name" in raw:
        _text("name", raw["name"], 100)
    _text("category", raw["category"], 60, plain=False)  # the catalogue refuses an unknown code
    data["decided_at"] = _date("decided_at", raw["decided_at"])
    if "display_until" in raw:
        data["display_until"] = _date("display_until", raw["display_until"])
    if "document" in raw:
        data["document"] = _document(raw["document"])
    payload = raw["payload"]
    if type(payload) is not dict:
        raise ShapeInvalid("payload", "Not a valid mapping type.")
    for key in payload:
        if not 1 <= len(key) <= 60 or _CONTROL.search(key):
            raise ShapeInvalid(f"payload.{key}", "a field name is 1 to 60 characters without control characters")
    return data


def _document(raw: object) -> Document:
    if type(raw) is not dict:
        raise ShapeInvalid("document", "Invalid input type.")
    if not _DOCUMENT_NAMES.issuperset(raw):
        raise ShapeInvalid(f"document.{min(raw.keys() - _DOCUMENT_NAMES)}", "Unknown field.")
    for name in _DOCUMENT_FIELDS:
        if name not in raw:
            raise ShapeInvalid(f"document.{name}", "Missing data for required field.")
    _text("document.type", raw["type"], 60)
    _text("document.number", raw["number"], 200)
    _text("document.authority", raw["authority"], 200)
    return Document(raw["type"], raw["number"], raw["authority"], _date("document.effective_at", raw["effective_at"]))


def _text(field: str, value: object, longest: int, plain: bool = True) -> None:
    if type(value) is not str:
        raise ShapeInvalid(field, "Not a valid string.")
    if not 1 <= len(value) <= longest:
        raise ShapeInvalid(field, f"Length must be between 1 and {longest}.")
    if plain and hidden_characters(value):
        raise ShapeInvalid(field, HIDDEN_CHARACTERS_REASON)


def _date(field: str, value: object) -> date:
    # The forms ISO 8601 allows for a date (2026-10-01, 20261001, 2026-W40-4), as the API's schema reads them.
    if type(value) is str:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ShapeInvalid(field, "Not a valid date.")


# What became of a line: a record ready to store, the reason it was refused, or None (a blank line).
LineOutcome = Packed | str | None
Line = tuple[int, str]


def import_file(
    rt: Runtime, provider: Provider, path: Path, access: AccessContext,
    progress: Callable[[int], object] = lambda n: None,
) -> ImportReport:
    """Import a JSONL file: bad lines are reported by number, good ones committed in batches.

    `progress` is called with the bytes of the lines done (a batch committed, or lines rejected).
    Raises WorkerFailed if a process preparing lines ended without answering, or where preparing a line met a
    fault (not a bad line: a bug): the batches committed before stay, and importing the file again skips them.
    """
    batches = _Batches(rt, provider, access, progress)
    with path.open(encoding="utf-8") as handle:
        lines = _Lines(handle, rt.settings.import_batch_size)
        # Closed on the way out, a failed batch's too: its workers end then, not when the generator is collected.
        with closing(_prepared(rt, provider, lines)) as prepared:
            for chunk, (outcomes, failure) in prepared:
                batches.take(chunk, outcomes)
                if failure is not None:  # at the line after the last outcome, once the lines before are done
                    raise failure
        lines.raise_failure()  # as reading the next line would have
        batches.commit()
    return batches.report


class _Batches:
    """What became of each line, in the file's order: reasons reported, records committed a batch at a time."""

    def __init__(self, rt: Runtime, provider: Provider, access: AccessContext,
                 progress: Callable[[int], object]) -> None:
        self.report = ImportReport()
        self._rt, self._provider, self._access, self._progress = rt, provider, access, progress
        self._size = rt.settings.import_batch_size
        self._batch: list[Packed] = []
        self._pending = 0  # bytes of the lines since the last commit

    def take(self, chunk: list[Line], outcomes: list[LineOutcome]) -> None:
        """Take the outcomes of a chunk's lines (fewer than its lines if a failure stopped it)."""
        for (number, text), outcome in zip(chunk, outcomes, strict=False):
            self._pending += len(text.encode())
            if outcome is None:
                continue
            self.report.lines += 1
            if type(outcome) is str:
                self.report.errors.append((number, outcome))
            else:
                self._batch.append(outcome)  # type: ignore[arg-type]  # neither None nor a reason: a record
                if len(self._batch) >= self._size:
                    self.commit()

    def commit(self) -> None:
        """Store the batch in one transaction and say how far the import got."""
        if self._batch:
            with self._rt.uow.begin(self._access) as tx:
                database.for_bulk_writes(tx.session.connection())
                results = self._rt.vault.ingest(tx, self._provider, self._batch)
            self.report.created += sum(1 for r in results if r.created)
            self.report.duplicates += sum(1 for r in results if not r.created)
        self._progress(self._pending)
        self._batch, self._pending = [], 0


class _Lines:
    """The file's lines with their numbers, in chunks; a failure to read (a byte that is not UTF-8, an I/O
    error) is kept for the caller to raise after the lines before it are done, as a plain loop over the file
    would have raised it there (the workers read ahead)."""

    def __init__(self, handle: Iterable[str], size: int) -> None:
        self._handle = handle
        self._size = size
        self._failure: Exception | None = None

    def __iter__(self) -> Iterator[list[Line]]:
        chunk: list[Line] = []
        try:
            for line in enumerate(self._handle, start=1):
                chunk.append(line)
                if len(chunk) >= self._size:
                    yield chunk
                    chunk = []
        except (ValueError, OSError) as exc:  # UnicodeDecodeError is a ValueError
            self._failure = exc
        if chunk:
            yield chunk

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure


def _prepared(rt: Runtime, provider: Provider, lines: Iterable[list[Line]],
              ) -> Generator[tuple[list[Line], tuple[list[LineOutcome], Exception | None]], None, None]:
    """Yield each chunk of lines with what became of each line, up to the failure that stopped it, if any.

    A file of more than one chunk is prepared by forked workers (gateway.forked) while this process stores
    the chunks before: the two halves of an import then run on two cores. In this process otherwise.
    """
    seen: dict[tuple[str, date], str] = {}
    chunks = iter(lines)
    first = next(chunks, None)
    if first is None:
        return
    second = next(chunks, None)
    count = forked.default_count() if rt.settings.import_workers is None else rt.settings.import_workers
    if second is None or count < 1:
        for chunk in itertools.chain([first], [] if second is None else [second], chunks):
            yield chunk, _prepare_lines(rt, provider, chunk, seen)
        return

    def prepare(chunk: list[Line]) -> tuple[list[LineOutcome], Exception | None]:  # in a worker
        return _prepare_lines(rt, provider, chunk, seen)

    with forked.Forked(prepare, count) as workers:
        yield from workers.map(itertools.chain([first, second], chunks))


def _prepare_lines(rt: Runtime, provider: Provider, chunk: list[Line], seen: dict[tuple[str, date], str],
                   ) -> tuple[list[LineOutcome], Exception | None]:
    outcomes: list[LineOutcome] = []
    for _, text in chunk:
        if not text.strip():
            outcomes.append(None)
            continue
        try:
            outcomes.append(_parse_line(rt, provider, text, seen))
        except (ValueError, *_REFUSED) as exc:
            outcomes.append(_describe(exc))
        except RecursionError:  # JSON nested past what Python parses: the line's fault, like any bad line
            outcomes.append(NESTED_TOO_DEEPLY)
        except Exception as exc:  # noqa: BLE001 - a fault, not a line's: raised once the lines before are done
            # Its type only, in a worker or not: its message may quote the line (a citizen ID, a payload).
            return outcomes, WorkerFailed(f"line {chunk[len(outcomes)][0]} could not be prepared "
                                          f"({type(exc).__name__})")
    return outcomes, None


NESTED_TOO_DEEPLY = "nested too deeply to read"


def _describe(exc: Exception) -> str:
    field_name = getattr(exc, "field", None)
    reason = getattr(exc, "reason", None) or getattr(exc, "message", None) or str(exc)
    return f"{field_name}: {reason}" if field_name and not str(reason).startswith(field_name) else str(reason)
