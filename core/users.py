"""The people who log in: create, list, change a password, deactivate.

One service for the CLI (`flask --app app users ...`) and any future admin
screen, so a production deployment gets its first users without SQL. Passwords
are stored as salted hashes (werkzeug's scrypt/pbkdf2), never in clear."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from core.db import Database
from core.models import GestionSession, RevokedToken, User
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.states import Role, SessionStatus

USERNAME = re.compile(r"^[A-Za-z0-9._-]{2,64}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 256
#: Compared against when the user does not exist, so timing does not tell.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    return check_password_hash(password_hash or _DUMMY_HASH, password) and bool(password_hash)


def insert_user(tx: Session, *, username: str, password_hash: str, role: Role,
                nombre: str) -> int:
    return tx.execute(
        insert(User).values(username=username, password_hash=password_hash, role=role.value,
                            nombre=nombre, active=True)
    ).inserted_primary_key[0]


def check_password_rule(password: str) -> None:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationFailed(
            f"the password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters",
            field="password")


def user_view(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "nombre": u.nombre, "role": u.role,
            "active": u.active}


@dataclass
class UserService:
    db: Database
    #: Returns a live session's client to GTR (SessionService.release); injected
    #: so deactivating an advisor ends what they hold.
    release: Callable[[int | None, int], Any] | None = None

    def create(self, username: str, role: Role | str, nombre: str, password: str) -> dict:
        if not isinstance(username, str) or not USERNAME.match(username):
            raise ValidationFailed("username: 2 to 64 letters, digits, '.', '_' or '-'",
                                   field="username")
        try:
            role = Role(role)
        except ValueError:
            raise ValidationFailed("role must be gtr or asesor", field="role") from None
        nombre = (nombre or "").strip()
        if not 1 <= len(nombre) <= 120:
            raise ValidationFailed("nombre must have 1 to 120 characters", field="nombre")
        check_password_rule(password)
        try:
            with self.db.transaction() as tx:
                uid = insert_user(tx, username=username, password_hash=hash_password(password),
                                  role=role, nombre=nombre)
                return user_view(tx.get(User, uid))
        except IntegrityError:
            raise Conflict(f"username {username!r} is taken", field="username") from None

    def list(self, role: Role | None = None) -> list[dict]:
        q = select(User).order_by(User.id)
        if role is not None:
            q = q.where(User.role == role.value)
        with self.db.transaction() as tx:
            return [user_view(u) for u in tx.execute(q).scalars()]

    def _by_name(self, tx: Session, username: str) -> User:
        user = tx.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is None:
            raise NotFound(f"no user {username!r}", field="username")
        return user

    def set_password(self, username: str, password: str) -> dict:
        check_password_rule(password)
        with self.db.transaction() as tx:
            user = self._by_name(tx, username)
            # every token issued before the change is refused from now on
            tx.execute(update(User).where(User.id == user.id)
                       .values(password_hash=hash_password(password),
                               token_version=User.token_version + 1))
            return user_view(user)

    def revoke_tokens(self, user_id: int) -> None:
        """Log the user out everywhere: every token issued so far is refused
        (REST at once; open sockets within SOCKET_RECHECK seconds)."""
        with self.db.transaction() as tx:
            tx.execute(update(User).where(User.id == user_id)
                       .values(token_version=User.token_version + 1))

    def revoke_token(self, user_id: int, jti: str, expires_at: float) -> None:
        """Log one token out (its jti refused until it would have expired anyway;
        the user's other screens stay logged in). Expired entries are purged here,
        so the table holds only tokens that are still live."""
        try:
            with self.db.transaction() as tx:
                tx.execute(delete(RevokedToken).where(RevokedToken.expires_at < time.time() - 60))
                if tx.get(RevokedToken, jti) is None:
                    tx.add(RevokedToken(jti=jti, user_id=user_id, expires_at=expires_at))
        except IntegrityError:
            pass  # a concurrent logout of the same token revoked it first

    def set_active(self, username: str, active: bool) -> dict:
        """Deactivating refuses the user's tokens at once (every request checks
        `active`) and returns every client they hold to GTR."""
        with self.db.transaction() as tx:
            user = self._by_name(tx, username)
            values: dict[str, Any] = {"active": active}
            if not active:  # its tokens stay dead even if it is reactivated later
                values["token_version"] = User.token_version + 1
            tx.execute(update(User).where(User.id == user.id).values(**values))
            held = tx.execute(select(GestionSession.cliente_id).where(
                GestionSession.asesor_id == user.id,
                GestionSession.status == SessionStatus.ACTIVE.value)).scalars().all()
            view = {**user_view(user), "active": active}
        if not active and self.release is not None:
            for cliente_id in held:
                with contextlib.suppress(Conflict):  # it ended meanwhile
                    self.release(None, cliente_id)
        return view
