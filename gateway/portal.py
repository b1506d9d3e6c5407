"""HTML pages for people: log in, see your own report, log out."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from gateway.api.base import client_address
from gateway.context import db, runtime
from gateway.errors import RateLimited, Unauthenticated
from gateway.usecases import people

bp = Blueprint("portal", __name__)


@bp.get("/")
def index() -> BaseResponse:
    return redirect(url_for("portal.me" if session.get("subject_ref") else "portal.login_form"))


@bp.get("/login")
def login_form() -> str:
    return render_template("login.html", error=None)


@bp.post("/login")
def login() -> BaseResponse | tuple[str, int]:
    citizen_id = request.form.get("citizen_id", "")
    password = request.form.get("password", "")
    try:
        ref = people.login(db(), runtime(), citizen_id, password, client_address())
    except RateLimited:
        return render_template("login.html", error="rate_limited"), 429
    except Unauthenticated:
        return render_template("login.html", error="bad_credentials"), 401
    session.clear()
    session["subject_ref"] = ref
    session.permanent = True
    return redirect(_safe_next(request.args.get("next")) or url_for("portal.me"))


def _safe_next(target: str | None) -> str | None:
    # Only same-site paths: an open redirect would hand the session to another site.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


@bp.post("/logout")
def logout() -> BaseResponse:
    session.clear()
    return redirect(url_for("portal.login_form"))


@bp.get("/me")
def me() -> BaseResponse | str:
    ref = session.get("subject_ref")
    if not isinstance(ref, str):
        return redirect(url_for("portal.login_form", next="/me"))
    report = people.self_report(db(), runtime(), ref, g.get("request_id"))
    return render_template("me.html", report=report)
