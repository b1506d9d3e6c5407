"""The catalogue's rules where records enter: a submitted record is checked and prepared for the vault.

A record is stored only if its provider is registered for its category and its agency's role and
level may file it (谁主管、谁认定、谁负责, DET-4; LIST-6), its payload holds the category's fields and
nothing else (CAT-6), and a negative record rests on a legally effective document (DET-1). Its dates must
be possible: none before the catalogue's earliest date, no decision or document in force after today
(CST), no decision before the person was born or before the age the category requires (DATA-8), the
document's date in the order its type states, and a notice the category requires far enough before the
decision (LIST-4). Its display period (DP-1) is fixed here, from the catalogue version it was checked
against: the category's, its case's (consent.periods) or the one its document sets. A category with a
publication deadline (DISC-4) flags a record filed after it; it is still stored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from audit import jsontext
from consent.catalogue import Catalogue, Category, DocumentOrder, NoticeRule
from consent.errors import CategoryNotAllowed, PayloadInvalid
from consent.fields import DateLimit
from consent.periods import display_end
from consent.timeliness import due_date
from vault.identity import birth_date
from vault.types import Document, NewRecord, Prepared, Provider

__all__ = ["CHANGE_DOCUMENT", "check_change_document", "check_payload", "prepare", "window_end"]

# The document type of a decision that extends a record's display or ends it early (a catalogue code).
CHANGE_DOCUMENT = "display_period_decision"


def prepare(
    catalogue: Catalogue, fingerprint: Callable[[bytes], str], provider: Provider, record: NewRecord, today: date
) -> Prepared:
    """Check a record against the catalogue; raise a CatalogueError or CategoryNotAllowed."""
    category = catalogue.category(record.category)
    if record.category not in provider.categories:
        raise CategoryNotAllowed(record.category)
    # Checked again at every entry, not only at registration: a catalogue version may narrow who files what.
    refusal = catalogue.filing_refusal(record.category, provider.agency, provider.level)
    if refusal is not None:
        raise CategoryNotAllowed(record.category, refusal)
    payload = category.validate_payload(record.payload)
    _check_day(catalogue, "decided_at", record.decided_at, today)
    _check_person(category, record)
    if record.document is None:
        if category.document_required:
            raise PayloadInvalid(
                "document",
                "a negative record must rest on a legally effective document "
                "(type, number, authority, effective_at)",
            )
    else:
        _check_document(catalogue, category, record, record.document, today)
    _check_payload_dates(catalogue, category, payload, record.decided_at, today)
    if category.notice is not None:
        _check_notice(category.notice, payload, record.decided_at)
    if record.display_until is not None and record.document is None:
        raise PayloadInvalid("display_until", "only a document can set a record's own end: add the document")
    end = display_end(category, record.decided_at, payload, record.display_until)
    deadline = category.publication_deadline
    due = None if deadline is None else deadline.due(record.decided_at)
    return Prepared(
        record=record,
        catalogue_version=catalogue.version,
        payload=payload,
        display_from=record.decided_at,
        display_until=end.until,
        fingerprint=fingerprint(_canonical(provider, record, payload).encode()),
        period_source=end.source,
        publication_due=due,
        filed_late=due is not None and today > due,
    )


def check_payload(catalogue: Catalogue, category: Category, payload: object, today: date) -> dict[str, object]:
    """Return a payload normalised by its category's fields and date rules as of `today` (CST), before any
    record exists (a declaration); raise PayloadInvalid naming the field."""
    normalised = category.validate_payload(payload)
    _check_payload_dates(catalogue, category, normalised, today, today)
    return normalised


def _check_day(catalogue: Catalogue, field: str, day: date, today: date) -> None:
    earliest = catalogue.dates.earliest
    if day < earliest:
        raise PayloadInvalid(field, f"is before {earliest.isoformat()}: {catalogue.dates.earliest_reason}")
    if day > today:
        raise PayloadInvalid(field, f"is after today ({today.isoformat()}, China Standard Time)", "after_today")


def _check_person(category: Category, record: NewRecord) -> None:
    born = birth_date(record.citizen_id)
    if record.decided_at < born:
        raise PayloadInvalid("decided_at", "is before the person's birth date (in citizen_id)", "before_birth")
    rule = category.minimum_age
    if rule is not None and record.decided_at < rule.reached_on(born):
        raise PayloadInvalid(
            "decided_at",
            f"the person was under {rule.years} on this date (by the birth date in citizen_id), and a "
            f"{category.code} record is only for people aged {rule.years} or over: {rule.reason}",
        )


def _check_document(
    catalogue: Catalogue, category: Category, record: NewRecord, document: Document, today: date
) -> None:
    kind = catalogue.document_type(document.type)
    if kind is None:
        raise PayloadInvalid("document.type", f"{document.type!r} is not a document type of the catalogue")
    if category.document_types and document.type not in category.document_types:
        allowed = ", ".join(category.document_types)
        raise PayloadInvalid("document.type", f"a {category.code} record rests on one of: {allowed}",
                             "document_type")
    if document.effective_at > today:
        raise PayloadInvalid("document.effective_at", "is in the future: the document is not yet effective",
                             "not_yet_effective")
    _check_day(catalogue, "document.effective_at", document.effective_at, today)
    reason = catalogue.dates.order_reasons[kind.order]
    if kind.order is DocumentOrder.DECIDED_THEN_EFFECTIVE and document.effective_at < record.decided_at:
        raise PayloadInvalid("document.effective_at", f"is before decided_at, but a {kind.code} takes effect "
                                                      f"on or after its decision: {reason}")
    if kind.order is DocumentOrder.EFFECTIVE_THEN_DECIDED and document.effective_at > record.decided_at:
        raise PayloadInvalid("document.effective_at", f"is after decided_at, but a {kind.code} must be in "
                                                      f"force when the record is decided: {reason}")


def _check_payload_dates(
    catalogue: Catalogue, category: Category, payload: dict[str, object], decided: date, today: date
) -> None:
    rules = catalogue.dates
    for spec in category.date_fields:
        value = payload.get(spec.name)
        if not isinstance(value, str):
            continue
        day, field = date.fromisoformat(value), f"payload.{spec.name}"
        if day < rules.earliest:
            raise PayloadInvalid(field, f"is before {rules.earliest.isoformat()}: {rules.earliest_reason}")
        if spec.not_after is DateLimit.TODAY and day > today:
            raise PayloadInvalid(field, f"is after today ({today.isoformat()}, China Standard Time): "
                                        f"{rules.not_after_reason}", "after_today")
        if spec.not_after is DateLimit.DECIDED_AT and day > decided:
            raise PayloadInvalid(field, f"is after decided_at ({decided.isoformat()}): {rules.not_after_reason}",
                                 "after_decision")


def _check_notice(rule: NoticeRule, payload: dict[str, object], decided: date) -> None:
    notified = date.fromisoformat(str(payload[rule.field]))  # a required date field: the parser checked it
    field = f"payload.{rule.field}"
    if notified >= decided:
        raise PayloadInvalid(field, f"is not before decided_at: the person must be told before the decision "
                                    f"({rule.reason})")
    closes = window_end(notified, rule.working_days)
    if decided <= closes:
        raise PayloadInvalid(
            field, f"the {rule.working_days} working days after this notice run until {closes.isoformat()}, "
                   f"so the decision may be taken from the next day, not on {decided.isoformat()}: {rule.reason}")


def window_end(notified: date, working_days: int) -> date:
    """Return the last day of a window of ``working_days`` working days after ``notified`` (itself if none)."""
    return due_date(notified, working_days)


def check_change_document(catalogue: Catalogue, category: Category, document: Document, decided: date,
                          today: date) -> None:
    """Check the document a change of a record's period rests on; raise PayloadInvalid naming its field.

    It is a decision on the period itself, or a document of a type the category's records rest on, made
    on or after the record's decision and already effective.
    """
    allowed = (*category.document_types, CHANGE_DOCUMENT)
    if document.type not in allowed:
        raise PayloadInvalid("document.type", f"a change of a {category.code} record rests on one of: "
                                              f"{', '.join(allowed)}")
    if document.effective_at > today:
        raise PayloadInvalid("document.effective_at", "is in the future: the document is not yet effective",
                             "not_yet_effective")
    if document.effective_at < decided:
        raise PayloadInvalid("document.effective_at", f"is before the record's decision ({decided.isoformat()})")


def _canonical(provider: Provider, record: NewRecord, payload: dict[str, object]) -> str:
    # The vault compares this fingerprint to tell a retry from a reused idempotency key, also for
    # records stored by earlier versions: the text must stay byte for byte what it has been.
    document = None if record.document is None else {
        "type": record.document.type,
        "number": record.document.number,
        "authority": record.document.authority,
        "effective_at": record.document.effective_at.isoformat(),
    }
    fields: list[object] = [provider.client_id, record.citizen_id, record.name, record.category,
                            record.decided_at.isoformat(), document, payload]
    if record.display_until is not None:
        fields.append({"display_until": record.display_until.isoformat()})
    return _CANONICAL(fields)


# The same text as json.dumps with these options, from an encoder built once (audit.jsontext).
_CANONICAL = jsontext.encoder(sort_keys=True, compact=True, ensure_ascii=False)
