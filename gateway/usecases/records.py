"""Use cases of source agencies: submit, revoke and bulk-import records."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit.tags import Tag
from gateway.errors import Conflict
from gateway.runtime import Runtime
from gateway.schemas import RecordIn
from vault import crypto, records
from vault.access import AccessContext
from vault.errors import VaultError
from vault.identity import normalise_citizen_id
from vault.records import Document, Ingested, NewRecord, Prepared, Provider


@contextmanager
def denials_audited(
    session: Session, rt: Runtime, access: AccessContext, action: Tag, subject_ref: str | None = None
) -> Iterator[None]:
    """Record a refused request in its own transaction after the work was rolled back, then re-raise."""
    try:
        yield
    except VaultError as exc:
        with session.begin():
            records.audit_denial(session, rt.clock, access, action, _reason(exc), subject_ref)
        raise


def _reason(exc: Exception) -> str:
    field_name = getattr(exc, "field", None)
    code = type(exc).__name__
    return f"{code}:{field_name}" if field_name else code


def to_new_record(rt: Runtime, data: dict[str, Any], idempotency_key: str | None) -> NewRecord:
    """Turn a loaded RecordIn into a NewRecord; raises InvalidCitizenId."""
    return NewRecord(
        citizen_id=normalise_citizen_id(data["citizen_id"], rt.clock.now().date()),
        name=data.get("name"),
        category=data["category"],
        decided_at=data["decided_at"],
        document=data.get("document"),
        payload=data["payload"],
        idempotency_key=idempotency_key,
    )


def submit(
    session: Session, rt: Runtime, provider: Provider, data: dict[str, Any], key: str | None, access: AccessContext
) -> Ingested:
    """Check and store one record; a retry with the same Idempotency-Key returns the first result."""
    with denials_audited(session, rt, access, Tag.RECORD_INGEST_DENIED):
        new = to_new_record(rt, data, key)
        prepared = records.prepare(rt.catalogue, rt.keyring, provider, new, rt.clock.now().date())
        for attempt in (1, 2):
            try:
                with session.begin():
                    return records.ingest(session, rt.keyring, rt.clock, provider, [prepared], access)[0]
            except IntegrityError:
                # Two requests raced on one idempotency key: the second look finds the first.
                if attempt == 2 or key is None:
                    raise Conflict("a concurrent request with this Idempotency-Key is being processed") from None
    raise AssertionError("unreachable")


def submit_prepared(
    session: Session, rt: Runtime, provider: Provider, prepared: Prepared, access: AccessContext
) -> Ingested:
    """Store one already-checked record in its own transaction."""
    with session.begin():
        return records.ingest(session, rt.keyring, rt.clock, provider, [prepared], access)[0]


def revoke(
    session: Session, rt: Runtime, provider: Provider, record_id: str, reason: str, access: AccessContext
) -> Ingested:
    """Revoke one of this provider's records."""
    with denials_audited(session, rt, access, Tag.RECORD_INGEST_DENIED), session.begin():
        return records.revoke(session, rt.keyring, rt.clock, provider, record_id, reason, access)


@dataclass
class ImportReport:
    lines: int = 0
    created: int = 0
    duplicates: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


# Built once: constructing a schema deep-copies its fields and costs several times a line's load.
_RECORD_IN = RecordIn()


def _parse_line(rt: Runtime, provider: Provider, text: str, seen: dict[tuple[str, date], str]) -> Prepared:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(raw, dict):
        raise ValueError("a line must be a JSON object")
    data = _plainly_valid(raw)
    if data is None:
        try:
            data = _RECORD_IN.load(raw)
        except ValidationError as exc:
            field_name, messages = next(iter(_flat(exc.messages)))
            raise ValueError(f"{field_name}: {messages}") from None
    today = rt.clock.now().date()
    new = NewRecord(
        citizen_id=_citizen_id(data["citizen_id"], today, seen), name=data.get("name"), category=data["category"],
        decided_at=data["decided_at"], document=data.get("document"), payload=data["payload"],
    )
    prepared = records.prepare(rt.catalogue, rt.keyring, provider, new, today)
    # The same line imported twice must not create a second record: key it by its content.
    key = "import:" + crypto.keyed_fingerprint(rt.keyring, prepared.fingerprint.encode())[:48]
    return replace(prepared, record=replace(new, idempotency_key=key))


def _citizen_id(raw: str, today: date, seen: dict[tuple[str, date], str]) -> str:
    # A file holds each person's records many times over; the checks need doing once per import (the
    # memo lives only as long as the import: no citizen ID stays in the process after it).
    found = seen.get((raw, today))
    if found is None:
        found = seen[raw, today] = normalise_citizen_id(raw, today)
    return found


# RecordIn's rules, compiled into a few type checks and one pattern, for the lines that plainly pass them
# (marshmallow's load was half of an import's time). Anything else goes to the schema, which words the error.
_RECORD_FIELDS = frozenset({"citizen_id", "name", "category", "decided_at", "document", "payload"})
_REQUIRED_FIELDS = frozenset({"citizen_id", "category", "decided_at", "payload"})
_DOCUMENT_FIELDS = frozenset({"type", "number", "authority", "effective_at"})
_PAYLOAD_KEY = re.compile(r"[^\x00-\x1f\x7f]{1,60}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _plainly_valid(raw: dict[str, Any]) -> dict[str, Any] | None:
    """Return what RecordIn().load(raw) returns if raw plainly passes it, else None (then the schema decides).

    Accepts nothing the schema refuses; tests/gateway/test_import.py checks that on generated lines.
    """
    keys = raw.keys()
    if not (_REQUIRED_FIELDS <= keys <= _RECORD_FIELDS):
        return None
    decided = _date(raw["decided_at"])
    payload = raw["payload"]
    if (decided is None or not _text(raw["citizen_id"], 40) or not _text(raw["category"], 60)
            or ("name" in raw and not _text(raw["name"], 100))
            or type(payload) is not dict or not all(type(k) is str and _PAYLOAD_KEY.fullmatch(k) for k in payload)):
        return None
    data = {**raw, "decided_at": decided}
    if "document" in raw:
        document = _document(raw["document"])
        if document is None:
            return None
        data["document"] = document
    return data


def _document(raw: object) -> Document | None:
    if type(raw) is not dict or raw.keys() != _DOCUMENT_FIELDS:
        return None
    effective = _date(raw["effective_at"])
    if effective is None or not (_text(raw["type"], 60) and _text(raw["number"], 200) and _text(raw["authority"], 200)):
        return None
    return Document(raw["type"], raw["number"], raw["authority"], effective)


def _text(value: object, longest: int) -> bool:
    return type(value) is str and 1 <= len(value) <= longest


def _date(value: object) -> date | None:
    if type(value) is not str or not _ISO_DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _flat(messages: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _flat(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(messages, list):
        yield prefix or "line", "; ".join(str(m) for m in messages)
    else:
        yield prefix or "line", str(messages)


def import_file(
    rt: Runtime, provider: Provider, path: Path, access: AccessContext,
    progress: Callable[[int], object] = lambda n: None,
) -> ImportReport:
    """Import a JSONL file: bad lines are reported by number, good ones committed in batches.

    `progress` is called with the bytes of the lines done (a batch committed, or lines rejected).
    """
    report = ImportReport()
    batch: list[Prepared] = []
    pending = 0
    seen: dict[tuple[str, date], str] = {}
    with rt.sessions() as session, path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            pending += len(text.encode())
            if not text.strip():
                continue
            report.lines += 1
            try:
                batch.append(_parse_line(rt, provider, text, seen))
            except (ValueError, VaultError) as exc:
                report.errors.append((number, _describe(exc)))
                continue
            if len(batch) >= rt.settings.import_batch_size:
                _commit_batch(session, rt, provider, batch, access, report)
                progress(pending)
                batch, pending = [], 0
        _commit_batch(session, rt, provider, batch, access, report)
        progress(pending)
    return report


def _describe(exc: Exception) -> str:
    field_name = getattr(exc, "field", None)
    reason = getattr(exc, "reason", None) or getattr(exc, "message", None) or str(exc)
    return f"{field_name}: {reason}" if field_name and not str(reason).startswith(field_name) else str(reason)


def _commit_batch(
    session: Session, rt: Runtime, provider: Provider, batch: list[Prepared], access: AccessContext,
    report: ImportReport,
) -> None:
    if not batch:
        return
    with session.begin():
        results = records.ingest(session, rt.keyring, rt.clock, provider, batch, access)
    report.created += sum(1 for r in results if r.created)
    report.duplicates += sum(1 for r in results if not r.created)
