"""Use cases of credit commitments (信用承诺): the person signs on a template, the accepting body records the outcome.

Each opens one transaction. The text signed and the person's details go in and out through the vault's
audited methods; the templates and who may accept what are the consent context's. A broken commitment made
to an authority becomes a record produced by that authority (COM-1, COM-3), checked by the entry rules of
any record it files; the person is notified of every outcome. A refused request is recorded in its own
transaction after the rollback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select

from audit.clock import CST, isoformat_z
from audit.tags import Tag
from audit.tx import Tx
from consent import commitments as cm
from consent import notifications
from consent.commitments import CommitmentView
from consent.errors import CommitmentTemplateWithdrawn, RequestInvalid
from gateway.models import Client
from gateway.runtime import Runtime
from gateway.usecases.consents import institutions
from gateway.usecases.declarations import body_access, breach_document, filed_by, on, person_access, remedies
from gateway.usecases.records import denials_audited
from vault.types import CommitmentTexts, Provider, RecordDraft

BASIS = "credit commitment (信用承诺), COM-1"


@dataclass(frozen=True, slots=True)
class SignCommitment:
    """A commitment the person signs on a template, to a body (an institution's or authority's client id)."""

    subject_ref: str
    template: str
    accepting_body: str
    details: str | None = field(default=None, repr=False)
    due_date: date | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """The accepting body's record of a commitment kept or broken, with the reason the person reads.

    `provider` is the body as an authority (None for an institution): only an authority's breach is a record.
    """

    body: str
    role: str
    commitment_id: str
    outcome: str
    reason: str = field(repr=False)
    breach: str = "not_fulfilled"
    provider: Provider | None = None
    request_id: str | None = None


def describe(rt: Runtime, tx: Tx, view: CommitmentView, texts: CommitmentTexts | None,
             names: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Return a commitment as its person or its accepting body sees it."""
    rules = rt.policy.commitments
    template = rules.templates.get(view.template)
    out: dict[str, Any] = {
        "id": view.id,
        "template": view.template,
        "scenario": None if template is None else template.scenario,
        "name": None if template is None else {"zh": template.name.zh, "en": template.name.en},
        "accepting_body": names.get(view.accepting_body, {"id": view.accepting_body, "name": view.accepting_body,
                                                          "kind": None}),
        "status": view.status,
        "signed_at": isoformat_z(view.signed_at),
        "due_date": None if view.due_date is None else view.due_date.isoformat(),
        "overdue": view.status == cm.PENDING and view.due_date is not None and tx.today > view.due_date,
        "decided_on": on(view.decided_at),
        "record_id": view.record_id,
        "if_breached": rules.breach_record[view.body_role],
    }
    if view.record_id is not None and view.decided_at is not None:
        out["remedies"] = remedies(rt, view.record_id, rules.breach_category, view.decided_at.astimezone(CST).date())
    if texts is not None:
        out["text"] = texts.text
        out["details"] = texts.details
        out["body_words"] = texts.answer
    return out


def _records_breaches(rt: Runtime, categories: list[str] | None, agency: str | None,
                      agency_level: str | None) -> bool:
    """Whether an authority may record a broken commitment (registered for the breach category, allowed to file)."""
    breach = rt.policy.commitments.breach_category
    return breach in (categories or []) and agency is not None and \
        rt.catalogue.filing_refusal(breach, agency, agency_level) is None


def bodies(rt: Runtime, subject_ref: str, template_code: str) -> list[dict[str, Any]]:
    """Return the bodies a commitment on the template may be made to, by name, for the person to choose from.

    The same test `sign` applies (an enabled client of a role the template allows; an authority only if it
    records broken commitments), so a body offered is never refused for what it is. Names are public.
    """
    template = rt.policy.commitments.templates.get(template_code)
    if template is None:
        return []
    with rt.uow.begin(person_access(subject_ref, None, BASIS), readonly=True) as tx:
        rows = tx.session.execute(
            select(Client.client_id, Client.name, Client.role, Client.kind, Client.categories, Client.agency,
                   Client.agency_level)
            .where(Client.role.in_(template.accepted_by), Client.disabled_at.is_(None))
            .order_by(Client.name, Client.client_id)).all()
        return [{"id": r.client_id, "name": r.name, "role": r.role, "kind": r.kind} for r in rows
                if r.role != "provider" or _records_breaches(rt, r.categories, r.agency, r.agency_level)]
    raise AssertionError("unreachable")


def _body(tx: Tx, rt: Runtime, client_id: str) -> str | None:
    """Return the role of an enabled client that may accept commitments, or None.

    An authority must be able to record a breach (registered for the breach category, its role allowed to
    file it), so that a broken commitment made to it can always become its record.
    """
    row = tx.session.execute(select(Client.role, Client.categories, Client.agency, Client.agency_level).where(
        Client.client_id == client_id, Client.disabled_at.is_(None))).one_or_none()
    if row is None or row.role not in cm.ACCEPTING_ROLES:
        return None
    if row.role == "provider":
        breach = rt.policy.commitments.breach_category
        if not _records_breaches(rt, row.categories, row.agency, row.agency_level):
            raise RequestInvalid("accepting_body", f"this authority does not record broken commitments ({breach})")
    return str(row.role)


def sign(rt: Runtime, cmd: SignCommitment) -> dict[str, Any]:
    """Sign a commitment on a template; RequestInvalid names the template, accepting body or due date at fault."""
    access = person_access(cmd.subject_ref, cmd.request_id, BASIS)
    with denials_audited(rt.uow, access, Tag.COMMITMENT_DENIED, cmd.subject_ref), rt.uow.begin(access) as tx:
        role = _body(tx, rt, cmd.accepting_body)
        template = cm.check_signing(rt.policy.commitments, cmd.template, role, cmd.due_date, tx.today,
                                   cmd.details)
        assert role is not None  # check_signing refused an unknown body
        commitment_id = rt.vault.sign_commitment(tx, cmd.subject_ref, template.code, cmd.accepting_body, role,
                                                 template.text_zh, cmd.details, cmd.due_date)
        view = cm.get_for_person(tx, commitment_id, cmd.subject_ref)
        return describe(rt, tx, view, None, institutions(tx, {cmd.accepting_body}))
    raise AssertionError("unreachable")


def my_commitments(rt: Runtime, subject_ref: str, commitment_id: str | None,
                   request_id: str | None) -> list[dict[str, Any]]:
    """Return the person's commitments (or the one named), newest first, with their texts; the read is recorded."""
    access = person_access(subject_ref, request_id, BASIS)
    with denials_audited(rt.uow, access, Tag.COMMITMENT_DENIED, subject_ref), rt.uow.begin(access) as tx:
        views = (cm.list_for_person(tx, subject_ref) if commitment_id is None
                 else [cm.get_for_person(tx, commitment_id, subject_ref)])
        texts = rt.vault.read_commitments(tx, subject_ref, [v.id for v in views]) if views else {}
        names = institutions(tx, {v.accepting_body for v in views})
        return [describe(rt, tx, v, texts.get(v.id), names) for v in views]
    raise AssertionError("unreachable")


def body_commitments(rt: Runtime, body: str, role: str, status: str | None,
                     request_id: str | None) -> list[dict[str, Any]]:
    """Return the commitments made to the body (pending ones, or of one status), the earliest due first; no texts."""
    with rt.uow.begin(body_access(body, role, request_id, BASIS), readonly=True) as tx:
        names = institutions(tx, {body})
        return [describe(rt, tx, v, None, names) for v in cm.for_body(tx, body, status)]


def body_commitment(rt: Runtime, body: str, role: str, commitment_id: str, request_id: str | None) -> dict[str, Any]:
    """Return a commitment made to the body with the text signed and the details: an audited release."""
    access = body_access(body, role, request_id, BASIS)
    with denials_audited(rt.uow, access, Tag.COMMITMENT_DENIED), rt.uow.begin(access) as tx:
        view = cm.get_for_body(tx, commitment_id, body)
        texts = rt.vault.release_commitment(tx, commitment_id, body)
        return describe(rt, tx, view, texts, institutions(tx, {body}))
    raise AssertionError("unreachable")


def record_outcome(rt: Runtime, cmd: RecordOutcome) -> dict[str, Any]:
    """Record a pending commitment fulfilled or breached; CommitmentStepOutOfOrder names a closed one's status.

    A breach of a commitment made to an authority becomes its CREDIT_COMMITMENT_BREACH record (COM-3).
    """
    access = body_access(cmd.body, cmd.role, cmd.request_id, BASIS)
    rules = rt.policy.commitments
    with denials_audited(rt.uow, access, Tag.COMMITMENT_DENIED), rt.uow.begin(access) as tx:
        view = cm.get_for_body(tx, cmd.commitment_id, cmd.body)
        # A breach of a commitment made to an authority files a record, whose scenario is the template's.
        provider = cmd.provider if cmd.outcome == cm.BREACHED and view.body_role == "provider" else None
        template = rules.templates.get(view.template)
        cm.close(tx, view, cmd.outcome)  # a closed commitment is refused as such first, whatever its template
        if provider is not None and template is None:  # rolled back with the close: nothing is kept
            raise CommitmentTemplateWithdrawn(view.id, view.template)
        names = institutions(tx, {cmd.body})
        breach = None
        if provider is not None and template is not None:
            scenario = template.scenario
            document = breach_document(rules.breach_document_type, view.id, names[cmd.body]["name"], tx.today)

            def draft(texts: CommitmentTexts) -> RecordDraft:
                promised = texts.text if not texts.details else f"{texts.text}\n{texts.details}"
                return RecordDraft(rules.breach_category, tx.today, document, {
                    "breach": cmd.breach, "scenario": scenario, "commitment": promised, "finding": cmd.reason})

            breach = (provider, draft, filed_by(rt, tx, provider))
        rt.vault.close_commitment(tx, view.id, cmd.body, cmd.outcome, cmd.reason, breach)
        notifications.notify(tx, view.subject_ref, "commitment_step", view.id, cmd.outcome)
        return describe(rt, tx, cm.get_for_body(tx, view.id, cmd.body), None, names)
    raise AssertionError("unreachable")
