"""Browser tests: Playwright for Python driving Debian's Chromium against the app served live.

One Chromium and one live server while the tests of this package run (per xdist worker): the app served by
werkzeug in a thread on a free port of 127.0.0.1, on a temporary SQLite file with a freshly generated keyring.
Package scope, not session: Playwright's sync API keeps an asyncio loop running in the thread while it is
started, and other tests of the session (the bench's smoke test) call asyncio.run(), which refuses to run
inside a running loop. Pytest stops these fixtures as soon as a worker moves on to a test of another package. Storage is
tested on both backends by the API tests; here the subject is the pages, so one backend (the demo's) suffices.

Each test gets a `page` at each viewport (desktop 1280x800 and phone 390x844, in that order) in a fresh
browser context (no cookies), Chinese by default (the browser says zh-CN). Journeys call `look(page, name)`
on each page they reach: a screenshot under the artefact directory, no horizontal scrolling, and axe-core
reports no serious or critical violation.

Without /usr/bin/chromium the browser tests skip, saying why; under CI=true they fail instead.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import BaseWSGIServer, make_server

from audit.clock import FrozenClock
from gateway.database import make_engine
from gateway.runtime import Runtime, build_runtime
from gateway.usecases import people as people_use
from gateway.web.app import create_app
from tests.conftest import CI, NOW, Auth, People, Registered, _prepare, penalty, settings_for_tests
from vault.vault import Vault

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("XINYONG_ARTIFACTS", Path(__file__).resolve().parents[2] / ".artifacts"))
SCREENSHOTS = ARTIFACTS / "screenshots"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
PASSWORD = "a long enough passphrase"
SERIOUS = ("serious", "critical")

try:  # Playwright imports fine without a browser; the browser is what may be missing.
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
except ImportError:  # pragma: no cover - it is in the lock
    sync_playwright = None  # type: ignore[assignment]


def _unavailable(reason: str) -> None:
    if CI:
        pytest.fail(f"browser tests must run under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is absent (apt-get install chromium fonts-noto-cjk)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless, one for the browser tests."""
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
    yield launched
    launched.close()


@dataclass
class Live:
    """The app served on a real port, and ways to put data into it as its other users would."""

    url: str
    app: Flask
    rt: Runtime
    client: FlaskClient
    people: People
    auth: Auth

    def enroll(self, name: str = "王小明") -> tuple[str, str]:
        """A person enrolled at the counter: (citizen ID, activation code)."""
        citizen_id = self.people.new()
        return citizen_id, people_use.enroll(self.rt, citizen_id, name, "counter-1").activation_code

    def activated(self, name: str = "王小明") -> str:
        """A person who activated their account (password PASSWORD); their citizen ID."""
        citizen_id, code = self.enroll(name)
        people_use.activate(self.rt, citizen_id, code, PASSWORD, "127.0.0.1")
        return citizen_id

    def provider(self) -> Registered:
        return self.auth.provider()

    def record(self, provider: Registered, citizen_id: str, decided: date = date(2026, 10, 1),
               **overrides: Any) -> dict[str, Any]:
        """File a record through the API, as an agency does; return its JSON."""
        response = self.client.post("/api/v1/records", json=penalty(citizen_id, decided, **overrides),
                                    headers=provider.headers)
        assert response.status_code == 201, response.json
        return dict(response.json)  # type: ignore[arg-type]

    def institution(self, kind: str = "employer") -> Registered:
        return self.auth.register("institution", kind=kind)

    def ask(self, institution: Registered, citizen_id: str, purpose: str = "employment_screening",
            **body: Any) -> dict[str, Any]:
        """An institution's consent request, through the API; return its JSON."""
        response = self.client.post("/api/v1/consent-requests", headers=institution.headers, json={
            "citizen_id": citizen_id, "purpose": purpose, "reason": "入职前核查", "valid_for": "P30D", **body})
        assert response.status_code == 201, response.json
        return dict(response.json)  # type: ignore[arg-type]


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The app on a free port of 127.0.0.1, on a temporary SQLite file (one per session)."""
    home = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{home / 'xinyong.db'}"
    engine = _prepare(make_engine(url))
    settings = replace(settings_for_tests(home), database_url=url, development=True)
    rt = build_runtime(settings, clock=FrozenClock(NOW), engine=engine, vault=Vault.generate())
    app = create_app({"XINYONG_TOKEN_ENDPOINT": "http://localhost/oauth/token"}, runtime=rt)
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live server", daemon=True)
    thread.start()
    client = app.test_client()
    yield Live(f"http://127.0.0.1:{server.server_port}", app, rt, client, People(seed=101), Auth(rt, client))
    server.shutdown()
    thread.join()
    engine.dispose()


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    """The viewport's name: 'desktop' (1280x800) or 'phone' (390x844)."""
    return str(request.param)


@pytest.fixture
def context(browser: Browser, viewport: str, live: Live) -> Iterator[BrowserContext]:
    """A fresh browser context (no cookies) at the viewport, speaking Chinese, based at the live server."""
    made = browser.new_context(viewport=VIEWPORTS[viewport], locale="zh-CN", base_url=live.url,
                               is_mobile=viewport == "phone", has_touch=viewport == "phone")
    made.set_default_timeout(10_000)
    yield made
    made.close()


@pytest.fixture
def page(context: BrowserContext, viewport: str) -> Page:
    """A page of the context; `page.viewport_name` says which viewport for screenshots."""
    made = context.new_page()
    made.viewport_name = viewport  # type: ignore[attr-defined]
    return made


def assert_no_horizontal_scroll(page: Page) -> None:
    """Nothing of the page is off to the side: its width fits the window."""
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{page.url} is {widths[0]} px wide in a {widths[1]} px window"


def axe_check(page: Page) -> None:
    """axe-core finds no serious or critical accessibility violation on the page."""
    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in SERIOUS]
    assert not bad, f"{page.url}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in bad)


def shot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as <artefacts>/screenshots/<name>-<viewport>.png; return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    path = SCREENSHOTS / f"{safe}-{getattr(page, 'viewport_name', 'page')}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def fill_payload(page: Page, payload: dict[str, Any]) -> None:
    """Fill the record form's payload fields (a select by its option, any other field by its text)."""
    for name, value in payload.items():
        field = page.locator(f"#payload\\.{name}")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)


def look(page: Page, name: str) -> None:
    """What every journey checks on every page it reaches: screenshot, no sideways scrolling, axe."""
    shot(page, name)
    assert_no_horizontal_scroll(page)
    axe_check(page)
