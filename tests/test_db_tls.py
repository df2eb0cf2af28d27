"""DB_TLS: PyMySQL 1.2's default TLS mode ("preferred") builds an SSLContext
and loads the CA store for every new connection (~25 ms of CPU) even when the
server has TLS off; on loopback the default is now no TLS, and the modes that
want TLS share one context."""

from __future__ import annotations

import ssl

import pytest

from core.db import Database, mysql_tls
from core.settings import Settings, SettingsError


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "", None])
def test_auto_is_disabled_on_loopback(host):
    assert mysql_tls(host, "auto") == {"ssl_disabled": True}


def test_auto_is_pymysqls_preferred_elsewhere():
    assert mysql_tls("db", "auto") == {}
    assert mysql_tls("10.0.0.5", "preferred") == {}


@pytest.mark.parametrize("mode,verify,hostname", [("required", ssl.CERT_NONE, False),
                                                  ("verify_ca", ssl.CERT_REQUIRED, False),
                                                  ("verify_identity", ssl.CERT_REQUIRED, True)])
def test_modes_that_want_tls_build_one_context(mode, verify, hostname):
    ctx = mysql_tls("db", mode)["ssl"]
    assert isinstance(ctx, ssl.SSLContext)
    assert (ctx.verify_mode, ctx.check_hostname) == (verify, hostname)


def test_an_unknown_mode_is_refused_at_start():
    with pytest.raises(SettingsError, match="DB_TLS"):
        Settings.from_env({"DB_TLS": "maybe"})
    assert Settings.from_env({"DB_TLS": "Verify_CA"}).db_tls == "verify_ca"


def _contexts_per_connection(db_url: str, tls: str, monkeypatch) -> float:
    built = []
    real = ssl.create_default_context
    monkeypatch.setattr(ssl, "create_default_context",
                        lambda *a, **kw: built.append(1) or real(*a, **kw))
    database = Database(db_url, pool_size=1, tls=tls)
    try:
        for _ in range(3):
            conn = database.engine.raw_connection()
            conn.invalidate()  # a new connection each time, as overflow churn does
    finally:
        database.dispose()
        monkeypatch.setattr(ssl, "create_default_context", real)
    return len(built) / 3


def test_new_loopback_connections_build_no_ssl_context(db, monkeypatch):
    if not db.url.startswith("mysql"):
        pytest.skip("MySQL only (this run's database is SQLite)")
    assert _contexts_per_connection(db.url, "auto", monkeypatch) == 0
    # what it was: PyMySQL's preferred mode builds one per connection
    assert _contexts_per_connection(db.url, "preferred", monkeypatch) >= 1
