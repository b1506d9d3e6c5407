"""The portal's login session: a signed cookie that carries a random token, checked against its row.

The cookie alone proves nothing: the token must name a session that has not been logged out or run
past its absolute end. The cookie still expires after 30 idle minutes on its own.
"""

from __future__ import annotations

from flask import g, session

from gateway.usecases import people
from gateway.web.context import runtime

_KEY = "sid"  # the cookie member that holds the session token


def begin(login: people.Login) -> None:
    """Start the cookie of a new login (a new session: none of the old cookie's contents is kept)."""
    session.clear()
    session[_KEY] = login.session_token
    session.permanent = True
    g.portal_person = login.subject_ref


def person() -> str | None:
    """Return the blind index of the logged-in person, or None (checked once per request)."""
    if "portal_person" not in g:
        token = session.get(_KEY)
        g.portal_person = people.session_person(runtime(), token) if isinstance(token, str) else None
    found = g.portal_person
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
    token = session.get(_KEY)
    if isinstance(token, str):
        people.logout(runtime(), token)
    session.clear()
    g.portal_person = None
