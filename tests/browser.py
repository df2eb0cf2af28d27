"""What every browser test shares: Debian's Chromium driven by Playwright
(never a browser a tool downloads), a `browser` fixture, axe-core run inside
the page, and screenshots for docs/screenshots/.

Browser tests skip when Playwright, Chromium or the build is missing, except
under ALBRU_REQUIRE_BROWSER=1 (CI), where that is a failure."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.stack import ROOT

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
DIST_INDEX = ROOT / "web" / "dist" / "index.html"
AXE_JS = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots"
REQUIRE = os.environ.get("ALBRU_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
TABLET = {"width": 768, "height": 1024}
PASSWORD = "secret-pass"  # tests.conftest.Factory's users
#: What Chromium logs while the web process is down on purpose (the socket's
#: reconnect attempts); accepted only during that window.
OUTAGE_NOISE = re.compile(
    r"WebSocket connection to .* failed|ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET")
#: axe-core impacts that fail a test (moderate and minor are reported only).
BLOCKING_IMPACTS = ("serious", "critical")


def missing() -> str | None:
    """Why a browser test cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright wheel is not installed (make install)"
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    if not DIST_INDEX.is_file():
        return "web/dist is not built (make web; needs Node 20+)"
    if not AXE_JS.is_file():
        return "axe-core is not installed (make web: npm ci in web/)"
    return None


def launch() -> Iterator[Any]:
    """A Chromium for a module's tests (use as a generator fixture body)."""
    reason = missing()
    if reason:
        if REQUIRE:
            pytest.fail(f"ALBRU_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    # Pushes take milliseconds; the margin is for a busy 2-core CI machine.
    expect.set_options(timeout=10_000)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def axe(page: Any, context: str | None = None) -> list[dict[str, Any]]:
    """Run axe-core inside `page` (WCAG 2.x A/AA rules and best practices) and
    return every violation as {id, impact, help, targets}."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # evaluated over the DevTools protocol: the app's CSP (script-src 'self')
        # refuses an inline <script>, which add_script_tag would insert
        page.evaluate(AXE_JS.read_text(encoding="utf-8") + "\n;void 0")
    result = page.evaluate(
        """async (ctx) => {
            const r = await window.axe.run(ctx ? document.querySelector(ctx) : document,
                {resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.map(n => n.target.join(' '))}));
        }""",
        context,
    )
    return list(result)


def assert_accessible(page: Any, screen: str) -> list[dict[str, Any]]:
    """Fail on any serious or critical axe-core violation; return them all
    (the moderate and minor ones too, for the report)."""
    found = axe(page)
    blocking = [v for v in found if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, f"axe-core on {screen}: {blocking}"
    return found


def screenshot(page: Any, name: str) -> Path:
    """A screenshot for the docs (docs/screenshots/NAME.png)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


class Screen:
    """One person's browser context and page, recording console errors."""

    def __init__(self, browser: Any, base_url: str, who: str, viewport: dict | None = None) -> None:
        self.base_url = base_url
        self.who = who
        self.context = browser.new_context(viewport=viewport or DESKTOP, locale="es-PE")
        self.errors: list[tuple[float, str]] = []
        self.page = self.open()

    def open(self):
        page = self.context.new_page()
        page.on("console", lambda m: m.type == "error" and self.errors.append(
            (time.time(), f"{self.who} console: {m.text}")))
        page.on("pageerror", lambda e: self.errors.append((time.time(), f"{self.who} page: {e}")))
        page.goto(self.base_url + "/")
        self.page = page
        return page

    def login(self, username: str) -> None:
        """By keyboard only: type, Tab to the password, Enter to submit."""
        from playwright.sync_api import expect

        page = self.page
        page.get_by_label("Usuario").fill(username)
        page.keyboard.press("Tab")
        expect(page.get_by_label("Contraseña")).to_be_focused()
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("conexion")).to_have_text("En línea", timeout=15_000)

    def errors_outside(self, windows: list[tuple[float, float]]) -> list[str]:
        return [text for at, text in self.errors
                if not (OUTAGE_NOISE.search(text) and any(a <= at <= b for a, b in windows))]
