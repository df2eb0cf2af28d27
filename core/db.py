"""Database plumbing: engine, transactions and the one clock every deadline uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import Float

from domain.errors import Unavailable


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


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
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
    kwargs: dict = {"pool_pre_ping": True, "pool_recycle": 1800, "pool_size": pool_size}
    if url.startswith("mysql"):
        kwargs["connect_args"] = {"charset": "utf8mb4", "connect_timeout": 5}
        # A loser of a conditional UPDATE must see the winner's row when it reads
        # again to say who holds the client: REPEATABLE READ would show its snapshot.
        kwargs["isolation_level"] = "READ COMMITTED"
    return create_engine(url, **kwargs)


class Database:
    """An engine plus a session factory; `transaction()` is the only way in."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any error. A lost
        connection becomes `Unavailable` (503), never a half-written change."""
        try:
            with self._sessions() as session, session.begin():
                yield session
        except PoolTimeout as exc:
            # Every pooled connection busy for pool_timeout s (an overloaded
            # process): 503, so clients retry, instead of an unhandled 500.
            raise Unavailable("database busy: no free connection", reason=str(exc)[:200]) from exc
        except (OperationalError, DBAPIError) as exc:
            if isinstance(exc, OperationalError) or exc.connection_invalidated:
                raise Unavailable("database unavailable", reason=str(exc.orig)[:200]) from exc
            raise

    def now(self) -> float:
        with self.transaction() as s:
            return float(s.execute(select(db_now())).scalar_one())

    def ping(self) -> None:
        self.now()

    def dispose(self) -> None:
        self.engine.dispose()
