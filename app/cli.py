"""Flask CLI: `flask --app app init-db`, `seed-demo`, `sweep`, `users ...`."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, inspect, select

from app.registry import services
from core.models import Cliente, User
from core.users import UserService, hash_password, insert_user
from domain.errors import DomainError
from domain.states import Role

#: The first migration: the schema `Base.metadata.create_all` made before migrations.
BASELINE = "0001"
BASELINE_TABLES = {"users", "clientes", "gestion_sessions", "audit_log"}

DEMO_CLIENTS = [
    ("María Quispe", "+51 987 654 321"), ("José Huamán", "+51 912 345 678"),
    ("Rosa Mamani", "+51 923 456 789"), ("Luis Flores", "+51 934 567 890"),
    ("Carmen Rojas", "+51 945 678 901"), ("Jorge Díaz", "+51 956 789 012"),
    ("Ana Torres", "+51 967 890 123"), ("Pedro Chávez", "+51 978 901 234"),
    ("Lucía Ramos", "+51 989 012 345"), ("Carlos Vargas", "+51 990 123 456"),
    ("Elena Castillo", "+51 901 234 567"), ("Miguel Espinoza", "+51 913 579 246"),
    ("Sofía Mendoza", "+51 924 680 135"), ("Diego Salazar", "+51 935 791 468"),
    ("Valeria Cruz", "+51 946 802 579"), ("Andrés Gutiérrez", "+51 957 913 680"),
    ("Patricia Silva", "+51 968 024 791"), ("Raúl Paredes", "+51 979 135 802"),
    ("Gabriela Ríos", "+51 980 246 913"), ("Fernando Aguilar", "+51 991 357 024"),
]


def register(app: Flask) -> None:
    @app.cli.command("init-db")
    def init_db() -> None:
        """Bring the schema to the latest migration (as `flask db upgrade` does).
        A database whose tables were made before migrations existed (by the
        old init-db, i.e. create_all) is first marked as the baseline revision,
        which is exactly that schema, so it upgrades instead of failing."""
        from flask_migrate import stamp, upgrade

        db = services().db
        tables = set(inspect(db.engine).get_table_names())
        if "alembic_version" not in tables and tables >= BASELINE_TABLES:
            click.echo(f"existing schema without migration history: marked as {BASELINE}")
            stamp(revision=BASELINE)
        upgrade()
        click.echo(f"schema ready on {db.engine.url.render_as_string(hide_password=True)}")

    @app.cli.command("seed-demo")
    @click.option("--force", is_flag=True,
                  help="seed even under APP_ENV=production (demo users with a known password)")
    def seed_demo(force: bool) -> None:
        """Demo users (gtr, asesor1..asesor5) and twenty clients; safe to repeat.
        Refused under APP_ENV=production unless --force."""
        comps = services()
        if comps.settings.production and not force:
            raise click.ClickException(
                "refused: APP_ENV=production, and the demo users would log in with a known "
                "password. Create real users with `flask --app app users create`, "
                "or pass --force to seed anyway.")
        if not inspect(comps.db.engine).has_table(User.__tablename__):
            raise click.ClickException("no schema yet: run `flask --app app db upgrade` first")
        password = comps.settings.demo_password
        users = [("gtr", Role.GTR, "Supervisora GTR")] + [
            (f"asesor{i}", Role.ASESOR, f"Asesor {i}") for i in range(1, 6)
        ]
        with comps.db.transaction() as tx:
            existing = set(tx.execute(select(User.username)).scalars())
            for username, role, nombre in users:
                if username not in existing:
                    insert_user(tx, username=username, password_hash=hash_password(password),
                                role=role, nombre=nombre)
            have_clients = tx.execute(select(func.count(Cliente.id))).scalar_one()
        if have_clients == 0:
            gtr_id = _user_id(comps, "gtr")
            comps.clientes._create_many(
                gtr_id, [{"nombre": n, "telefono": t, "email": None, "documento": None,
                          "notas": None} for n, t in DEMO_CLIENTS], action="seed")
        click.echo("Demo logins (POST /api/auth/login):")
        for username, role, _ in users:
            click.echo(f"  {username:<8} / {password}   role={role.value}")
        with comps.db.transaction() as tx:
            total = tx.execute(select(func.count(Cliente.id))).scalar_one()
        click.echo(f"Clients in the database: {total}")

    app.cli.add_command(users)

    @app.cli.command("sweep")
    def sweep() -> None:
        """Run the periodic sweep once (time out overdue, release orphans, resync Redis)."""
        click.echo(services().sweeper.sweep())


def _user_id(comps, username: str) -> int:
    with comps.db.transaction() as tx:
        return tx.execute(select(User.id).where(User.username == username)).scalar_one()


# ------------------------------------------------------------------ users

def _users() -> UserService:
    return services().users


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return click.get_text_stream("stdin").readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _run(fn, *args):
    """A refused change (taken name, weak password, unknown user) is a clear
    message and exit status 1, never a traceback."""
    try:
        return fn(*args)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None


@click.group("users", cls=AppGroup)
def users() -> None:
    """The people who log in: create, list, set-password, deactivate, activate."""


@users.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--nombre", required=True, help="the name shown on screens")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def users_create(username: str, role: str, nombre: str, password_stdin: bool) -> None:
    """Create a user (a GTR supervisor or an advisor)."""
    user = _run(_users().create, username, role, nombre, _password(password_stdin))
    click.echo(f"created {user['role']} {user['username']} (id {user['id']})")


@users.command("list")
def users_list() -> None:
    """Every user: id, username, role, active, name."""
    for u in _users().list():
        state = "active" if u["active"] else "INACTIVE"
        click.echo(f"{u['id']:>5}  {u['username']:<24} {u['role']:<7} {state:<8} {u['nombre']}")


@users.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def users_set_password(username: str, password_stdin: bool) -> None:
    """Set a user's password."""
    _run(_users().set_password, username, _password(password_stdin))
    click.echo(f"password of {username} changed")


@users.command("deactivate")
@click.argument("username")
def users_deactivate(username: str) -> None:
    """Refuse the user's logins and tokens; their live sessions go back to GTR."""
    _run(_users().set_active, username, False)
    click.echo(f"{username} deactivated")


@users.command("activate")
@click.argument("username")
def users_activate(username: str) -> None:
    """Allow a deactivated user to log in again."""
    _run(_users().set_active, username, True)
    click.echo(f"{username} activated")
