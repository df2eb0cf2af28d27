"""The database schema: MySQL (utf8mb4) is the source of truth.

Deadlines and activity instants are epoch seconds (DOUBLE) from the database's
clock (`core.db.db_now`), so one clock orders every transition."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from domain.states import Estado, SessionStatus


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    __table_args__ = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # domain.states.Role
    nombre: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())
    #: Carried by every token; bumped by a password change, a deactivation and a
    #: logout, so every older token of the user is refused (app.auth.ensure_fresh).
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Random per row and carried by every token: a new user who gets a recycled
    #: id (SQLite reuses a deleted highest id) cannot use the old user's token.
    token_salt: Mapped[str] = mapped_column(String(32), default=lambda: secrets.token_hex(16))


class RevokedToken(Base):
    """A token logged out before it expired (its `jti` claim): refused by every
    request and socket until `expires_at`, then purged (nothing to refuse)."""

    __tablename__ = "revoked_tokens"
    __table_args__ = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    expires_at: Mapped[float] = mapped_column(Double, index=True)  # the token's exp (epoch s)


class Cliente(Base):
    __tablename__ = "clientes"
    __table_args__ = (
        # advisors' lists, and the sweep's orphan check from the index alone
        Index("ix_clientes_estado_asesor_session", "estado", "asesor_asignado",
              "current_session_id"),
        # the GTR desk (issue 16): columns in waiting order, prefix search, duplicates
        Index("ix_clientes_estado_updated", "estado", "updated_at"),
        Index("ix_clientes_nombre", "nombre"),
        Index("ix_clientes_telefono", "telefono"),
        Index("ix_clientes_documento", "documento"),
        {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nombre: Mapped[str] = mapped_column(String(160))
    telefono: Mapped[str] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(160))
    documento: Mapped[str | None] = mapped_column(String(32))
    notas: Mapped[str | None] = mapped_column(Text)
    estado: Mapped[str] = mapped_column(String(16), default=Estado.NUEVO.value)
    asesor_asignado: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Fencing token: bumped by every start, so a stale holder can be told apart.
    lock_token: Mapped[int] = mapped_column(BigInteger, default=0)
    current_session_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())
    updated_at: Mapped[float | None] = mapped_column(Double)


class GestionSession(Base):
    """One handling session of one client by one advisor."""

    __tablename__ = "gestion_sessions"
    __table_args__ = (
        Index("ix_sessions_status_deadline", "status", "deadline_at"),
        Index("ix_sessions_cliente_status", "cliente_id", "status"),
        Index("ix_sessions_asesor_status", "asesor_id", "status"),
        Index("ix_sessions_started", "started_at"),
        {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"},
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    cliente_id: Mapped[int] = mapped_column(ForeignKey("clientes.id"))
    asesor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=SessionStatus.ACTIVE.value)
    started_at: Mapped[float] = mapped_column(Double)
    last_activity_at: Mapped[float] = mapped_column(Double)
    deadline_at: Mapped[float] = mapped_column(Double)
    ended_at: Mapped[float | None] = mapped_column(Double)
    resultado: Mapped[str | None] = mapped_column(String(16))
    notas: Mapped[str | None] = mapped_column(Text)
    heartbeats: Mapped[int] = mapped_column(Integer, default=0)
    #: taken from the shared pool: every advisor was told who took it
    #: (domain/visibility.py), so a loser of the race may see the holder
    from_pool: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AuditEntry(Base):
    """Every transition, once: who (NULL = the system), what, when, from which state."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_cliente", "cliente_id", "id"),
        Index("ix_audit_at", "at"),
        {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"},
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    cliente_id: Mapped[int] = mapped_column(ForeignKey("clientes.id"))
    session_id: Mapped[str | None] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    at: Mapped[float] = mapped_column(Double)
    detail: Mapped[dict | None] = mapped_column(JSON)


class EventEntry(Base):
    """The durable, bounded log of pushed events: `seq` is the order every client
    sees, so a reconnecting client can ask for what it missed."""

    __tablename__ = "event_log"
    __table_args__ = (
        Index("ix_event_log_at", "at"),
        {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"},
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    type: Mapped[str] = mapped_column(String(32))
    cliente_id: Mapped[int | None] = mapped_column(Integer)
    rooms: Mapped[list] = mapped_column(JSON)
    payload: Mapped[dict] = mapped_column(JSON)
    at: Mapped[float] = mapped_column(Double)


class EventCounter(Base):
    """One row holding the last sequence number handed out. Taking the next one
    locks the row until the transition commits, so sequence order is commit
    order and a committed `seq` means every smaller one is committed too."""

    __tablename__ = "event_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)


class ServiceLease(Base):
    """A named lease held by one process until `expires_at` (database clock):
    which web process runs the database-driven timeout fallback while the
    broker is down (core.fallback). A row, not MySQL GET_LOCK, so it also works
    on SQLite (`make run`) and survives nothing but its own expiry."""

    __tablename__ = "service_lease"
    __table_args__ = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[float] = mapped_column(Double)
