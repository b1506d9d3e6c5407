"""The portal's login session: a signed cookie that carries a random token, checked against its row.

The cookie alone proves nothing: the token must name a session that has not been logged out or run
past its absolute end. The cookie still expires after 30 idle minutes on its own, counted from when it
was last signed: `CookieSessions` signs it afresh at most once a minute, not on every request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask, Request, g, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import BadSignature, URLSafeTimedSerializer

from gateway.runtime import Runtime
from gateway.usecases import people
from gateway.web.context import runtime

# A permanent session's cookie is signed again (and its expiry moved on) when it is older than this: the idle
# limit then runs from at most this long before the last request, and a burst of requests (the portal's own
# pages, an app polling the report) does not pay for a signature and a Set-Cookie header each.
REFRESH_SECONDS = 60


class _Session(SecureCookieSession):
    signed_at: float | None = None  # when the cookie it came from was signed (None: no cookie, or a bad one)


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, refreshing a permanent session's cookie only once it is REFRESH_SECONDS old.

    Whatever changes the session (a login, a CSRF token, a logout) still sets or deletes the cookie at once,
    and a cookie signed more than PERMANENT_SESSION_LIFETIME ago is still refused, as by Flask's own.
    """

    session_class = _Session
    clock: Callable[[], float] = staticmethod(time.time)

    def __init__(self) -> None:
        self._serializers: dict[tuple[object, ...], URLSafeTimedSerializer] = {}
        # {(serializer, cookie): (its contents, when it was signed)} for cookies whose signature this process
        # has checked: a client sends the same cookie until it is signed afresh (at most once a minute), and
        # checking it again (key derivation, HMAC, base64, JSON) was a fifth of a bare request's time. Only
        # contents without a container are kept (a list in a session, such as flashed messages, is changed in
        # place); the age is checked on every use, as `loads` does.
        self._checked: dict[tuple[URLSafeTimedSerializer, str], tuple[dict[str, Any], float]] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        # Built once per key (Flask builds one for every request, twice), as keys change only with the config.
        key = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if key not in self._serializers:
            made = super().get_signing_serializer(app)
            if made is None:
                return None
            self._serializers[key] = made
        return self._serializers[key]

    def open_session(self, app: Flask, request: Request) -> _Session | None:
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return _Session()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        known = self._checked.get((serializer, value))
        # Its age as `loads` counts it (whole seconds of time.time), so it expires exactly when it would there.
        if known is not None and 0 <= int(time.time()) - int(known[1]) <= max_age:
            found = _Session(known[0])
            found.signed_at = known[1]
            return found
        try:
            data, signed = serializer.loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return _Session()
        found = _Session(data)
        found.signed_at = signed.timestamp() if isinstance(signed, datetime) else None
        if found.signed_at is not None and all(isinstance(v, _PLAIN) for v in data.values()):
            if len(self._checked) >= CHECKED_COOKIES:
                self._checked.clear()  # an old cookie checked again costs what every one did before
            self._checked[(serializer, value)] = (dict(data), found.signed_at)
        return found

    def should_set_cookie(self, app: Flask, session: SessionMixin) -> bool:
        if getattr(session, "modified", False):
            return True
        if not (getattr(session, "permanent", False) and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        signed_at = getattr(session, "signed_at", None)
        return signed_at is None or self.clock() - signed_at >= REFRESH_SECONDS

CHECKED_COOKIES = 4096  # cookies a process remembers having checked (see CookieSessions)
_PLAIN = (str, int, float, bool, type(None))

_KEY = "sid"  # the cookie member that holds the session token


def fresh_cookie(key: str, token: str) -> None:
    """Start a new cookie holding `token` as `key`: a new session, none of the old cookie's contents is kept (a
    person's login here, a member of staff's and their half login in gateway/web/staff_sessions.py)."""
    session.clear()
    session[key] = token
    session.permanent = True


def checked_once(name: str, key: str, check: Callable[[Runtime, str], object]) -> object:
    """Return what `check` finds for the cookie's token `key` (None without one), kept as g.`name` so that it
    is checked once per request."""
    if name not in g:
        token = session.get(key)
        setattr(g, name, check(runtime(), token) if isinstance(token, str) else None)
    return getattr(g, name)


def begin(login: people.Login) -> None:
    """Start the cookie of a new login (a new session: none of the old cookie's contents is kept)."""
    fresh_cookie(_KEY, login.session_token)
    g.portal_person = login.subject_ref


def person() -> str | None:
    """Return the blind index of the logged-in person, or None (checked once per request)."""
    found = checked_once("portal_person", _KEY, people.session_person)
    return found if isinstance(found, str) else None


def unchecked_token() -> str | None:
    """Return the cookie's session token if this request has not checked it yet (for a use case that checks it
    in its own transaction, then says what it found with `checked`); None if there is none or it was checked."""
    token = session.get(_KEY) if "portal_person" not in g else None
    return token if isinstance(token, str) else None


def checked(ref: str | None) -> None:
    """Remember what the check of the cookie's session found: its person, or None."""
    g.portal_person = ref


def end() -> None:
    """Log out: end the session where it is kept, then forget the cookie."""
    ended("portal_person", _KEY, people.logout)


def ended(name: str, key: str, logout: Callable[[Runtime, str], None]) -> None:
    """End the session of the cookie's token `key` where it is kept (`logout`), forget the cookie, and let g.`name`
    say that nobody is logged in for the rest of the request."""
    token = session.get(key)
    if isinstance(token, str):
        logout(runtime(), token)
    session.clear()
    setattr(g, name, None)
