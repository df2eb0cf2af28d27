"""Issue 18, the sweep's cost: the periodic sweep resyncs Redis only when it
is due (CACHE_RESYNC_INTERVAL) or Redis lost its data, the manual sync always;
the orphan check reads the locked clients from an index, not the table."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.registry import services


@pytest.fixture
def sweeper(server):
    return services(server.app).sweeper


def _live_session(factory, api) -> tuple[int, str]:
    asesor = factory.asesor()
    cliente = factory.cliente("derivado", asesor.id)
    r = api.post("/api/sessions/start", factory.token(asesor), json={"cliente_id": cliente.id})
    assert r.status_code == 201, r.text
    return cliente.id, r.json()["session_id"]


def test_periodic_sweep_resyncs_redis_when_due_or_lost(factory, api, server, rds, sweeper):
    prefix = server.env["KEY_PREFIX"]
    marker = f"{prefix}:session-resync"
    cid, sid = _live_session(factory, api)
    key = f"{prefix}:session:{cid}"
    assert sweeper.resync_interval == server.settings.cache_resync_interval > 0

    def lose_copy() -> None:  # Redis lost the live session's copy, kept a ghost
        rds.delete(key)
        rds.hset(f"{prefix}:session:999999999", mapping={"session_id": "ghost"})

    # no marker (never resynced, or Redis restarted empty): the periodic sweep resyncs
    rds.delete(marker)
    lose_copy()
    report = sweeper.sweep(full=False)
    assert report["redis_restored"] >= 1 and report["redis_removed"] >= 1
    assert rds.hget(key, "session_id") == sid
    assert not rds.exists(f"{prefix}:session:999999999")
    ttl = rds.pttl(marker) / 1000
    assert 0 < ttl <= server.settings.cache_resync_interval

    # within the interval it leaves Redis alone...
    lose_copy()
    report = sweeper.sweep(full=False)
    assert (report["redis_restored"], report["redis_removed"]) == (0, 0)
    assert not rds.exists(key)
    # ...but the manual sync (POST /api/sessions/sync) always resyncs
    report = sweeper.sweep()
    assert report["redis_restored"] >= 1 and report["redis_removed"] >= 1
    assert rds.hget(key, "session_id") == sid

    # Redis lost its data: the marker went with the copies, the next sweep resyncs
    lose_copy()
    rds.delete(marker)
    assert sweeper.sweep(full=False)["redis_restored"] >= 1
    assert rds.hget(key, "session_id") == sid


def test_resync_interval_zero_resyncs_every_sweep(factory, api, server, rds, sweeper,
                                                   monkeypatch):
    prefix = server.env["KEY_PREFIX"]
    cid, sid = _live_session(factory, api)
    monkeypatch.setattr(sweeper, "resync_interval", 0.0)
    for _ in range(2):
        rds.delete(f"{prefix}:session:{cid}")
        assert sweeper.sweep(full=False)["redis_restored"] >= 1
        assert rds.hget(f"{prefix}:session:{cid}", "session_id") == sid


def test_orphan_check_reads_an_index_not_the_table(db, factory, sweeper):
    """The query the sweep runs, as the database plans it: on MySQL, `clientes`
    is read by a range on its covering index (EXPLAIN type ref, Using index)."""
    if db.engine.dialect.name != "mysql":
        pytest.skip("the plan checked is MySQL's")
    asesor = factory.asesor()
    orphan = factory.cliente("en_gestion", asesor.id)
    with db.engine.connect() as conn:
        conn.execute(text("ANALYZE TABLE clientes"))
        sql = str(sweeper.orphans_query().compile(db.engine, compile_kwargs={
            "literal_binds": True}))
        plan = conn.execute(text("EXPLAIN " + sql)).mappings().all()
    clientes = next(row for row in plan if row["table"] in ("clientes", "clientes_1"))
    assert clientes["type"] in ("ref", "range"), plan
    assert clientes["key"] == "ix_clientes_estado_asesor_session", plan
    assert "Using index" in (clientes["Extra"] or ""), plan
    assert sweeper.sweep()["orphans_released"] >= 1
    assert factory.get_cliente(orphan.id).estado == "no_gestionado"
