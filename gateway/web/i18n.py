"""The portal's languages: Chinese by default, English by a switch (flask-babel, gettext catalogues).

The reader's choice is a cookie set by /lang/<code>; without one, the browser's Accept-Language decides; with
neither, Chinese. Message catalogues live in gateway/web/translations/<locale>/LC_MESSAGES/messages.po; the
compiled .mo files are not committed: `create_app` compiles a catalogue whose .mo is missing or older than its
.po (atomically, so test workers starting together never read half a file), and `make install` does it too.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Blueprint, Flask, redirect, request, url_for
from flask_babel import Babel
from werkzeug.wrappers import Response as BaseResponse

from gateway.web.context import runtime
from gateway.web.layout import safe_next

LANGUAGES = ("zh", "en")
DEFAULT = "zh"
COOKIE = "xinyong_lang"
COOKIE_AGE = 365 * 24 * 3600
TRANSLATIONS = Path(__file__).resolve().parent / "translations"

log = logging.getLogger("xinyong.gateway")
bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    """The reader's language: their saved choice, else their browser's, else Chinese."""
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT) or DEFAULT


@bp.get("/lang/<string:code>")
def switch(code: str) -> BaseResponse:
    """Remember the reader's language and go back to the page they were on (a same-site path only)."""
    target = safe_next(request.args.get("next")) or url_for("portal.index")
    response = redirect(target)
    if code in LANGUAGES:
        response.set_cookie(COOKIE, code, max_age=COOKIE_AGE, httponly=True, samesite="Lax",
                            secure=not runtime().settings.development)
    return response


def compile_catalogues(source: Path = TRANSLATIONS) -> Path:
    """Compile every .po under `source` whose .mo is missing or stale; return the directory that holds the .mo
    files (`source`, or a temporary copy when the source tree is read-only)."""
    try:
        for po in source.glob("*/LC_MESSAGES/*.po"):
            _compile(po, po.with_suffix(".mo"))
        return source
    except OSError as exc:
        target = Path(tempfile.mkdtemp(prefix="xinyong-translations-"))
        log.warning("translations compiled to %s: %s is not writable (%s)", target, source, type(exc).__name__)
        for po in source.glob("*/LC_MESSAGES/*.po"):
            mo = target / po.relative_to(source).with_suffix(".mo")
            mo.parent.mkdir(parents=True, exist_ok=True)
            _compile(po, mo)
        return target


def _compile(po: Path, mo: Path) -> None:
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        return
    with po.open("rb") as src:
        catalogue = read_po(src)
    handle, temporary = tempfile.mkstemp(dir=mo.parent, prefix=".messages-", suffix=".mo")
    try:
        with os.fdopen(handle, "wb") as out:
            write_mo(out, catalogue)
        os.replace(temporary, mo)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def init_app(app: Flask) -> None:
    """Install flask-babel with our locale selector and compiled catalogues, and the /lang switch."""
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT
    app.config["BABEL_DEFAULT_TIMEZONE"] = "Asia/Shanghai"
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compile_catalogues())
    Babel(app, locale_selector=select_locale)
    app.register_blueprint(bp)
