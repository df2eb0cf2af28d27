"""`flask --app app users ...`: a deployment's first users without SQL (in-process,
through Flask's CLI runner, on a database of the test's own)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import create_app
from core.eventlog import create_schema
from core.models import User
from core.settings import Settings
from core.users import verify_password


@pytest.fixture
def cli_app(tmp_path):
    settings = Settings.from_env({"APP_ENV": "test", "DATABASE_URL": f"sqlite:///{tmp_path}/u.db",
                                  "REDIS_URL": "redis://127.0.0.1:1/0"})
    app = create_app(settings, role="cli")
    from app.registry import services

    with app.app_context():
        create_schema(services().db)
    return app


def _user(app, username):
    from app.registry import services

    with app.app_context(), services().db.transaction() as tx:
        return tx.execute(select(User).where(User.username == username)).scalar_one_or_none()


def test_create_list_set_password_deactivate(cli_app) -> None:
    run = cli_app.test_cli_runner()
    out = run.invoke(args=["users", "create", "sup", "--role", "gtr", "--nombre", "Sup Uno",
                           "--password-stdin"], input="first-secret\n")
    assert out.exit_code == 0, out.output
    assert "created gtr sup" in out.output
    user = _user(cli_app, "sup")
    assert user.role == "gtr" and user.active and verify_password(user.password_hash,
                                                                  "first-secret")
    assert "first-secret" not in user.password_hash

    out = run.invoke(args=["users", "list"])
    assert out.exit_code == 0 and "sup" in out.output and "gtr" in out.output

    out = run.invoke(args=["users", "set-password", "sup", "--password-stdin"],
                     input="second-secret\n")
    assert out.exit_code == 0, out.output
    user = _user(cli_app, "sup")
    assert verify_password(user.password_hash, "second-secret")
    assert not verify_password(user.password_hash, "first-secret")

    out = run.invoke(args=["users", "deactivate", "sup"])
    assert out.exit_code == 0 and not _user(cli_app, "sup").active
    out = run.invoke(args=["users", "activate", "sup"])
    assert out.exit_code == 0 and _user(cli_app, "sup").active


@pytest.mark.parametrize("args,stdin,message", [
    (["create", "x y", "--role", "gtr", "--nombre", "N"], "long-enough\n", "username"),
    (["create", "ok", "--role", "gtr", "--nombre", "N"], "short\n", "password"),
    (["create", "ok", "--role", "gtr", "--nombre", " "], "long-enough\n", "nombre"),
    (["set-password", "nobody"], "long-enough\n", "no user"),
    (["deactivate", "nobody"], None, "no user"),
])
def test_refusals_are_clear_and_change_nothing(cli_app, args, stdin, message) -> None:
    run = cli_app.test_cli_runner()
    out = run.invoke(args=["users", *args] + (["--password-stdin"] if stdin else []),
                     input=stdin)
    assert out.exit_code == 1, out.output
    assert message in out.output and "Traceback" not in out.output
    assert _user(cli_app, "ok") is None


def test_a_taken_username_is_refused(cli_app) -> None:
    run = cli_app.test_cli_runner()
    args = ["users", "create", "dup", "--role", "asesor", "--nombre", "A", "--password-stdin"]
    assert run.invoke(args=args, input="long-enough\n").exit_code == 0
    out = run.invoke(args=args, input="other-secret\n")
    assert out.exit_code == 1 and "taken" in out.output
    assert verify_password(_user(cli_app, "dup").password_hash, "long-enough")
