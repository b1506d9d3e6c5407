"""The staff's way into the portal: enrolment (one-time code, password, QR code, first TOTP code), login (password,
then TOTP code), logout, and what every staff page shares: the member, their organisation's part of the header,
and the runtime through which their requests are audited under them and their organisation.

The pages of each kind of organisation are in staff_institution.py, staff_agency.py and staff_auditor.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import segno
from flask import Blueprint, Flask, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from werkzeug.wrappers import Response as BaseResponse

from gateway.errors import LoginRanOut, RateLimited, Unauthenticated
from gateway.runtime import Runtime
from gateway.usecases import staff
from gateway.usecases.staff import StaffMember
from gateway.web import staff_sessions
from gateway.web.api.base import client_address
from gateway.web.context import runtime
from gateway.web.layout import ERROR, Area, NavItem, register_area, tell
from gateway.web.portal import MIN_PASSWORD

bp = Blueprint("staff", __name__, url_prefix="/staff")

# The endpoint each kind of organisation lands on after login.
HOMES = {"institution": "staff.institution_desk", "provider": "staff.agency_desk", "auditor": "staff.auditor_log"}

P = ParamSpec("P")
R = TypeVar("R")
Page = BaseResponse | str | tuple[str, int] | tuple[str, int, dict[str, str]]


def _signed_in(org_role: str) -> Callable[[], str | None]:
    def who() -> str | None:
        found = staff_sessions.member()
        return f"{found.name} · {found.org_name}" if found is not None and found.org_role == org_role else None
    return who


AREAS = (
    Area(role="institution", signed_in=_signed_in("institution"), logout="staff.logout",
         home="staff.institution_desk", nav=(
             NavItem("staff.institution_desk", _l("Requests and reports")),
             NavItem("staff.institution_ask", _l("Ask for consent")),
             NavItem("staff.institution_notices", _l("Correction notices")),
             NavItem("staff.institution_commitments", _l("Commitments")))),
    Area(role="provider", signed_in=_signed_in("provider"), logout="staff.logout", home="staff.agency_desk", nav=(
        NavItem("staff.agency_desk", _l("Queues")),
        NavItem("staff.agency_new_record", _l("Submit a record")),
        NavItem("staff.agency_commitments", _l("Commitments")))),
    Area(role="auditor", signed_in=_signed_in("auditor"), logout="staff.logout", home="staff.auditor_log", nav=(
        NavItem("staff.auditor_log", _l("Audit log")),
        NavItem("staff.auditor_anomalies", _l("Anomalies")),
        NavItem("staff.auditor_tree", _l("Tree head")))),
)


def init_app(app: Flask) -> None:
    """Register the staff's pages and their organisations' parts of the header."""
    from gateway.web import (  # noqa: F401 - they add their routes
        staff_agency,
        staff_auditor,
        staff_commitments,
        staff_institution,
    )

    app.register_blueprint(bp)
    for area in AREAS:
        register_area(app, area)


def member_page(org_role: str) -> Callable[[Callable[P, R]], Callable[P, R | BaseResponse]]:
    """Decorate a page of one kind of organisation: a reader who is not logged in as its staff goes to the login
    page (and back afterwards); a member of another kind of organisation gets a 404 (nothing here for them)."""
    def wrap(view: Callable[P, R]) -> Callable[P, R | BaseResponse]:
        @wraps(view)
        def page(*args: P.args, **kwargs: P.kwargs) -> R | BaseResponse:
            found = staff_sessions.member()
            if found is None:
                return redirect(url_for("staff.login_form", next=request.full_path if request.method == "GET"
                                        else None))
            if found.org_role != org_role:
                abort(404)
            return view(*args, **kwargs)
        return page
    return wrap


def current() -> StaffMember:
    """Return the logged-in member (a page decorated with member_page has one)."""
    found = staff_sessions.member()
    assert found is not None
    return found


def acting() -> Runtime:
    """Return the runtime through which the member's requests run, audited under them and their organisation."""
    return staff.acting(runtime(), current())


def may_act() -> bool:
    """Return whether the member's role lets them act (not only view)."""
    return current().may("act")


# --- login ------------------------------------------------------------------------------------------------


@bp.get("/")
def index() -> BaseResponse:
    found = staff_sessions.member()
    return redirect(url_for(HOMES[found.org_role] if found else "staff.login_form"))


@bp.get("/login")
def login_form() -> str:
    return render_template("staff/login.html", error=None, step="password")


def _limited(template: str, limited: RateLimited, **context: object) -> tuple[str, int, dict[str, str]]:
    wait = limited.retry_after
    return (render_template(template, error="rate_limited", minutes=math.ceil(wait / 60), **context), 429,
            {"Retry-After": str(wait)})


@bp.post("/login")
def login() -> Page:
    try:
        pending = staff.check_password(runtime(), request.form.get("staff_id", ""),
                                       request.form.get("password", ""), client_address())
    except RateLimited as limited:
        return _limited("staff/login.html", limited, step="password")
    except Unauthenticated:
        return render_template("staff/login.html", error="bad_credentials", step="password"), 401
    staff_sessions.half_begin(pending)
    return redirect(url_for("staff.code_form", next=_next()))


def _next() -> str | None:
    from gateway.web.layout import safe_next

    return safe_next(request.args.get("next"))


@bp.get("/login/code")
def code_form() -> BaseResponse | str:
    if staff_sessions.half_token() is None:
        return redirect(url_for("staff.login_form"))
    return render_template("staff/login.html", error=None, step="code")


@bp.post("/login/code")
def code() -> Page:
    token = staff_sessions.half_token()
    if token is None:
        return redirect(url_for("staff.login_form"))
    try:
        done = staff.check_code(runtime(), token, request.form.get("code", ""), client_address())
    except RateLimited as limited:
        return _limited("staff/login.html", limited, step="code")
    except LoginRanOut:
        tell(_("The login ran out: give your password again."), ERROR)
        return redirect(url_for("staff.login_form"))
    except Unauthenticated:
        return render_template("staff/login.html", error="bad_code", step="code"), 401
    staff_sessions.begin(done)
    return redirect(_next() or url_for(HOMES[done.member.org_role]))


@bp.post("/logout")
def logout() -> BaseResponse:
    staff_sessions.end()
    tell(_("You are logged out."))
    return redirect(url_for("staff.login_form"))


# --- enrolment --------------------------------------------------------------------------------------------


@bp.get("/enrol")
def enrol_form() -> str:
    return render_template("staff/enrol.html", error=None)


@bp.post("/enrol")
def enrol() -> Page:
    password = request.form.get("password", "")
    if len(password) < MIN_PASSWORD or password != request.form.get("password_again", ""):
        error = "short_password" if len(password) < MIN_PASSWORD else "passwords_differ"
        return render_template("staff/enrol.html", error=error, minimum=MIN_PASSWORD), 422
    try:
        started = staff.start_enrolment(runtime(), request.form.get("staff_id", ""),
                                        request.form.get("enrolment_code", ""), password, client_address())
    except RateLimited as limited:
        return _limited("staff/enrol.html", limited)
    except Unauthenticated:
        return render_template("staff/enrol.html", error="bad_code"), 401
    staff_sessions.enrolling_begin(started)
    return redirect(url_for("staff.scan_form"))


def qr_svg(uri: str) -> Markup:
    """Return an inline SVG of the QR code of `uri` (it holds the TOTP seed: never cached or logged)."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff", omitsize=False)
    title = escape(_("QR code to scan with your authenticator app"))
    labelled = svg.replace("<svg ", '<svg role="img" aria-labelledby="qr-title" ', 1).replace(
        ">", f'><title id="qr-title">{title}</title>', 1)
    return Markup(labelled)  # noqa: S704 - segno's SVG of our own URI (no markup from outside), the title escaped


def _scan_page(error: str | None, status: int = 200) -> Page:
    found = staff_sessions.enrolling()
    pending = None if found is None else staff.pending_enrolment(runtime(), *found)
    if pending is None:
        tell(_("This enrolment ran out or was finished: ask for a new enrolment code if you need one."), "error")
        return redirect(url_for("staff.enrol_form"))
    page = render_template("staff/scan.html", error=error, qr=qr_svg(pending.uri), staff_id=pending.staff_id,
                           secret=" ".join(pending.secret[i:i + 4] for i in range(0, len(pending.secret), 4)))
    return page, status, {"Cache-Control": "no-store"}


@bp.get("/enrol/scan")
def scan_form() -> Page:
    return _scan_page(None)


@bp.post("/enrol/scan")
def scan() -> Page:
    found = staff_sessions.enrolling()
    if found is None:
        return redirect(url_for("staff.enrol_form"))
    try:
        staff.confirm_enrolment(runtime(), found[0], found[1], request.form.get("code", ""), client_address())
    except RateLimited as limited:
        return _limited("staff/enrol.html", limited)
    except Unauthenticated:
        return _scan_page("bad_code", 401)
    staff_sessions.enrolling_end()
    tell(_("Your account is ready: log in with your staff id, your password and a code from the app."))
    return redirect(url_for("staff.login_form"))
