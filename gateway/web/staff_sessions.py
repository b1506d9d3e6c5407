"""The staff's login session in the portal, apart from people's: its own cookie member and its own rows.

As for people (gateway/web/sessions.py), the signed cookie carries only a random token, which must name a
live row of `staff_sessions`: logging out ends it there, and it ends at its absolute end however active.
The half login between the password and the TOTP code has a token of its own, replaced at the code, so a
token seen before the second factor opens nothing after it.
"""

from __future__ import annotations

from flask import g, session

from gateway.usecases import staff
from gateway.usecases.staff import StaffMember
from gateway.web.sessions import checked_once, ended, fresh_cookie

_KEY = "staff_sid"  # the cookie member that holds a staff session's token
_HALF = "staff_half"  # ... and the token of a half login, waiting for the TOTP code
_ENROLLING = "staff_enrolling"  # ... and [staff id, token] of an enrolment waiting for its first code


def half_begin(pending: staff.PendingLogin) -> None:
    """Remember the half login (a new cookie: nothing of an earlier login is kept)."""
    fresh_cookie(_HALF, pending.token)


def half_token() -> str | None:
    """Return the token of the half login waiting for its code, if any."""
    found = session.get(_HALF)
    return found if isinstance(found, str) else None


def begin(login: staff.StaffLogin) -> None:
    """Start the cookie of a new staff login (a new session: none of the old cookie's contents is kept)."""
    fresh_cookie(_KEY, login.session_token)
    g.staff_member = login.member


def member() -> StaffMember | None:
    """Return the logged-in member of staff, or None (checked once per request)."""
    found = checked_once("staff_member", _KEY, staff.session_member)
    return found if isinstance(found, StaffMember) else None


def end() -> None:
    """Log out: end the session where it is kept, then forget the cookie."""
    ended("staff_member", _KEY, staff.logout)


def enrolling_begin(enrolling: staff.Enrolling) -> None:
    """Remember the enrolment between its two steps."""
    session.clear()
    session[_ENROLLING] = [enrolling.staff_id, enrolling.token]


def enrolling() -> tuple[str, str] | None:
    """Return (staff id, token) of the enrolment waiting for its first code, if any."""
    found = session.get(_ENROLLING)
    if isinstance(found, list) and len(found) == 2 and all(isinstance(x, str) for x in found):
        return found[0], found[1]
    return None


def enrolling_end() -> None:
    session.pop(_ENROLLING, None)
