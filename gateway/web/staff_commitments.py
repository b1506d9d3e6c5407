"""Pages shared by the bodies people make commitments to (COM-1, COM-3): an institution's or an agency's staff
list the commitments made to their organisation, open one (an audited release of its text) and record it kept
or broken with the reason the person reads. An agency's breach becomes its CREDIT_COMMITMENT_BREACH record;
all of it is `gateway.usecases.commitments`, run through the member's runtime."""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from consent.errors import CommitmentStepOutOfOrder, CommitmentTemplateWithdrawn, ConsentError
from gateway.usecases import clients, commitments, staff
from gateway.web.layout import ERROR, tell
from gateway.web.staff_portal import acting, bp, current, member_page
from vault.errors import VaultError
from vault.types import Provider

# The page prefix and the use-case role of each kind of accepting body.
AREAS = {"institution": "institution", "provider": "agency"}


def _provider() -> Provider | None:
    """The agency as a provider (its breach becomes its record), or None for an institution."""
    member = current()
    return clients.provider(acting(), member.org_id) if member.org_role == "provider" else None


def _list() -> str:
    member = current()
    found = commitments.body_commitments(acting(), member.org_id, member.org_role, None, g.get("request_id"))
    return render_template("staff/commitments.html", commitments=found, prefix=AREAS[member.org_role])


def _one(commitment_id: str) -> str:
    staff.require_act(current())
    member = current()
    found = commitments.body_commitment(acting(), member.org_id, member.org_role, commitment_id, g.get("request_id"))
    return render_template("staff/commitment.html", c=found, prefix=AREAS[member.org_role])


def _outcome(commitment_id: str) -> BaseResponse:
    staff.require_act(current())
    member = current()
    area = AREAS[member.org_role]
    outcome, reason = request.form.get("outcome", ""), request.form.get("reason", "").strip()
    back = url_for(f"staff.{area}_commitment", commitment_id=commitment_id)
    if outcome not in ("fulfilled", "breached") or not reason:
        tell(_("Choose kept or broken and give your reason: the person reads it."), ERROR)
        return redirect(back)
    try:
        commitments.record_outcome(acting(), commitments.RecordOutcome(
            member.org_id, member.org_role, commitment_id, outcome, reason, provider=_provider(),
            request_id=g.get("request_id")))
    except (CommitmentStepOutOfOrder, CommitmentTemplateWithdrawn) as exc:
        from gateway.web.labels import label

        code = "commitment_step_out_of_order" if isinstance(exc, CommitmentStepOutOfOrder) \
            else "commitment_template_withdrawn"
        tell(_("Not recorded: %(why)s", why=label("refusals", code)), ERROR)
        return redirect(back)
    except (ConsentError, VaultError) as exc:
        tell(_("Not recorded: %(why)s", why=str(getattr(exc, "reason", None) or exc)), ERROR)
        return redirect(back)
    tell(_("Recorded: the person is told."))
    return redirect(url_for(f"staff.{area}_commitments"))


@bp.get("/institution/commitments")
@member_page("institution")
def institution_commitments() -> str:
    """Commitments people made to the institution, pending first by their due date."""
    return _list()


@bp.get("/institution/commitments/<string:commitment_id>")
@member_page("institution")
def institution_commitment(commitment_id: str) -> str:
    return _one(commitment_id)


@bp.post("/institution/commitments/<string:commitment_id>/outcome")
@member_page("institution")
def institution_commitment_outcome(commitment_id: str) -> BaseResponse:
    return _outcome(commitment_id)


@bp.get("/agency/commitments")
@member_page("provider")
def agency_commitments() -> str:
    """Commitments people made to the agency, pending first by their due date."""
    return _list()


@bp.get("/agency/commitments/<string:commitment_id>")
@member_page("provider")
def agency_commitment(commitment_id: str) -> str:
    return _one(commitment_id)


@bp.post("/agency/commitments/<string:commitment_id>/outcome")
@member_page("provider")
def agency_commitment_outcome(commitment_id: str) -> BaseResponse:
    return _outcome(commitment_id)
