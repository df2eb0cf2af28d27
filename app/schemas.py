"""Request and response models. Request bodies and queries are validated with
them (wrong types, missing fields and unknown enum values become a 422 that
names the field; bad JSON a 400), and the OpenAPI document (app/contract.py)
is generated from the same classes. The `examples` appear in /api/docs."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from flask import request
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from core.users import MAX_PASSWORD, MIN_PASSWORD, USERNAME
from domain.clientes import EMAIL_PATTERN, LIMITS, PHONE_PATTERN
from domain.errors import DomainError, ValidationFailed
from domain.states import Estado, Resultado, Role, SessionStatus

Id = Annotated[StrictInt, Field(gt=0, le=2_147_483_647)]
SessionId = Annotated[StrictStr, Field(min_length=1, max_length=64)]


def _examples(*examples: dict[str, Any]) -> dict[str, Any]:
    return {"examples": list(examples)}


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LoginIn(Body):
    model_config = ConfigDict(json_schema_extra=_examples(
        {"username": "asesor1", "password": "demo1234"}))
    username: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    password: Annotated[StrictStr, Field(min_length=1, max_length=256)]


class ClienteRef(Body):
    model_config = ConfigDict(json_schema_extra=_examples({"cliente_id": 42}))
    cliente_id: Id
    session_id: SessionId | None = Field(
        None, description="the session you think you hold; a stale one is refused (409)")


class EndIn(ClienteRef):
    model_config = ConfigDict(json_schema_extra=_examples(
        {"cliente_id": 42, "resultado": "gestionado", "notas": "called back, sold"}))
    resultado: Resultado
    notas: Annotated[StrictStr, Field(max_length=5000)] | None = None


class DeriveIn(Body):
    model_config = ConfigDict(json_schema_extra=_examples({"asesor_id": 3}, {}))
    asesor_id: Id | None = Field(None, description="omitted or null: the shared pool")


class DeriveCmd(DeriveIn):
    """The derive command's input: the body plus the path's client id."""

    cliente_id: Id


class ReleaseIn(Body):
    model_config = ConfigDict(json_schema_extra=_examples({"keep_notes": True}, {}))
    keep_notes: StrictBool = Field(
        True, description="tell the advisor's console to attach their unsaved notes to "
                          "the client's history (default true)")


class ReleaseCmd(ReleaseIn):
    """The release command's input: the body plus the path's client id."""

    cliente_id: Id


class Nothing(Body):
    """A command without input."""


class ClienteIn(Body):
    """The constraints come from domain/clientes.py, whose `clean_fields` the
    service also applies (trimming), exactly as for a CSV import."""

    model_config = ConfigDict(json_schema_extra=_examples(
        {"nombre": "Ana Torres", "telefono": "+51 900 000 001", "email": "ana@example.pe"}))
    nombre: Annotated[StrictStr, Field(min_length=1, max_length=LIMITS["nombre"], pattern=r"\S")]
    telefono: Annotated[StrictStr, Field(min_length=1, max_length=LIMITS["telefono"],
                                         pattern=PHONE_PATTERN)]
    email: Annotated[StrictStr,
                     Field(max_length=LIMITS["email"], pattern=EMAIL_PATTERN)] | None = None
    documento: Annotated[StrictStr, Field(max_length=LIMITS["documento"])] | None = None
    notas: Annotated[StrictStr, Field(max_length=LIMITS["notas"])] | None = None


QueryId = Annotated[int, Field(ge=1, le=2_147_483_647)]


_ESTADO = "(nuevo|derivado|en_gestion|gestionado|no_gestionado|cerrado)"


class ClientesQuery(Body):
    estado: Estado | SkipJsonSchema[None] = None
    asesor_id: QueryId | SkipJsonSchema[None] = None
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    offset: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    q: Annotated[StrictStr, Field(
        max_length=100, description="search: the start of the name, phone or document "
        "(any case and accents on MariaDB), or a client id (`#42` or `42`)")] | SkipJsonSchema[
            None] = None
    estados: Annotated[StrictStr, Field(
        max_length=100, pattern=f"^({_ESTADO}(,{_ESTADO})*)?$",
        description="several states, comma-separated (a board column); empty: any",
    )] | SkipJsonSchema[None] = None
    order: Literal["id", "oldest", "newest"] = Field(
        "id", description="`oldest`: longest waiting first (last state change), `newest`: "
        "the reverse; `id`: by id")


class LogoutQuery(Body):
    everywhere: Literal["0", "1", "false", "true"] | SkipJsonSchema[None] = Field(
        None, description="1 or true: revoke every token of the user, not only this one")

    @property
    def is_everywhere(self) -> bool:
        return self.everywhere in ("1", "true")


class HealthQuery(Body):
    live: StrictStr | SkipJsonSchema[None] = Field(
        None, description="any value: only say whether the process is up")


# ------------------------------------------------------------------ answers


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class FieldError(Out):
    field: str
    message: str


class ErrorOut(Out):
    """Every error: a stable code, a human message, and details by code."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_examples(
        {"error": "validation_error", "message": "cliente_id: Field required",
         "field": "cliente_id",
         "errors": [{"field": "cliente_id", "message": "Field required"}]},
        {"error": "client_locked", "message": "cliente 42 is held by another advisor",
         "holder": {"asesor_id": 3, "nombre": "Asesor 3"}},
        {"error": "rate_limited", "message": "too many login requests; retry in 42 s",
         "retry_after": 42, "limit": "10/60s"}))
    error: str = Field(description="machine-readable code, e.g. not_found, validation_error")
    message: str
    field: str | None = Field(None, description="the offending field (422)")
    errors: list[FieldError] | None = None


class UserOut(Out):
    id: int
    username: str
    nombre: str
    role: Role


class SessionTiming(Out):
    timeout: float = Field(description="SESSION_TIMEOUT, seconds")
    heartbeat_interval: int = Field(description="seconds between heartbeats")
    idle_after: float = Field(0, description="IDLE_AFTER: seconds without input after which "
                                             "the console stops its heartbeats; 0: never")


class LoginOut(Out):
    model_config = ConfigDict(extra="allow", json_schema_extra=_examples({
        "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.x", "token_type": "Bearer",
        "expires_at": 1767225600,
        "user": {"id": 3, "username": "asesor1", "nombre": "Asesor 1", "role": "asesor"},
        "session": {"timeout": 600, "heartbeat_interval": 30}}))
    token: str
    token_type: Literal["Bearer"]
    expires_at: int
    user: UserOut
    session: SessionTiming


class ClienteOut(Out):
    model_config = ConfigDict(extra="allow", json_schema_extra=_examples({
        "id": 42, "nombre": "Ana Torres", "telefono": "+51 900 000 001",
        "email": "ana@example.pe", "documento": None, "notas": None, "estado": "derivado",
        "asesor_asignado": 3, "session_id": None, "lock_token": 0,
        "created_at": "2026-11-27T09:00:00", "updated_at": 1764234000.5}))
    id: int
    nombre: str
    telefono: str
    email: str | None
    documento: str | None
    notas: str | None
    estado: Estado
    asesor_asignado: int | None
    session_id: str | None
    lock_token: int
    created_at: str | None
    updated_at: float | None


class ClienteList(Out):
    items: list[ClienteOut]
    total: int
    limit: int
    offset: int


class ImportOut(Out):
    model_config = ConfigDict(extra="allow", json_schema_extra=_examples(
        {"imported": 2, "ids": [43, 44]}))
    imported: int
    ids: list[int]


class AsesorOut(Out):
    id: int
    username: str
    nombre: str
    active: bool


class SessionOut(Out):
    """A session as returned everywhere; instants are epoch seconds (database clock)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_examples({
        "session_id": "5f0c2d9e8a7b4c3d", "cliente_id": 42, "asesor_id": 3, "token": 7,
        "status": "active", "started_at": 1764234000.1, "last_activity_at": 1764234030.2,
        "deadline": 1764234630.2, "seconds_left": 599.9, "ended_at": None,
        "resultado": None, "heartbeats": 1}))
    session_id: str
    cliente_id: int
    asesor_id: int
    token: int = Field(description="the client's fencing token")
    status: SessionStatus
    started_at: float
    last_activity_at: float
    deadline: float
    seconds_left: float
    ended_at: float | None
    resultado: Resultado | None
    heartbeats: int


class StartOut(SessionOut):
    resumed: bool = Field(description="true (200) if you already held this client")


class StatusOut(Out):
    cliente_id: int
    estado: Estado
    asesor_asignado: int | None
    active: bool
    session: SessionOut | None
    cached: bool = Field(description="the Redis copy of the session exists")
    cache_ttl: float | None = Field(description="seconds left on the Redis copy")


class ActiveOut(Out):
    items: list[SessionOut]
    count: int


class SweepOut(Out):
    expired: int
    orphans_released: int
    redis_restored: int
    redis_removed: int


class Check(Out):
    ok: bool
    ms: float
    error: str | None = None


class HealthOut(Out):
    model_config = ConfigDict(extra="allow", json_schema_extra=_examples(
        {"status": "ok"},
        {"status": "degraded", "time": 1764234000.0, "checks": {
            "database": {"ok": True, "ms": 1.2}, "redis": {"ok": True, "ms": 0.4},
            "broker": {"ok": True, "ms": 0.9},
            "workers": {"ok": False, "ms": 1001.0, "error": "RuntimeError: no worker"}}}))
    status: Literal["ok", "degraded"]
    checks: dict[str, Check] | None = None
    time: float | None = None


class WsNode(Out):
    node: str
    connections: int
    rooms: dict[str, int]
    delivery: dict[str, int] = Field(
        default_factory=dict,
        description="events_delivered, gap_filled, duplicates_dropped, reconnects, "
                    "resumes_served, events_replayed, snapshots_required")
    last_seq: int | None = Field(None, description="the last seq this process delivered")
    ts: float


class WsStatsOut(Out):
    connections: int
    rooms: dict[str, int]
    delivery: dict[str, int] = Field(default_factory=dict, description="summed over processes")
    nodes: list[WsNode]


class EventsQuery(Body):
    after: Annotated[int, Field(ge=0, le=2**62, description="the last seq you saw")]
    limit: Annotated[int, Field(ge=1, le=1000)] = 500


class EventOut(Out):
    """The envelope of every pushed event (docs/events.md); events add fields."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_examples({
        "seq": 1042, "type": "CLIENT_IN_GESTION", "cliente_id": 42,
        "session_id": "9f0c2b7e8d1a4c3b9e6f5a4d3c2b1a09", "estado": "en_gestion",
        "asesor_id": 3, "deadline": 1764234600.25, "ts": 1764234000.25, "pool": False}))
    seq: int
    type: str
    cliente_id: int | None
    session_id: str | None
    estado: str | None
    asesor_id: int | None
    deadline: float | None
    ts: float


class EventsOut(Out):
    snapshot_required: bool = Field(
        description="true: the log no longer holds what you asked for; reload /api/board")
    last_seq: int = Field(description="continue from here (the next `after`)")
    more: bool = False
    events: list[EventOut]


class BoardItem(Out):
    cliente_id: int
    nombre: str
    estado: Literal["derivado", "en_gestion"]
    asesor_id: int | None
    asesor_nombre: str | None
    session_id: str | None
    started_at: float | None
    deadline: float | None
    seconds_left: float | None


class BoardOut(Out):
    model_config = ConfigDict(extra="allow", json_schema_extra=_examples({
        "seq": 1042, "now": 1764234010.5, "items": [
            {"cliente_id": 42, "nombre": "Ana Torres", "estado": "en_gestion", "asesor_id": 3,
             "asesor_nombre": "Asesor 3", "session_id": "9f0c2b7e8d1a4c3b9e6f5a4d3c2b1a09",
             "started_at": 1764234000.25, "deadline": 1764234600.25, "seconds_left": 589.75},
            {"cliente_id": 43, "nombre": "Luis Flores", "estado": "derivado", "asesor_id": None,
             "asesor_nombre": None, "session_id": None, "started_at": None, "deadline": None,
             "seconds_left": None}]}))
    seq: int = Field(description="the event log's end when read: apply events after it")
    now: float
    items: list[BoardItem]


class StatsOut(Out):
    active: int
    started_today: int
    completed_today: int
    timed_out_today: int
    released_today: int
    handled_today: int = Field(0, description="sessions ended today as `gestionado`")
    mean_handling_seconds: float | None
    day_start: float
    day_end: float = Field(0, description="the next midnight in TIMEZONE")
    now: float
    timezone: str


class AsesorStats(Out):
    asesor_id: int
    nombre: str
    active: int = Field(description="live sessions now")
    completed_today: int
    handled_today: int = Field(0, description="sessions ended today as `gestionado`")
    timed_out_today: int
    released_today: int
    mean_handling_seconds: float | None = Field(
        description="mean start-to-end time of today's completed sessions")


class AsesorStatsOut(Out):
    model_config = ConfigDict(extra="allow", json_schema_extra=_examples({
        "items": [{"asesor_id": 3, "nombre": "Asesor 1", "active": 1, "completed_today": 12,
                   "timed_out_today": 1, "released_today": 0,
                   "mean_handling_seconds": 184.2}],
        "day_start": 1764201600.0, "now": 1764234010.5, "timezone": "UTC"}))
    items: list[AsesorStats]
    day_start: float
    day_end: float = Field(0, description="the next midnight in TIMEZONE: read again then")
    now: float
    timezone: str


# ------------------------------------------------------ the advisor's desk


class HistorialItem(Out):
    """One handling of a client (instants: epoch seconds, database clock)."""

    session_id: str
    asesor_id: int
    asesor_nombre: str | None
    status: SessionStatus
    started_at: float
    ended_at: float | None
    duration: float | None = Field(description="seconds from start to end; null while live")
    resultado: Resultado | None
    notas: str | None


class HistorialOut(Out):
    model_config = ConfigDict(extra="allow", json_schema_extra=_examples({
        "cliente_id": 42, "estado": "derivado", "derivado_at": 1764233000.0,
        "now": 1764234010.5, "notas_origen": "campaña de noviembre", "items": [
            {"session_id": "9f0c2b7e8d1a4c3b9e6f5a4d3c2b1a09", "asesor_id": 3,
             "asesor_nombre": "Asesor 1", "status": "completed", "started_at": 1764230000.0,
             "ended_at": 1764230184.2, "duration": 184.2, "resultado": "no_gestionado",
             "notas": "no contesta; volver a llamar"}]}))
    cliente_id: int
    estado: Estado
    derivado_at: float | None = Field(description="when the client was last derived")
    now: float = Field(description="the database clock, to tell how long it has waited")
    notas_origen: str | None = Field(
        description="the notes the client was imported or created with (`notas` of the "
                    "record holds the latest session's)")
    items: list[HistorialItem] = Field(description="its sessions, newest first (at most 100)")


Notas = Annotated[StrictStr, Field(max_length=5000)]


class LogoutIn(Body):
    """Optional: what to do with the caller's open sessions before the tokens go."""

    model_config = ConfigDict(json_schema_extra=_examples(
        {}, {"open_sessions": "return", "notas": "se cortó la llamada"},
        {"open_sessions": "end", "resultado": "gestionado", "notas": "venta cerrada"}))
    open_sessions: Literal["end", "return"] | None = Field(
        None, description="end: end them with `resultado`; return: end them as "
                          "no_gestionado (back to GTR); omitted: leave them to time out")
    resultado: Resultado | None = None
    notas: Notas | None = None

    @model_validator(mode="after")
    def _resultado_to_end(self) -> LogoutIn:
        if self.open_sessions == "end" and self.resultado is None:
            raise ValueError("open_sessions 'end' needs a resultado")
        return self

    @property
    def closing(self) -> Resultado | None:
        """The resultado the open sessions end with (None: leave them)."""
        if self.open_sessions == "return":
            return Resultado.NO_GESTIONADO
        return self.resultado if self.open_sessions == "end" else None


class NotasIn(Body):
    model_config = ConfigDict(json_schema_extra=_examples(
        {"cliente_id": 42, "session_id": "9f0c2b7e8d1a4c3b9e6f5a4d3c2b1a09",
         "notas": "cliente pidió llamar el lunes"}))
    cliente_id: Id
    session_id: SessionId
    notas: Annotated[StrictStr, Field(min_length=1, max_length=5000, pattern=r"\S")]


class BadJson(DomainError):
    status = 400
    code = "invalid_json"


M = TypeVar("M", bound=BaseModel)


def json_object(*, optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what is wrong."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if optional:
            return {}
        raise BadJson("a JSON object body is required")
    if not request.is_json:
        raise BadJson("send the body as application/json")
    try:
        data = request.get_json(force=True)
    except Exception:  # noqa: BLE001 - werkzeug raises BadRequest for bad JSON
        raise BadJson("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadJson("the body must be a JSON object")
    return data


def parse(model: type[M], *, optional: bool = False) -> M:
    """The JSON body validated by `model`, or a 400/422 naming what is wrong."""
    return validate(model, json_object(optional=optional))


def parse_query(model: type[M]) -> M:
    """The query string validated by `model` (empty values count as absent)."""
    return validate(model, {k: v for k, v in request.args.items() if v != ""})


def _field(loc: tuple) -> str:
    """The field path of an error; union member tags (`str-enum[Estado]`) dropped."""
    return ".".join(str(p) for p in loc if isinstance(p, int) or str(p).isidentifier()) or "body"


def validate(model: type[M], data: dict[str, Any]) -> M:
    """`data` validated by `model`, or a 422 naming every problem (both edges)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": _field(e["loc"]), "message": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        first = errors[0]
        raise ValidationFailed(f"{first['field']}: {first['message']}", field=first["field"],
                               errors=errors) from None


# ------------------------------------------------------------ the GTR desk


class ResumenOut(Out):
    """The queue at a glance: every state's true count and, for the waiting
    states, since when the longest-waiting client waits (epoch seconds)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_examples({
        "counts": {"nuevo": 618, "derivado": 12, "en_gestion": 3, "gestionado": 40,
                   "no_gestionado": 5, "cerrado": 2},
        "oldest": {"nuevo": 1764230000.0, "derivado": 1764233000.0, "no_gestionado": None},
        "now": 1764234010.5}))
    counts: dict[str, int]
    oldest: dict[str, float | None]
    now: float


class ImportRowOut(Out):
    line: int
    nombre: str
    telefono: str
    email: str | None
    documento: str | None
    notas: str | None


class ImportProblem(Out):
    line: int
    field: str
    message: str


class ImportDuplicate(Out):
    line: int
    field: str = Field(description="telefono or documento")
    value: str
    cliente_id: int | None = Field(description="the existing client with that value")
    first_line: int | None = Field(description="an earlier line of the file with that value")


class ImportCheckOut(Out):
    model_config = ConfigDict(extra="allow", json_schema_extra=_examples({
        "total": 3, "rows": [{"line": 2, "nombre": "Ana Torres", "telefono": "+51 900 000 001",
                              "email": None, "documento": None, "notas": None}],
        "errors": [{"line": 3, "field": "telefono", "message": "telefono is required"}],
        "duplicates": [{"line": 4, "field": "telefono", "value": "+51 900 000 001",
                        "cliente_id": None, "first_line": 2}]}))
    total: int = Field(description="client lines in the file (blank lines skipped)")
    rows: list[ImportRowOut] = Field(description="the valid lines, cleaned, in file order")
    errors: list[ImportProblem]
    duplicates: list[ImportDuplicate]


class LoteIn(Body):
    model_config = ConfigDict(json_schema_extra=_examples(
        {"clientes": [{"nombre": "Ana Torres", "telefono": "+51 900 000 001"}]}))
    clientes: Annotated[list[ClienteIn], Field(min_length=1, max_length=1000)]


class AdminUserOut(Out):
    id: int
    username: str
    nombre: str
    role: Role
    active: bool


class AdminUserIn(Body):
    model_config = ConfigDict(json_schema_extra=_examples(
        {"username": "asesor6", "nombre": "Asesor 6", "role": "asesor",
         "password": "una-clave-larga"}))
    username: Annotated[StrictStr, Field(pattern=USERNAME.pattern)]
    nombre: Annotated[StrictStr, Field(min_length=1, max_length=120, pattern=r"\S")]
    role: Role
    password: Annotated[StrictStr, Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]


class PasswordIn(Body):
    model_config = ConfigDict(json_schema_extra=_examples({"password": "una-clave-nueva"}))
    password: Annotated[StrictStr, Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]


class BulkDeriveIn(Body):
    model_config = ConfigDict(json_schema_extra=_examples(
        {"ids": [42, 43, 44], "asesor_id": 3}, {"ids": [45]}))
    ids: Annotated[list[Id], Field(min_length=1, max_length=500)]
    asesor_id: Id | None = Field(None, description="omitted or null: the shared pool")


class BulkFailure(Out):
    cliente_id: int
    error: str
    message: str


class BulkDeriveOut(Out):
    derived: list[int]
    failed: list[BulkFailure]


class PresenceItem(Out):
    asesor_id: int
    nombre: str
    username: str
    estado: Literal["en_sesion", "disponible", "inactivo", "desconectado"]
    since: float | None = Field(description="in this state since (epoch seconds), if known")
    connections: int = Field(description="open sockets, over every web process")
    cliente_id: int | None = Field(description="the client of the live session")
    cliente_nombre: str | None


class PresenceOut(Out):
    model_config = ConfigDict(extra="allow", json_schema_extra=_examples({
        "items": [{"asesor_id": 3, "nombre": "Asesor 1", "username": "asesor1",
                   "estado": "en_sesion", "since": 1764234000.5, "connections": 1,
                   "cliente_id": 42, "cliente_nombre": "Ana Torres"}],
        "now": 1764234010.5, "idle_after": 300.0}))
    items: list[PresenceItem]
    now: float
    idle_after: float


class AlertasQuery(Body):
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class Alerta(Out):
    id: int = Field(description="the audit row: a stable id for the alert")
    cliente_id: int
    nombre: str
    reason: Literal["timeout", "released", "orphan"]
    at: float
    asesor_id: int | None = Field(description="who held the client")
    asesor_nombre: str | None


class AlertasOut(Out):
    model_config = ConfigDict(extra="allow", json_schema_extra=_examples({
        "items": [{"id": 812, "cliente_id": 42, "nombre": "Ana Torres", "reason": "timeout",
                   "at": 1764234000.5, "asesor_id": 3, "asesor_nombre": "Asesor 1"}],
        "now": 1764234010.5}))
    items: list[Alerta]
    now: float
