"""The Alembic migrations build exactly the schema of core/models.py.

`flask --app app db upgrade` (what the compose `migrate` service runs) is run
as a process on a brand-new database of the run's server (MariaDB/MySQL in
`make test`, SQLite otherwise), then alembic's own autogenerate comparison
must find nothing to change. SQLite is checked too, since `make run` uses it
by default."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from app.cli import BASELINE_TABLES
from core.models import Base
from harness.backends import scratch_database
from tests.conftest import backends

pytestmark = pytest.mark.stack  # runs the flask CLI as a process


ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "migrations" / "versions"


def flask(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "APP_ENV": "test", "DATABASE_URL": database_url,
           "REDIS_URL": backends().redis_url, "DOTENV_PATH": "/nonexistent"}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"flask {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
    return done


def schema_diff(database_url: str) -> list:
    """What autogenerate would write to turn this database into the models."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()


def head_revision() -> str:
    heads = []
    for path in MIGRATIONS.glob("*.py"):
        source = path.read_text()
        revision = next(line for line in source.splitlines() if line.startswith("revision = "))
        heads.append(revision.split("=", 1)[1].strip().strip("'\""))
    downs = {line.split("=", 1)[1].strip().strip("'\"")
             for path in MIGRATIONS.glob("*.py") for line in path.read_text().splitlines()
             if line.startswith("down_revision = ")}
    tips = [h for h in heads if h not in downs]
    assert len(tips) == 1, f"migrations must have one head, found {tips}"
    return tips[0]


@pytest.fixture
def fresh_db(tmp_path: Path) -> Iterator[str]:
    with scratch_database(backends(), "migrations", str(tmp_path)) as url:
        yield url


def test_upgrade_builds_exactly_the_models_schema(fresh_db):
    flask(fresh_db, "db", "upgrade")
    diff = schema_diff(fresh_db)
    assert diff == [], f"migrations and core/models.py disagree: {diff}"
    engine = create_engine(fresh_db)
    try:
        tables = set(inspect(engine).get_table_names())
        assert tables == set(Base.metadata.tables) | {"alembic_version"}
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            assert version == head_revision()
            # The event counter's one row is there before the first transition.
            counter = conn.execute(text("SELECT id, seq FROM event_counter")).all()
            assert [tuple(r) for r in counter] == [(1, 0)]
            if engine.dialect.name in ("mysql", "mariadb"):
                collations = set(conn.execute(text(
                    "SELECT TABLE_COLLATION FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = DATABASE()")).scalars())
                assert collations == {"utf8mb4_unicode_ci"}, collations
        # The comparison can fail: take an index away and it must say so.
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_sessions_started ON gestion_sessions")
                         if engine.dialect.name != "sqlite"
                         else text("DROP INDEX ix_sessions_started"))
    finally:
        engine.dispose()
    missing = schema_diff(fresh_db)
    assert [d[0] for d in missing] == ["add_index"], missing


def test_upgrade_is_idempotent_and_downgrade_removes_everything(fresh_db):
    first = flask(fresh_db, "db", "upgrade")
    assert "Running upgrade  -> " in first.stderr + first.stdout
    again = flask(fresh_db, "init-db")  # init-db is the same upgrade; nothing left to do
    assert "Running upgrade" not in again.stderr + again.stdout
    assert "schema ready" in again.stdout
    flask(fresh_db, "db", "downgrade", "base")
    engine = create_engine(fresh_db)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()


def test_sqlite_upgrade_for_make_run(tmp_path):
    """`make run` with no DATABASE_URL: init-db on SQLite, then seed-demo."""
    url = f"sqlite:///{tmp_path}/albru.db"
    flask(url, "init-db")
    assert schema_diff(url) == []
    seeded = flask(url, "seed-demo")
    assert "Clients in the database: 20" in seeded.stdout


def test_seed_demo_without_a_schema_says_what_to_do(tmp_path):
    env = {**os.environ, "APP_ENV": "test", "DATABASE_URL": f"sqlite:///{tmp_path}/empty.db",
           "REDIS_URL": backends().redis_url, "DOTENV_PATH": "/nonexistent"}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "seed-demo"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "db upgrade" in done.stderr
    assert "Traceback" not in done.stderr


#: Columns of the baseline tables that later migrations added (0004: from_pool;
#: 0005: token_version, token_salt).
ADDED_AFTER_BASELINE = {"gestion_sessions": ["from_pool"],
                        "users": ["token_version", "token_salt"]}
#: Indexes of the baseline tables that later migrations added (0007: the GTR desk's).
INDEXES_ADDED_AFTER_BASELINE = {"clientes": ["ix_clientes_estado_updated", "ix_clientes_nombre",
                                             "ix_clientes_telefono", "ix_clientes_documento"]}
#: Baseline indexes a later migration replaced: the new one's name -> the old
#: one's (0008: the orphan check's covering index).
INDEXES_REPLACED_AFTER_BASELINE = {"clientes": {"ix_clientes_estado_asesor_session": (
    "ix_clientes_estado_asesor", "estado, asesor_asignado")}}


def test_init_db_adopts_a_schema_made_before_migrations(fresh_db):
    """The old init-db made the tables with create_all and no history: `db
    upgrade` alone would fail on them; init-db marks them as the baseline."""
    engine = create_engine(fresh_db)
    try:
        # The tables of that time: the baseline revision's, without the event log.
        Base.metadata.create_all(engine, tables=[Base.metadata.tables[name]
                                                 for name in sorted(BASELINE_TABLES)])
        with engine.begin() as conn:
            for table, columns in ADDED_AFTER_BASELINE.items():  # not there at that time
                for column in columns:
                    conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
            for table, indexes in INDEXES_ADDED_AFTER_BASELINE.items():
                for index in indexes:
                    on = f" ON {table}" if engine.dialect.name == "mysql" else ""
                    conn.execute(text(f"DROP INDEX {index}{on}"))
            for table, replaced in INDEXES_REPLACED_AFTER_BASELINE.items():
                for index, (old, columns) in replaced.items():
                    conn.execute(text(f"CREATE INDEX {old} ON {table} ({columns})"))
                    on = f" ON {table}" if engine.dialect.name == "mysql" else ""
                    conn.execute(text(f"DROP INDEX {index}{on}"))
            conn.execute(text("INSERT INTO users (username, password_hash, role, nombre, active)"
                              " VALUES ('kept', 'x', 'gtr', 'Kept', 1)"))
        done = flask(fresh_db, "init-db")
        assert "marked as 0001" in done.stdout
        assert schema_diff(fresh_db) == []
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() \
                == head_revision()
            assert conn.execute(text("SELECT username FROM users")).scalars().all() == ["kept"]
        again = flask(fresh_db, "init-db")
        assert "marked as" not in again.stdout
    finally:
        engine.dispose()
