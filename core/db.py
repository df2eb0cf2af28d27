"""Database plumbing: engine, transactions and the one clock every deadline uses."""

from __future__ import annotations

import functools
import logging
import random
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from pymysql.constants import CLIENT, SERVER_STATUS
from sqlalchemy import Engine, create_engine, event, make_url, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import Float

from domain.errors import Unavailable

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

#: MariaDB/MySQL errors after which the whole transaction was rolled back and
#: may simply run again: an ordinary overlap, not an outage.
RETRYABLE = {1205: "lock wait timeout", 1213: "deadlock"}
#: How many times `retrying` runs a unit of work that keeps meeting them.
RETRY_ATTEMPTS = 5
#: Jitter of the pause between attempts: uniform in [0, RETRY_PAUSE * 2^attempt) s.
RETRY_PAUSE = 0.01


class Contended(Unavailable):
    """A deadlock (1213) or lock wait timeout (1205): the transaction was rolled
    back as a whole. `retrying` runs the unit of work again; only when every
    attempt meets one does the caller get 503."""


def _driver_code(exc: DBAPIError) -> int | None:
    args = getattr(exc.orig, "args", None) or ()
    return args[0] if args and isinstance(args[0], int) else None


def retrying(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a unit of work (one `Database.transaction`, its post-commit steps
    after it) again when its transaction is rolled back by a deadlock or lock
    wait timeout: at most RETRY_ATTEMPTS times, with a jittered pause. The
    post-commit steps and pushes run once, after the attempt that committed
    (a rolled-back attempt never reaches them)."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        attempt = 1
        while True:
            try:
                return fn(*args, **kwargs)
            except Contended as exc:
                if attempt >= RETRY_ATTEMPTS:
                    log.warning("%s: gave up after %d attempts: %s", fn.__qualname__,
                                attempt, exc.message)
                    raise
                log.info("%s: %s, attempt %d, running it again", fn.__qualname__,
                         exc.message, attempt)
                time.sleep(random.uniform(0, RETRY_PAUSE * 2 ** attempt))
                attempt += 1

    return run


class db_now(FunctionElement):  # noqa: N801 - reads like SQL in queries
    """The database server's clock, as epoch seconds with sub-second precision.

    Every deadline is computed and compared with this one clock, so the web
    processes and workers may disagree about the time without harm."""

    type = Float()
    inherit_cache = True


@compiles(db_now)
def _db_now_default(element, compiler, **kw):  # pragma: no cover - other dialects
    return "(EXTRACT(EPOCH FROM CLOCK_TIMESTAMP()))"


@compiles(db_now, "mysql")
@compiles(db_now, "mariadb")
def _db_now_mysql(element, compiler, **kw):
    return "(UNIX_TIMESTAMP(NOW(6)) + 0E0)"


@compiles(db_now, "sqlite")
def _db_now_sqlite(element, compiler, **kw):
    return "((julianday('now') - 2440587.5) * 86400.0)"


#: Hosts on this machine: TLS to them protects nothing (auto = disabled).
LOOPBACK = {"", "localhost", "127.0.0.1", "::1"}


def mysql_tls(host: str | None, mode: str = "auto", ca: str = "") -> dict[str, Any]:
    """PyMySQL's TLS arguments for DB_TLS (MySQL's --ssl-mode names).

    Why a setting: PyMySQL 1.2 defaults to "preferred", which builds an
    SSLContext and loads the CA store for every new connection (~25 ms of CPU
    here) even when the server has TLS off. `auto` turns TLS off on loopback
    and keeps "preferred" elsewhere; `required` and the `verify_*` modes build
    ONE context, shared by every connection of the engine."""
    if mode == "auto":
        mode = "disabled" if (host or "") in LOOPBACK else "preferred"
    if mode == "disabled":
        return {"ssl_disabled": True}
    if mode == "preferred":
        return {}  # PyMySQL's own: try TLS, fall back to plain if the server has none
    ctx = ssl.create_default_context(cafile=ca or None)
    ctx.check_hostname = mode == "verify_identity"
    ctx.verify_mode = ssl.CERT_NONE if mode == "required" else ssl.CERT_REQUIRED
    return {"ssl": ctx}


#: How long a caller waits for a pooled connection before its request fails
#: with 503 "database busy" (SQLAlchemy's default is 30 s).
POOL_WAIT = 10.0


def make_engine(url: str, *, pool_size: int = 10, tls: str = "auto", tls_ca: str = "",
                hot: bool = False) -> Engine:
    """The engine of a process. `hot`: the heartbeat's pool (`Database.hot`): no
    pre-ping and no reset-on-return (a round trip each per checkout; `hot`
    ends every transaction itself and retries once on a dropped connection),
    its own connections (a heartbeat never waits behind a slow change)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # No overflow on either pool: an overflow connection is opened for a burst
    # and closed when it ends (with TLS on, 25 ms of CPU each), and a burst of
    # writers mostly waits on the same row locks anyway; a caller waits at most
    # POOL_WAIT s for a pooled one, then gets a 503 (Database.transaction).
    kwargs: dict = {"pool_pre_ping": True, "pool_recycle": 1800, "pool_size": pool_size,
                    "max_overflow": 0, "pool_timeout": POOL_WAIT}
    mysql = url.startswith("mysql")
    if hot or mysql:
        # the hot pool ends every transaction itself; the main one rolls back
        # only where a transaction may be open (_reset_if_open, below)
        kwargs["pool_reset_on_return"] = None
    if hot:
        kwargs["pool_pre_ping"] = False
    if mysql:
        kwargs["connect_args"] = {"charset": "utf8mb4", "connect_timeout": 5,
                                  **mysql_tls(make_url(url).host, tls, tls_ca)}
        # The heartbeat sends UPDATE; SELECT; COMMIT as one packet, and the
        # event log a push's counter UPDATE and INSERT (core.eventlog), every
        # value bound and escaped by the driver. FOUND_ROWS: what the dialect
        # sets itself when client_flag is not given.
        kwargs["connect_args"]["client_flag"] = CLIENT.FOUND_ROWS | CLIENT.MULTI_STATEMENTS
        # A loser of a conditional UPDATE must see the winner's row when it reads
        # again to say who holds the client: REPEATABLE READ would show its snapshot.
        kwargs["isolation_level"] = "READ COMMITTED"
    engine = create_engine(url, **kwargs)
    if mysql and not hot:
        event.listen(engine, "reset", _reset_if_open)
    return engine


def _reset_if_open(dbapi_conn: Any, _record: Any, state: Any) -> None:
    """The pool's reset of a connection coming back, without SQLAlchemy's
    ROLLBACK after every COMMIT: roll back unless SQLAlchemy just ended the
    transaction itself or the server's last answer (PyMySQL's
    `server_status`, from the COMMIT's OK packet) says none is open. Why: that
    ROLLBACK was a round trip per transaction (two per start or end) for
    nothing. With no status yet it rolls back, as the pool's default does. An
    error answer leaves the status of the answer before it, but every error
    inside `transaction` is followed by SQLAlchemy's own ROLLBACK (whose OK
    packet sets the status) or by the connection's invalidation."""
    if state.transaction_was_reset or state.terminate_only:
        return
    status = getattr(dbapi_conn, "server_status", None)
    if isinstance(status, int) and not status & SERVER_STATUS.SERVER_STATUS_IN_TRANS:
        return
    dbapi_conn.rollback()


#: A check the next transaction opened in this context runs first (first_in_next).
_FIRST: ContextVar[Callable[[Session], None] | None] = ContextVar("albru_first", default=None)


@contextmanager
def first_in_next(check: Callable[[Session], None]) -> Iterator[None]:
    """Within the block, the next `Database.transaction()` runs `check(tx)`
    before anything else (an exception from it rolls that transaction back).
    Why: a request's token check (app.auth.fresh_first) rides in the command's
    own transaction instead of one of its own: a pool checkout, PING and
    COMMIT fewer per start or end. Per context: a greenlet or thread each."""
    token = _FIRST.set(check)
    try:
        yield
    finally:
        _FIRST.reset(token)


def first_pending() -> bool:
    """Whether first_in_next's check has not run yet (no transaction opened)."""
    return _FIRST.get() is not None


class Database:
    """An engine plus a session factory; `transaction()` is the only way in."""

    def __init__(self, url: str, *, pool_size: int = 10, tls: str = "auto",
                 tls_ca: str = "") -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, tls=tls, tls_ca=tls_ca)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._hot_args = {"pool_size": pool_size, "tls": tls, "tls_ca": tls_ca}
        self._hot_engine: Engine | None = None

    @property
    def hot_engine(self) -> Engine:
        """The heartbeat's engine (make_engine `hot`), made on first use (so a
        forked worker never inherits its connections). SQLite: the main one."""
        if self._hot_engine is None:
            self._hot_engine = (self.engine if self.url.startswith("sqlite") else
                                make_engine(self.url, hot=True, **self._hot_args))
        return self._hot_engine

    def hot(self, work: Callable[[Any], R], *, commits: bool = False) -> R:
        """Run `work(cursor)` as one transaction on a raw DBAPI connection of
        the hot pool and COMMIT it: no ORM, no pre-ping, no reset round trip.
        Why: the heartbeat is the engine's hot path (docs/performance.md).
        The same contract as `transaction`: a deadlock is `Contended`, a lost
        database `Unavailable`; a connection found dropped (the server
        restarted: no pre-ping caught it) is discarded with the idle ones and
        the work runs once more on a fresh connection. `commits`: the work
        ends its transaction itself (a multi-statement ending in COMMIT)."""
        engine = self.hot_engine
        for attempt in (1, 2):
            try:
                conn = engine.raw_connection()
            except PoolTimeout as exc:
                log.warning("database busy: %s", str(exc)[:300])
                raise Unavailable("database busy: no free connection") from exc
            except (DBAPIError, engine.dialect.loaded_dbapi.Error) as exc:
                # raw_connection raises the driver's own error (not wrapped)
                log.warning("database unavailable: %s", str(exc)[:300])
                raise Unavailable("database unavailable") from exc
            cursor = None
            try:
                cursor = conn.cursor()
                out = work(cursor)
                if not commits:
                    conn.commit()
                cursor.close()
                conn.close()  # back to the pool, its transaction ended
                return out
            except engine.dialect.loaded_dbapi.Error as exc:
                dropped = engine.dialect.is_disconnect(exc, conn, cursor)
                code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
                self._discard(conn, dropped)
                if dropped and attempt == 1:
                    engine.dispose()  # its idle connections died with this one
                    log.info("hot connection dropped (%s), running again", exc)
                    continue
                if code in RETRYABLE:
                    raise Contended("database unavailable") from exc
                if dropped or isinstance(exc, engine.dialect.loaded_dbapi.OperationalError):
                    log.warning("database unavailable: %s", str(exc)[:300])
                    raise Unavailable("database unavailable") from exc
                raise
            except BaseException:
                self._discard(conn, False)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _discard(conn: Any, dropped: bool) -> None:
        """End a failed hot transaction: roll back and pool the connection, or
        close it for good when it is dropped or cannot roll back."""
        if not dropped:
            try:
                conn.rollback()
                conn.close()
                return
            except Exception as exc:  # noqa: BLE001 - then it is not reusable
                log.debug("hot connection not reusable: %s", exc)
        conn.invalidate()
        conn.close()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any error. A lost
        connection becomes `Unavailable` (503), never a half-written change; a
        deadlock or lock wait timeout becomes `Contended` (see `retrying`). The
        driver's message is logged, never put in an answer."""
        try:
            with self._sessions() as session, session.begin():
                check = _FIRST.get()
                if check is not None:
                    _FIRST.set(None)
                    check(session)
                yield session
        except PoolTimeout as exc:
            # Every pooled connection busy for pool_timeout s (an overloaded
            # process): 503, so clients retry, instead of an unhandled 500.
            log.warning("database busy: %s", str(exc)[:300])
            raise Unavailable("database busy: no free connection") from exc
        except (OperationalError, DBAPIError) as exc:
            code = _driver_code(exc)
            if code in RETRYABLE:
                log.info("transaction rolled back by a %s: %s", RETRYABLE[code],
                         str(exc.orig)[:300])
                raise Contended("database unavailable") from exc
            if isinstance(exc, OperationalError) or exc.connection_invalidated:
                log.warning("database unavailable: %s", str(exc.orig)[:300])
                raise Unavailable("database unavailable") from exc
            raise

    def now(self) -> float:
        with self.transaction() as s:
            return float(s.execute(select(db_now())).scalar_one())

    def ping(self) -> None:
        self.now()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._hot_engine is not None and self._hot_engine is not self.engine:
            self._hot_engine.dispose()
