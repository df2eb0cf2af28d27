"""Issue 18, a transaction's round trips: the main pool no longer sends a
ROLLBACK after every COMMIT (core.db._reset_if_open, which reads the server's
own status), and still rolls back a connection handed back with a transaction
open, or left by an error, so nothing stays locked."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import make_url, text, update
from sqlalchemy.exc import IntegrityError

from core.db import Database
from core.models import Cliente
from harness.roundtrips import round_trips

pytestmark = pytest.mark.invariants


def test_the_pool_rolls_back_a_connection_returned_inside_a_transaction(factory, mysql_url):
    """The reset skips the ROLLBACK only when the server said no transaction is
    open: a connection handed back with one open is rolled back, its row
    locks released and its write undone."""
    port = make_url(mysql_url).port or 3306
    database = Database(mysql_url, pool_size=1)
    c = factory.cliente("nuevo")
    try:
        database.now()  # the connection and the dialect's first-connect queries
        with round_trips({port: "mysql"}, this_thread=True, mysql="mysql") as seen, \
                database.transaction() as tx:
            tx.execute(update(Cliente).where(Cliente.id == c.id).values(notas="committed"))
        assert (seen["mysql:COMMIT"], seen["mysql:ROLLBACK"]) == (1, 0), seen

        raw = database.engine.raw_connection()  # the one pooled connection
        cur = raw.cursor()
        cur.execute("UPDATE clientes SET notas = 'left open' WHERE id = %s", (c.id,))
        cur.close()
        with round_trips({port: "mysql"}, this_thread=True, mysql="mysql") as seen:
            raw.close()  # back to the pool with its transaction open
        assert seen["mysql:ROLLBACK"] == 1, seen

        # another connection may lock the row at once, and sees the first write only
        other = Database(mysql_url, pool_size=1)
        done = threading.Event()

        def lock_it() -> None:
            with other.transaction() as tx:
                tx.execute(text("SET SESSION innodb_lock_wait_timeout = 2"))
                tx.execute(update(Cliente).where(Cliente.id == c.id).values(notas="next"))
            done.set()

        t = threading.Thread(target=lock_it)
        t.start()
        t.join(10)
        assert done.is_set(), "the row stayed locked by the returned connection"
        other.dispose()
        with database.transaction() as tx:  # the same pooled connection, clean
            row = tx.execute(text("SELECT notas FROM clientes WHERE id = :i"),
                             {"i": c.id}).scalar()
        assert row == "next"
    finally:
        database.dispose()


def test_a_failed_transaction_leaves_its_connection_clean(factory, mysql_url):
    """An error inside a transaction (a duplicate key, which leaves InnoDB's
    lock on the duplicate behind until the transaction ends) is rolled back
    before the connection is pooled, so nothing is held afterwards."""
    database = Database(mysql_url, pool_size=1)
    a = factory.asesor()
    try:
        with pytest.raises(IntegrityError), database.transaction() as tx:
            tx.execute(text("INSERT INTO users (id, username, password_hash, role, nombre,"
                            " active, token_version, token_salt) VALUES (:i, 'dup', 'x',"
                            " 'asesor', 'x', 1, 0, 'x')"), {"i": a.id})
        with database.transaction() as tx:
            open_trx = tx.execute(text(
                "SELECT COUNT(*) FROM information_schema.innodb_trx"
                " WHERE trx_mysql_thread_id = CONNECTION_ID()")).scalar()
        assert open_trx == 0  # the failed INSERT's transaction (and its lock) ended
    finally:
        database.dispose()
