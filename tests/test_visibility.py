"""The visibility rule (domain/visibility.py) on every endpoint that takes a
client id: an advisor sees their own clients, the pool, and a pool client
someone else took while that session lives; anything else answers exactly as
an unknown id does (404, same body, nothing revealed, nothing changed)."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from sqlalchemy import event

from core.models import Cliente, GestionSession
from core.visibility import facts, visible_clause, visible_cliente
from domain.errors import NotFound
from domain.states import Estado
from domain.visibility import ClientFacts, Viewer, may_see

pytestmark = pytest.mark.invariants  # bench.invariants.check after each test

UNKNOWN = 2_000_000_000


def _hidden_and_visible(factory, api):
    """Clients of every kind, seen from advisor `a` (b is another advisor)."""
    a, b, gtr = factory.asesor(), factory.asesor(), factory.gtr()
    ta, tb, tg = factory.token(a), factory.token(b), factory.token(gtr)
    hidden = {
        "nuevo": factory.cliente("nuevo"),
        "derived to another": factory.cliente("derivado", b.id),
        "held by another": factory.cliente("derivado", b.id),
        "handled by another": factory.cliente("derivado", b.id),
        "back in the GTR queue": factory.cliente("no_gestionado"),
        "returned from another's session": factory.cliente("derivado", b.id),
        "returned from mine, handed on": factory.cliente("derivado", a.id),
    }
    assert api.post("/api/sessions/start", tb,
                    json={"cliente_id": hidden["held by another"].id}).status_code == 201
    for key, tok in (("returned from another's session", tb),
                     ("returned from mine, handed on", ta)):
        cid = hidden[key].id
        assert api.post("/api/sessions/start", tok, json={"cliente_id": cid}).status_code == 201
        assert api.post(f"/api/sessions/release/{cid}", tg).status_code == 200
    # GTR hands the one I had to b: no longer mine to see
    handed = hidden["returned from mine, handed on"].id
    assert api.post(f"/api/clientes/{handed}/derivar", tg, json={"asesor_id": b.id}).status_code \
        == 200
    handled = hidden["handled by another"].id
    assert api.post("/api/sessions/start", tb, json={"cliente_id": handled}).status_code == 201
    assert api.post("/api/sessions/end", tb, json={"cliente_id": handled,
                                                   "resultado": "gestionado"}).status_code == 200
    visible = {
        "derived to me": factory.cliente("derivado", a.id),
        "pool": factory.cliente("derivado"),
        "mine, live": factory.cliente("derivado", a.id),
        "handled by me": factory.cliente("derivado", a.id),
        "pool, taken by another": factory.cliente("derivado"),
        "returned from my session": factory.cliente("derivado", a.id),
    }
    assert api.post("/api/sessions/start", ta,
                    json={"cliente_id": visible["mine, live"].id}).status_code == 201
    mine = visible["handled by me"].id
    assert api.post("/api/sessions/start", ta, json={"cliente_id": mine}).status_code == 201
    assert api.post("/api/sessions/end", ta, json={"cliente_id": mine,
                                                   "resultado": "cerrado"}).status_code == 200
    assert api.post("/api/sessions/start", tb, json={
        "cliente_id": visible["pool, taken by another"].id}).status_code == 201
    mine = visible["returned from my session"].id
    assert api.post("/api/sessions/start", ta, json={"cliente_id": mine}).status_code == 201
    assert api.post(f"/api/sessions/release/{mine}", tg).status_code == 200
    return a, ta, tg, hidden, visible


CALLS = [
    ("GET", "/api/clientes/{id}", None),
    ("GET", "/api/sessions/status/{id}", None),
    ("POST", "/api/sessions/start", {}),
    ("POST", "/api/sessions/heartbeat", {}),
    ("POST", "/api/sessions/end", {"resultado": "gestionado"}),
    ("POST", "/api/sessions/restore/{id}", None),
]


def _call(api, token, method, path, body, cliente_id):
    url = path.format(id=cliente_id)
    if body is None:
        return api.call(method, url, token)
    return api.call(method, url, token, json={"cliente_id": cliente_id, **body})


def test_an_advisor_gets_404_for_every_client_they_may_not_see(factory, api):
    _a, ta, _tg, hidden, _ = _hidden_and_visible(factory, api)
    for method, path, body in CALLS:
        unknown = _call(api, ta, method, path, body, UNKNOWN)
        assert unknown.status_code == 404, (path, unknown.text)
        for kind, c in hidden.items():
            before = factory.snapshot(c.id)
            r = _call(api, ta, method, path, body, c.id)
            assert r.status_code == 404, (kind, method, path, r.text)
            answer = r.json()
            # the same answer as for an id that does not exist
            assert set(answer) == set(unknown.json()), (kind, path, answer)
            assert answer["error"] == "not_found"
            assert answer["message"] == unknown.json()["message"].replace(str(UNKNOWN),
                                                                          str(c.id))
            for leak in ("holder", "estado", "asesor_id", "session", "session_id"):
                assert leak not in answer, (kind, path, answer)
            assert factory.snapshot(c.id) == before, (kind, path)


def test_gtr_only_endpoints_refuse_an_advisor_by_role_whatever_the_client(factory, api):
    _a, ta, _tg, hidden, visible = _hidden_and_visible(factory, api)
    for c in [*hidden.values(), *visible.values()]:
        before = factory.snapshot(c.id)
        for path in (f"/api/clientes/{c.id}/derivar", f"/api/sessions/release/{c.id}"):
            r = api.post(path, ta, json={})
            assert r.status_code == 403 and r.json()["error"] == "forbidden", (path, r.text)
        assert factory.snapshot(c.id) == before


def test_an_advisor_sees_own_pool_and_pool_taken_clients(factory, api):
    a, ta, tg, hidden, visible = _hidden_and_visible(factory, api)
    for kind, c in visible.items():
        assert api.get(f"/api/clientes/{c.id}", ta).status_code == 200, kind
        assert api.get(f"/api/sessions/status/{c.id}", ta).status_code == 200, kind
    # what each visible kind answers to the session endpoints: never a 404
    taken = visible["pool, taken by another"].id
    r = api.post("/api/sessions/start", ta, json={"cliente_id": taken})
    assert r.status_code == 409 and r.json()["error"] == "client_locked"
    assert r.json()["holder"]["asesor_id"] != a.id  # everyone was pushed who took it
    r = api.post("/api/sessions/heartbeat", ta, json={"cliente_id": taken})
    assert r.status_code == 403 and r.json()["holder"]["asesor_id"] != a.id
    r = api.post("/api/sessions/heartbeat", ta, json={"cliente_id": visible["pool"].id})
    assert r.status_code == 409 and r.json()["error"] == "no_active_session"
    assert api.post("/api/sessions/heartbeat", ta, json={
        "cliente_id": visible["mine, live"].id}).status_code == 200
    # a late heartbeat or end on a client my session returned hears why (409)
    returned = visible["returned from my session"].id
    for path, extra in (("/api/sessions/heartbeat", {}),
                        ("/api/sessions/end", {"resultado": "gestionado"})):
        r = api.post(path, ta, json={"cliente_id": returned, **extra})
        assert r.status_code == 409 and r.json()["error"] == "no_active_session", r.text
    assert api.post("/api/sessions/start", ta, json={
        "cliente_id": visible["derived to me"].id}).status_code == 201
    # lists show exactly the visible ones (of these clients)
    ids = {c.id for c in [*hidden.values(), *visible.values()]}
    listed = set()
    offset = 0
    while True:
        page = api.get(f"/api/clientes?limit=500&offset={offset}", ta).json()
        listed |= {item["id"] for item in page["items"]}
        offset += 500
        if offset >= page["total"]:
            break
    assert listed & ids == {c.id for c in visible.values()}
    board = {item["cliente_id"] for item in api.get("/api/board", ta).json()["items"]}
    on_board = {c.id for k, c in visible.items()
                if k not in ("handled by me", "returned from my session")}
    assert board & ids == on_board
    # and GTR sees all of them
    for c in [*hidden.values(), *visible.values()]:
        assert api.get(f"/api/clientes/{c.id}", tg).status_code == 200


@pytest.mark.parametrize("is_gtr", [False, True])
@pytest.mark.invariants(skip=True)  # builds sessions by hand, not by transitions
def test_the_sql_form_of_the_rule_agrees_with_the_rule(db, factory, is_gtr):
    """Every combination of state, advisor, live pool session and last holder:
    the list query's condition (core.visibility) and the rule (domain.visibility)
    agree."""
    me, other = factory.asesor(), factory.asesor()
    viewer = Viewer(me.id, is_gtr)
    made: dict[int, ClientFacts] = {}
    n = itertools.count()
    for estado, owner, pool_session, last in itertools.product(
            [e.value for e in Estado], (None, me.id, other.id), (False, True),
            (None, me.id, other.id)):
        live = estado == Estado.EN_GESTION and owner is not None
        if (pool_session and not live) or (estado == Estado.EN_GESTION and not live):
            continue  # not a state the engine holds (the sweep would release it)
        c = factory.cliente(estado, owner)
        with db.transaction() as tx:
            if last is not None:  # an ended session, the client's most recent but one
                tx.add(GestionSession(id=f"e{next(n)}x{factory.run}", cliente_id=c.id,
                                      asesor_id=last, token=1, status="timed_out",
                                      started_at=100, last_activity_at=100, deadline_at=200,
                                      ended_at=200, heartbeats=0))
            if live:
                tx.add(GestionSession(id=f"l{next(n)}x{factory.run}", cliente_id=c.id,
                                      asesor_id=owner, token=2, status="active",
                                      started_at=300, last_activity_at=300, deadline_at=9e12,
                                      heartbeats=0, from_pool=pool_session))
        made[c.id] = ClientFacts(estado, owner, pool_session and live,
                                 owner if live else last)
    with db.transaction() as tx:
        rows = set(tx.execute(
            Cliente.__table__.select().with_only_columns(Cliente.id)
            .where(Cliente.id.in_(made), visible_clause(viewer))).scalars())
        loaded = {cid: facts(tx, tx.get(Cliente, cid)) for cid in made}
    for cid, built in made.items():  # what core.visibility reads is what was made
        assert (loaded[cid].estado, loaded[cid].asesor_id, loaded[cid].pool_session) == \
            (built.estado, built.asesor_id, built.pool_session), cid
        if built.estado == Estado.NO_GESTIONADO and built.asesor_id is None:
            assert loaded[cid].last_holder == built.last_holder, cid
    expected = {cid for cid, built in made.items() if may_see(viewer, built)}
    assert rows == expected
    # one client at a time (an end, a heartbeat's refusal, GET /api/clientes/<id>)
    with db.transaction() as tx:
        one_by_one = set()
        for cid in made:
            with contextlib.suppress(NotFound):
                one_by_one.add(visible_cliente(tx, viewer, cid).id)
    assert one_by_one == expected
    assert expected  # the rule lets something through ...
    if not is_gtr:
        assert expected != set(made)  # ... and, for an advisor, keeps something out
        returned = [cid for cid, f in made.items()
                    if f.estado == Estado.NO_GESTIONADO and f.asesor_id is None]
        assert {cid for cid in returned if made[cid].last_holder == me.id} <= rows
        assert not {cid for cid in returned if made[cid].last_holder != me.id} & rows


@pytest.mark.invariants(skip=True)  # builds a session by hand, not by a transition
def test_the_holders_own_client_costs_one_select(db, factory):
    """An end or a heartbeat's refusal by the holder reads the client row and
    nothing else; only a client the row alone does not let through (another
    advisor's pool session) needs the session lookup."""
    me, other = factory.asesor(), factory.asesor()
    mine = factory.cliente(Estado.EN_GESTION.value, me.id)
    taken = factory.cliente(Estado.EN_GESTION.value, other.id)
    with db.transaction() as tx:
        tx.add(GestionSession(id=f"pool{factory.run}", cliente_id=taken.id, asesor_id=other.id,
                              token=1, status="active", started_at=1, last_activity_at=1,
                              deadline_at=9e12, heartbeats=0, from_pool=True))
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for cid, expected in ((mine.id, 1), (taken.id, 2)):
            with db.transaction() as tx:
                statements.clear()
                assert visible_cliente(tx, Viewer(me.id, False), cid).id == cid
                selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
                assert len(selects) == expected, selects
    finally:
        event.remove(engine, "before_cursor_execute", count)
