"""Use cases of source agencies: submit, revoke and bulk-import records."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError

from audit.clock import today as clock_today
from audit.tags import Outcome, Tag
from audit.tx import AccessContext
from consent import entry
from consent.errors import ConsentError
from gateway.errors import Conflict
from gateway.runtime import Runtime
from gateway.uow import UnitOfWork
from gateway.web.schemas import RecordIn  # TODO(layers): the JSONL import should not need a wire schema
from vault.errors import VaultError
from vault.identity import normalise_citizen_id
from vault.types import Ingested, NewRecord, Prepared, Provider


@contextmanager
def denials_audited(uow: UnitOfWork, access: AccessContext, action: Tag,
                    subject_ref: str | None = None) -> Iterator[None]:
    """Record a refused request in its own transaction after the work was rolled back, then re-raise."""
    try:
        yield
    except (VaultError, ConsentError) as exc:
        with uow.refusal(access) as tx:
            tx.record(action, outcome=Outcome.DENIED, subject_ref=subject_ref, reason=_reason(exc))
        raise


# What a submission may be refused with: the catalogue's rules where records enter, or the vault's.
_REFUSED = (VaultError, ConsentError)


def _reason(exc: Exception) -> str:
    field_name = getattr(exc, "field", None)
    code = type(exc).__name__
    return f"{code}:{field_name}" if field_name else code


def to_new_record(data: dict[str, Any], idempotency_key: str | None, today: date) -> NewRecord:
    """Turn a loaded RecordIn into a NewRecord; raises InvalidCitizenId."""
    return NewRecord(
        citizen_id=normalise_citizen_id(data["citizen_id"], today),
        name=data.get("name"),
        category=data["category"],
        decided_at=data["decided_at"],
        document=data.get("document"),
        payload=data["payload"],
        idempotency_key=idempotency_key,
    )


def submit(rt: Runtime, provider: Provider, data: dict[str, Any], key: str | None, access: AccessContext) -> Ingested:
    """Check and store one record; a retry with the same Idempotency-Key returns the first result."""
    with denials_audited(rt.uow, access, Tag.RECORD_INGEST_DENIED):
        today = clock_today(rt.clock)
        prepared = entry.prepare(rt.catalogue, rt.vault.fingerprint, provider, to_new_record(data, key, today),
                                   today)
        for attempt in (1, 2):
            try:
                with rt.uow.begin(access) as tx:
                    return rt.vault.ingest(tx, provider, [prepared])[0]
            except IntegrityError:
                # Two requests raced on one idempotency key: the second look finds the first.
                if attempt == 2 or key is None:
                    raise Conflict("a concurrent request with this Idempotency-Key is being processed") from None
    raise AssertionError("unreachable")


def revoke(rt: Runtime, provider: Provider, record_id: str, reason: str, access: AccessContext) -> Ingested:
    """Revoke one of this provider's records."""
    with denials_audited(rt.uow, access, Tag.RECORD_INGEST_DENIED), rt.uow.begin(access) as tx:
        return rt.vault.revoke(tx, provider, record_id, reason)


@dataclass
class ImportReport:
    lines: int = 0
    created: int = 0
    duplicates: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


# Built once: constructing a schema deep-copies its fields and costs several times a line's load.
_RECORD_IN = RecordIn()


def _parse_line(rt: Runtime, provider: Provider, text: str) -> Prepared:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(raw, dict):
        raise ValueError("a line must be a JSON object")
    try:
        data = _RECORD_IN.load(raw)
    except ValidationError as exc:
        field_name, messages = next(iter(_flat(exc.messages)))
        raise ValueError(f"{field_name}: {messages}") from None
    today = clock_today(rt.clock)
    new = to_new_record(data, None, today)
    prepared = entry.prepare(rt.catalogue, rt.vault.fingerprint, provider, new, today)
    # The same line imported twice must not create a second record: key it by its content.
    key = "import:" + rt.vault.fingerprint(prepared.fingerprint.encode())[:48]
    return replace(prepared, record=replace(prepared.record, idempotency_key=key))


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
    """Import a JSONL file: bad lines are reported by number, good ones committed in batches."""
    report = ImportReport()
    batch: list[Prepared] = []
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            progress(len(text.encode()))
            if not text.strip():
                continue
            report.lines += 1
            try:
                batch.append(_parse_line(rt, provider, text))
            except (ValueError, *_REFUSED) as exc:
                report.errors.append((number, _describe(exc)))
                continue
            if len(batch) >= rt.settings.import_batch_size:
                _commit_batch(rt, provider, batch, access, report)
                batch = []
        _commit_batch(rt, provider, batch, access, report)
    return report


def _describe(exc: Exception) -> str:
    field_name = getattr(exc, "field", None)
    reason = getattr(exc, "reason", None) or getattr(exc, "message", None) or str(exc)
    return f"{field_name}: {reason}" if field_name and not str(reason).startswith(field_name) else str(reason)


def _commit_batch(
    rt: Runtime, provider: Provider, batch: list[Prepared], access: AccessContext, report: ImportReport,
) -> None:
    if not batch:
        return
    with rt.uow.begin(access) as tx:
        results = rt.vault.ingest(tx, provider, batch)
    report.created += sum(1 for r in results if r.created)
    report.duplicates += sum(1 for r in results if not r.created)
