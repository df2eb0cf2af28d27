"""The web UI in a real browser (Debian's Chromium driven by Playwright) against
the real system: a web process serving web/dist, the test run's Celery worker
and beat, MariaDB and Redis. A GTR and two advisors in separate browser
contexts derive, open, keep alive past the original deadline, refresh,
complete, time out, force-release and reconnect, and every step is checked in
the database or on the other screen. Screenshots of both screens (1366x768)
land in test-results/web-ui/.

Skips when Playwright, Chromium or the build is missing, except under
ALBRU_REQUIRE_BROWSER=1 (CI), where that is a failure."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness.stack import ROOT, Stack
from tests.browser import Screen, launch
from tests.conftest import backends

pytestmark = pytest.mark.stack  # a browser against a real stack


ARTIFACTS = ROOT / "test-results" / "web-ui"
#: Short enough for a test, long enough for a browser on a busy 2-core machine.
#: A heartbeat every 9 s keeps a 12 s session alive and lets the idle advisor
#: see the warning (a third of the timeout, 4 s) for up to a second each cycle.
SESSION_TIMEOUT = 12
HEARTBEAT_INTERVAL = 9


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    yield from launch()


@pytest.fixture(scope="module")
def ui_stack(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A web process of its own (so this test may kill it), with a session
    timeout a person can work in; the run's worker and beat serve it (same
    database, Redis, channel, key prefix and JWT secret)."""
    # They must be up: a test before this one may have left the worker dead, and
    # this one would then fail far from the cause.
    stack.wait_healthy(timeout=30)
    s = Stack(backends(), Path(tmp_path_factory.mktemp("web-ui")),
              KEY_PREFIX=stack.env["KEY_PREFIX"], SOCKETIO_CHANNEL=stack.env["SOCKETIO_CHANNEL"],
              JWT_SECRET=stack.env["JWT_SECRET"], SESSION_TIMEOUT=str(SESSION_TIMEOUT),
              HEARTBEAT_INTERVAL=str(HEARTBEAT_INTERVAL))
    s.start_web_live()
    yield s
    s.stop()


def test_gtr_and_two_advisors_in_the_browser(browser, ui_stack: Stack, factory):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    gtr, a1, a2 = factory.gtr(), factory.asesor(), factory.asesor()
    c1, c2, c3, c4, c5, c6, c7 = (factory.cliente() for _ in range(7))  # c5-c7: scenery
    url = ui_stack.base_url

    g = Screen(browser, url, "gtr")
    s1 = Screen(browser, url, "asesor1")
    s2 = Screen(browser, url, "asesor2")
    outages: list[tuple[float, float]] = []
    try:
        # --- login lands each role on its screen
        g.login(gtr.username)
        expect(g.page).to_have_url(re.compile(r"/gtr$"))
        s1.login(a1.username)
        s2.login(a2.username)
        expect(s1.page).to_have_url(re.compile(r"/asesor$"))
        gp = g.page
        nuevo = gp.get_by_test_id("col-nuevo")
        # the columns are pages of the server's clients (a run's database holds
        # many), so each client is found by the board's search, by its id
        search = gp.get_by_label("Buscar", exact=True)
        for c in (c1, c2, c3, c4, c5, c6, c7):
            search.fill(f"#{c.id}")
            expect(nuevo.get_by_test_id(f"cliente-{c.id}")).to_contain_text(c.nombre)

        def derive(c, to) -> None:
            search.fill(f"#{c.id}")
            gp.get_by_role("button", name=f"Derivar {c.nombre}", exact=True).click()
            gp.get_by_label(f"Asesor para {c.nombre}", exact=True).select_option(label=to.nombre)
            gp.get_by_role("button", name=f"Confirmar derivación de {c.nombre}",
                           exact=True).click()
            expect(gp.get_by_test_id("col-derivado").get_by_test_id(f"cliente-{c.id}")) \
                .to_contain_text(to.nombre)

        # --- derive: each advisor's queue gets its clients by push
        derive(c1, a1)
        derive(c2, a2)
        derive(c3, a2)
        derive(c7, a2)
        derive(c4, a1)
        gp.get_by_role("button", name="Quitar filtros").click()
        expect(s1.page.get_by_test_id(f"mio-{c1.id}")).to_contain_text(c1.nombre)
        expect(s2.page.get_by_test_id(f"mio-{c2.id}")).to_be_visible()
        expect(s2.page.get_by_test_id(f"mio-{c3.id}")).to_be_visible()
        expect(s1.page.get_by_test_id(f"mio-{c2.id}")).to_have_count(0)

        # --- advisor 1 opens c1 with the keyboard: GTR sees it in gestión, with a countdown
        p1 = s1.page
        p1.get_by_role("button", name=f"Abrir {c1.nombre}", exact=True).focus()
        p1.keyboard.press("Enter")
        expect(p1.get_by_test_id("wizard")).to_contain_text(f"Gestionando: {c1.nombre}")
        gestion = gp.get_by_test_id("col-en_gestion").get_by_test_id(f"cliente-{c1.id}")
        expect(gestion).to_contain_text(a1.nombre)
        expect(gestion.get_by_test_id("countdown")).to_have_text(re.compile(r"^0:(0\d|1[0-2])$"))
        first = factory.sessions_of(c1.id)
        assert [s.status for s in first] == ["active"]
        original_deadline = first[0].deadline_at

        # --- left idle, the advisor is warned before the timeout; heartbeats keep it alive
        # It shows from the first clock tick with 4 s left until the next heartbeat's
        # answer (under a second), so poll every frame, over two heartbeat cycles.
        warning = p1.wait_for_function(
            "() => document.querySelector('[data-testid=aviso-timeout]')?.textContent",
            timeout=(2 * HEARTBEAT_INTERVAL + 3) * 1000).json_value()
        assert "la gestión vence en 0:0" in warning and "volverá a GTR" in warning, warning
        p1.get_by_label("Gestionado (contacto logrado)").check()
        p1.get_by_label("2. Notas").fill("Cliente interesado; llamar el lunes.")
        while time.time() < original_deadline + 4:
            time.sleep(0.5)
        alive = factory.sessions_of(c1.id)
        assert [s.status for s in alive] == ["active"], alive
        assert alive[0].id == first[0].id and alive[0].deadline_at > original_deadline + 4
        assert alive[0].heartbeats >= 1
        expect(p1.get_by_test_id("wizard")).to_be_visible()
        expect(gestion).to_be_visible()
        expect(gestion.get_by_test_id("countdown")).not_to_have_text("0:00")

        # --- a page refresh mid-session restores the session and the draft
        with p1.expect_response(lambda r: f"/api/sessions/restore/{c1.id}" in r.url
                                and r.status == 200):
            p1.reload()
        expect(p1.get_by_test_id("wizard")).to_contain_text(f"Gestionando: {c1.nombre}")
        expect(p1.get_by_label("2. Notas")).to_have_value("Cliente interesado; llamar el lunes.")
        expect(p1.get_by_label("Gestionado (contacto logrado)")).to_be_checked()
        expect(p1.get_by_test_id("conexion")).to_have_text("En línea")
        assert [s.id for s in factory.sessions_of(c1.id)] == [first[0].id]

        # --- advisor 2 opens c2 and closes the tab: no heartbeats, so a timeout
        p2 = s2.page
        p2.get_by_role("button", name=f"Abrir {c2.nombre}", exact=True).click()
        expect(p2.get_by_test_id("wizard")).to_contain_text(c2.nombre)
        expect(gp.get_by_test_id("col-en_gestion").get_by_test_id(f"cliente-{c2.id}")) \
            .to_contain_text(a2.nombre)
        p1.screenshot(path=str(ARTIFACTS / "asesor-console.png"))
        p2.close()

        # --- advisor 1 completes c1
        p1.get_by_role("button", name="3. Cerrar gestión").click()
        expect(p1.get_by_test_id("aviso")).to_contain_text("cerrada")
        expect(p1.get_by_test_id("wizard")).to_have_count(0)
        expect(gp.get_by_test_id("col-gestionados").get_by_test_id(f"cliente-{c1.id}")) \
            .to_contain_text("gestionado")
        done = factory.sessions_of(c1.id)
        assert [(s.status, s.resultado) for s in done] == [("completed", "gestionado")]
        assert factory.get_cliente(c1.id).estado == "gestionado"

        # --- the timeout arrives on the GTR board by itself
        devuelto = gp.get_by_test_id("col-devueltos").get_by_test_id(f"cliente-{c2.id}")
        expect(devuelto).to_contain_text("tiempo agotado", timeout=(SESSION_TIMEOUT + 20) * 1000)
        expect(gp.get_by_test_id("avisos")).to_contain_text(f"{c2.nombre} volvió a GTR")
        assert [s.status for s in factory.sessions_of(c2.id)] == ["timed_out"]
        expect(gp.get_by_test_id(f"cifras-{a1.id}")).to_contain_text(a1.nombre)
        expect(gp.get_by_test_id(f"cifras-{a1.id}").locator("td").nth(1)).to_have_text("1")
        expect(gp.get_by_test_id(f"cifras-{a2.id}").locator("td").nth(2)).to_have_text("1")

        # --- advisor 2 comes back: the persisted session is gone, and the page says so
        p2 = s2.open()
        expect(p2.get_by_test_id("aviso")).to_contain_text("volvió a GTR")
        expect(p2.get_by_test_id("wizard")).to_have_count(0)

        # --- GTR force-releases c3 while advisor 2 works on it: a clear message
        p2.get_by_role("button", name=f"Abrir {c3.nombre}", exact=True).click()
        expect(p2.get_by_test_id("wizard")).to_contain_text(c3.nombre)
        # «Liberar» asks first (who holds the client, for how long)
        gp.get_by_role("button", name=f"Liberar {c3.nombre}").click()
        expect(gp.get_by_test_id("dialogo-liberar")).to_contain_text(a2.nombre)
        gp.get_by_test_id("dialogo-liberar").get_by_role("button", name="Liberar ahora").click()
        expect(p2.get_by_test_id("aviso")).to_contain_text("devuelto a GTR: GTR liberó la gestión")
        expect(p2.get_by_test_id("wizard")).to_have_count(0)
        expect(gp.get_by_test_id("col-devueltos").get_by_test_id(f"cliente-{c3.id}")) \
            .to_contain_text("liberado")

        # --- the connection drops: "Reconectando…", and what happened meanwhile arrives
        p1.get_by_role("button", name=f"Abrir {c4.nombre}", exact=True).click()
        expect(gp.get_by_test_id("col-en_gestion").get_by_test_id(f"cliente-{c4.id}")) \
            .to_be_visible()
        gp.screenshot(path=str(ARTIFACTS / "gtr-dashboard.png"))
        p1.close()  # nobody keeps c4 alive
        p2.close()
        down = time.time()
        ui_stack.kill("web")
        expect(gp.get_by_test_id("reconectando")).to_contain_text("Reconectando", timeout=15_000)
        expect(gp.get_by_test_id("conexion")).to_have_text("Reconectando…")
        deadline = factory.sessions_of(c4.id)[0].deadline_at
        while factory.get_cliente(c4.id).estado != "no_gestionado":
            assert time.time() < deadline + 30, "the worker did not time c4 out"
            time.sleep(0.5)
        ui_stack.start_web()
        ui_stack.wait_live()
        expect(gp.get_by_test_id("conexion")).to_have_text("En línea", timeout=20_000)
        outages.append((down, time.time()))
        expect(gp.get_by_test_id("reconectando")).to_have_count(0)
        expect(gp.get_by_test_id("col-devueltos").get_by_test_id(f"cliente-{c4.id}")) \
            .to_contain_text("tiempo agotado")
        expect(gp.get_by_test_id("col-en_gestion").get_by_test_id(f"cliente-{c4.id}")) \
            .to_have_count(0)

        # --- «Cerrar sesión»: the login page, and the server no longer honours the token
        stored = json.loads(gp.evaluate("() => localStorage.getItem('albru-session')"))
        token = stored["state"]["auth"]["token"]
        me = ui_stack.base_url + "/api/auth/me"
        assert requests.get(me, headers={"Authorization": f"Bearer {token}"},
                            timeout=10).status_code == 200
        gp.get_by_role("button", name="Cerrar sesión").click()
        expect(gp.get_by_label("Usuario")).to_be_visible()
        revoked = time.time() + 5
        while requests.get(me, headers={"Authorization": f"Bearer {token}"},
                           timeout=10).status_code != 401:
            assert time.time() < revoked, "the token still works after «Cerrar sesión»"
            time.sleep(0.1)
    finally:
        for screen in (g, s1, s2):
            with_errors = screen.errors_outside(outages)
            screen.context.close()
            if with_errors:
                print("\n".join(with_errors))

    errors = [e for s in (g, s1, s2) for e in s.errors_outside(outages)]
    assert not errors, "console errors:\n" + "\n".join(errors)
    for name in ("gtr-dashboard.png", "asesor-console.png"):
        shot = ARTIFACTS / name
        assert shot.is_file() and shot.stat().st_size > 10_000, shot
    if os.environ.get("ALBRU_UPDATE_SCREENSHOTS") == "1":
        docs = ROOT / "docs" / "screenshots"
        docs.mkdir(exist_ok=True)
        for name in ("gtr-dashboard.png", "asesor-console.png"):
            shutil.copy(ARTIFACTS / name, docs / name)
