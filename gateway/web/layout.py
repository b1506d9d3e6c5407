"""What every portal page shares: the role-aware header (an `Area` per role), feedback messages, safe redirects.

Each role's blueprint registers one `Area`: how to tell that the reader is signed in in that role, the links of
its navigation, and its logout endpoint. The header shows the first area whose `signed_in` answers a name, so a
page never needs to know who is reading it. See /work/notes/portal-foundation.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, flash, request
from flask_babel import LazyString

log = logging.getLogger("xinyong.gateway")

# Kinds of feedback after an action (the CSS classes of the message box).
OK, ERROR, INFO = "ok", "error", "info"


@dataclass(frozen=True)
class NavItem:
    """One link of an area's navigation: the endpoint and its text (lazy_gettext)."""

    endpoint: str
    text: LazyString | str


@dataclass(frozen=True)
class Area:
    """A role's part of the portal: who is signed in (None if nobody in this role), its links, its logout."""

    role: str
    signed_in: Callable[[], str | None]
    nav: tuple[NavItem, ...]
    logout: str  # endpoint of a POST form
    home: str  # endpoint the service name links to


def register_area(app: Flask, area: Area) -> None:
    """Add a role's area to the header's choices (first registered, first asked)."""
    app.extensions.setdefault("xinyong_areas", []).append(area)


def current_area() -> tuple[Area, str] | None:
    """Return the area the reader is signed in to and the name to show, or None."""
    for area in current_app.extensions.get("xinyong_areas", []):
        try:
            who = area.signed_in()
        except Exception:  # noqa: BLE001 - an error page (a database down) still renders, without a header
            log.warning("could not tell who is signed in to %s", area.role)
            return None
        if who is not None:
            return area, who
    return None


def tell(message: str, kind: str = OK) -> None:
    """Say what an action did on the next page (a message box, role="status" or "alert" for errors)."""
    flash(message, kind)


def safe_next(target: str | None) -> str | None:
    """Return `target` if it is a path on this site, else None.

    Only same-site paths: an open redirect would hand the session to another site. URL parsers (Python's and
    browsers') drop tabs and newlines, and browsers read a backslash as a slash, so "/<TAB>/evil.example" and
    "/<backslash>evil.example" lead off-site too: refuse both kinds of character.
    """
    if not target or any(c < " " or c in "\\\x7f" for c in target):
        return None
    if target.startswith("/") and not target.startswith("//"):
        return target
    return None


def here() -> str:
    """The current path, for the language switch to come back to; with its query, except under /oauth/, where
    the query is an app's authorization request that an error page must not echo (it may name a foreign site)."""
    if request.query_string and not request.path.startswith("/oauth/"):
        return request.full_path
    return request.path


def _context() -> dict[str, Any]:
    found = current_area()
    return {"area": found[0] if found else None, "signed_in_as": found[1] if found else None, "here": here}


def init_app(app: Flask) -> None:
    """Give every template the reader's area and the current path."""
    app.context_processor(_context)
