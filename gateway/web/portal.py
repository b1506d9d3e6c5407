"""HTML pages for people: log in, see your own report, see and revoke the apps acting for you, log out."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, Flask, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as BaseResponse

from audit.clock import CST
from consent.errors import GrantNotFound, RequestNotFound, RequestNotPending
from gateway.errors import NotFound, RateLimited, Unauthenticated
from gateway.usecases import apps, consents, people
from gateway.web import sessions
from gateway.web.api.base import client_address
from gateway.web.context import runtime
from gateway.web.layout import Area, NavItem, register_area, safe_next, tell

bp = Blueprint("portal", __name__)


def _signed_in() -> str | None:
    return str(_("Personal account")) if sessions.person() else None


PEOPLE = Area(role="person", signed_in=_signed_in, logout="portal.logout", home="portal.me", nav=(
    NavItem("portal.me", _l("My report")),
    NavItem("portal.my_apps", _l("Apps")),
))


def init_app(app: Flask) -> None:
    """Register the people's pages and their part of the header."""
    app.register_blueprint(bp)
    register_area(app, PEOPLE)


@bp.get("/")
def index() -> BaseResponse:
    return redirect(url_for("portal.me" if sessions.person() else "portal.login_form"))


@bp.get("/login")
def login_form() -> str:
    return render_template("login.html", error=None)


@bp.post("/login")
def login() -> BaseResponse | tuple[str, int] | tuple[str, int, dict[str, str]]:
    citizen_id = request.form.get("citizen_id", "")
    password = request.form.get("password", "")
    try:
        done = people.login(runtime(), citizen_id, password, client_address())
    except RateLimited as limited:
        wait = limited.retry_after
        return (render_template("login.html", error="rate_limited", minutes=math.ceil(wait / 60), seconds=wait),
                429, {"Retry-After": str(wait)})
    except Unauthenticated:
        return render_template("login.html", error="bad_credentials"), 401
    sessions.begin(done)
    return redirect(safe_next(request.args.get("next")) or url_for("portal.me"))


@bp.post("/logout")
def logout() -> BaseResponse:
    sessions.end()
    tell(_("You are logged out."))
    return redirect(url_for("portal.login_form"))


@bp.get("/me")
def me() -> BaseResponse | str:
    ref = sessions.person()
    if ref is None:
        return redirect(url_for("portal.login_form", next="/me"))
    rt = runtime()
    page = people.me_page(rt, ref, g.get("request_id"))
    notice = NOTICES.get(request.args.get("notice", ""))
    return render_template("me.html", notice=notice, report=page.report, requests=page.requests,
                           grants=page.grants, names=page.institutions, purposes=rt.purposes.purposes,
                           access=page.access, freeze=page.freeze,
                           freeze_notice=FREEZE_NOTICES.get(request.args.get("freeze", "")),
                           notifications=page.notifications, unread=page.unread)


def _person_or_login() -> str | None:
    return sessions.person()


@bp.post("/me/consent-requests/<string:request_id>/approve")
def approve_request(request_id: str) -> BaseResponse:
    """Approve from the portal (the form is CSRF-protected by CSRFProtect)."""
    ref = _person_or_login()
    if ref is None:
        return redirect(url_for("portal.login_form", next="/me"))
    rt = runtime()
    answer = consents.Answer(ref, request_id, http_request_id=g.get("request_id"))
    return _back_to_consents(lambda: consents.approve(rt.uow, rt.vault, rt.policy, answer))


@bp.post("/me/consent-requests/<string:request_id>/deny")
def deny_request(request_id: str) -> BaseResponse:
    ref = _person_or_login()
    if ref is None:
        return redirect(url_for("portal.login_form", next="/me"))
    answer = consents.Answer(ref, request_id, http_request_id=g.get("request_id"))
    return _back_to_consents(lambda: consents.deny(runtime().uow, answer))


@bp.post("/me/consents/<string:consent_id>/revoke")
def revoke_consent(consent_id: str) -> BaseResponse:
    ref = _person_or_login()
    if ref is None:
        return redirect(url_for("portal.login_form", next="/me"))
    return _back_to_consents(lambda: consents.revoke(runtime().uow, ref, consent_id, g.get("request_id")))


@bp.post("/me/freeze")
def freeze_file() -> BaseResponse:
    """Freeze the file from the portal (CSRF-protected by CSRFProtect); back to /me saying what happened."""
    ref = _person_or_login()
    if ref is None:
        return redirect(url_for("portal.login_form", next="/me"))
    revoke = request.form.get("revoke_grants") == "yes"
    done = consents.freeze(runtime().uow, ref, revoke, g.get("request_id"))
    key = "frozen_revoked" if done.revoked_grants else "frozen"
    return redirect(url_for("portal.me", freeze=key) + "#freeze")


@bp.post("/me/unfreeze")
def unfreeze_file() -> BaseResponse:
    ref = _person_or_login()
    if ref is None:
        return redirect(url_for("portal.login_form", next="/me"))
    consents.unfreeze(runtime().uow, ref, g.get("request_id"))
    return redirect(url_for("portal.me", freeze="unfrozen") + "#freeze")


FREEZE_NOTICES = {
    "frozen": "已冻结：新的授权请求不会显示给你，将自动失效；机构看到的与查无此人相同。已给出的授权仍然有效。"
              "Frozen: new consent requests are withheld from you and lapse; institutions see what they see for "
              "an unknown person. Consents you gave still work.",
    "frozen_revoked": "已冻结，并已撤回你给出的全部授权。Frozen, and every consent you gave is revoked.",
    "unfrozen": "已解除冻结：机构可以重新向你请求授权。Unfrozen: institutions can ask for your consent again.",
}


# Shown on /me after a form that could not be done; a page for people, not a problem document.
NOTICES = {
    "not_pending": "这个请求已经处理或已过期。This request was already answered or has lapsed.",
    "not_found": "找不到这个请求或授权。No such request or consent.",
}


def _back_to_consents(action: Callable[[], object]) -> BaseResponse:
    try:
        action()
    except RequestNotPending:
        return redirect(url_for("portal.me", notice="not_pending") + "#consents")
    except (RequestNotFound, GrantNotFound):
        return redirect(url_for("portal.me", notice="not_found") + "#consents")
    return redirect(url_for("portal.me") + "#consents")


@bp.get("/me/apps")
def my_apps() -> BaseResponse | str:
    """The apps acting for the person: what each may see, since when, last used, and a revoke button."""
    ref = sessions.person()
    if ref is None:
        return redirect(url_for("portal.login_form", next="/me/apps"))
    return render_template("my_apps.html", logins=apps.app_logins(runtime().uow, ref),
                           notice=APP_NOTICES.get(request.args.get("notice", "")))


@bp.post("/me/apps/<string:client_id>/revoke")
def revoke_app(client_id: str) -> BaseResponse:
    """Revoke an app (the form is CSRF-protected by CSRFProtect); back to the list with what happened."""
    ref = sessions.person()
    if ref is None:
        return redirect(url_for("portal.login_form", next="/me/apps"))
    try:
        apps.revoke_app(runtime().uow, ref, client_id, g.get("request_id"))
    except NotFound:
        return redirect(url_for("portal.my_apps", notice="app_not_found"))
    return redirect(url_for("portal.my_apps", notice="app_revoked"))


APP_NOTICES = {
    "app_revoked": {"kind": "pos", "text": "已撤销：该应用持有的凭证已全部失效，下次使用须重新授权。Revoked: "
                                           "everything the app held stopped working, and it must ask you again."},
    "app_not_found": {"kind": "err", "text": "这个应用已不能代表你。That app can no longer act for you."},
}


@bp.app_template_filter("cst")
def cst(at: datetime) -> str:
    """Return a moment as a person reads it: Beijing time to the minute."""
    return at.astimezone(CST).strftime("%Y-%m-%d %H:%M") + " 北京时间"
