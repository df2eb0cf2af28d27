"""Issue 14 items 8 and 9 in the fast tier: logout, the per-user token version,
tokens bound to one user row, open sockets closed after a revocation."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from flask import Flask
from sqlalchemy import delete

from app.auth import InvalidToken, authenticate, issue_token
from app.registry import EXTENSION
from core.db import Database
from core.eventlog import create_schema
from core.models import User
from core.users import UserService
from tests import revocation_cases as cases

pytestmark = pytest.mark.invariants  # bench.invariants.check after each test

SECRET = "s" * 32


def test_deactivated_advisor_socket_is_closed_and_gets_no_push(factory, api, listen, db):
    cases.deactivated_advisor_socket_is_closed(factory, api, listen, db)


def test_logged_out_token_is_refused_on_rest_and_socket(factory, api, listen):
    cases.logged_out_token_is_refused(factory, api, listen)


def test_logout_revokes_that_token_only(factory, api, listen):
    cases.logout_revokes_that_token_only(factory, api, listen)


def test_password_change_revokes_older_tokens(factory, api, listen, db):
    cases.password_change_revokes_older_tokens(factory, api, listen, db)


def test_a_reactivated_user_keeps_its_old_tokens_dead(factory, api, db):
    asesor = factory.asesor()
    old = factory.token(asesor)
    users = UserService(db)
    users.set_active(asesor.username, False)
    users.set_active(asesor.username, True)
    assert api.get("/api/auth/me", old).status_code == 401


def test_a_token_without_the_revocation_claims_is_invalid(api, factory):
    """A token signed before this change (no `tv`/`uk`) is refused: log in again."""
    import time

    import jwt

    asesor = factory.asesor()
    token = jwt.encode({"sub": str(asesor.id), "role": "asesor",
                        "exp": int(time.time()) + 600}, factory.secret, algorithm="HS256")
    assert api.get("/api/auth/me", token).status_code == 401


def test_a_recycled_user_id_on_sqlite_does_not_honour_the_old_token(tmp_path):
    """SQLite gives a deleted highest id to the next user: the deleted user's
    token used to work for the newcomer. The token's salt is the old row's."""
    db = Database(f"sqlite:///{tmp_path / 'recycled.db'}")
    create_schema(db)
    users = UserService(db)
    users.create("first", "asesor", "First", "secret-pass")
    with db.transaction() as tx:
        first = tx.query(User).filter_by(username="first").one()
    token = issue_token(first, SECRET, 3600)[0]
    app = Flask(__name__)
    app.extensions[EXTENSION] = SimpleNamespace(db=db)
    with app.test_request_context():
        assert authenticate(token, SECRET).id == first.id
    with db.transaction() as tx:
        tx.execute(delete(User).where(User.id == first.id))
    users.create("second", "asesor", "Second", "secret-pass")
    with db.transaction() as tx:
        second = tx.query(User).filter_by(username="second").one()
    assert second.id == first.id  # the id was recycled
    with app.test_request_context(), pytest.raises(InvalidToken):
        authenticate(token, SECRET)
    db.dispose()
