"""Ordered, gap-free delivery of pushes in each web process, and resume.

Pushes travel through the Redis message queue (the Socket.IO channel) like any
Flask-SocketIO emit, but pub/sub is at-most-once and two publishers may
publish out of commit order. Each push carries the `seq` the event log gave it
(core.eventlog), and every web process sees every push, so this manager
delivers them strictly in `seq` order: a duplicate is dropped, and a gap is
filled from the event log at once (when N+2 is committed, N+1 is too). A loop
also reads the log's tail, so a push lost at the very end still arrives.

A reconnecting client gives the last `seq` it saw; under the same lock, it is
sent what it missed from the log and only then put in its rooms, so it gets
every event once, in order, before new ones."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis
import socketio

from core.breaker import Breaker, redis_options
from core.eventlog import EventLog
from core.publisher import STAMP, Stamped
from domain.events import resume_plan, visible

log = logging.getLogger(__name__)

TAIL_EVERY = 1.0  # seconds between reads of the log's tail
#: Longest wait between two attempts to re-subscribe after Redis went away.
#: python-socketio doubles its wait up to 60 s: after a one-minute outage the
#: channel could stay deaf for another minute (the tail check covers it, but
#: only once a second).
LISTEN_RETRY_MAX = 2.0


@dataclass
class DeliveryStats:
    events_delivered: int = 0  # pushes this process handed to its rooms
    gap_filled: int = 0  # of which read from the event log (lost or reordered)
    duplicates_dropped: int = 0
    reconnects: int = 0  # connections that came with a last_seq
    resumes_served: int = 0  # reconnects answered with a replay
    events_replayed: int = 0
    snapshots_required: int = 0  # reconnects told to reload the board

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _seq_of(message: dict[str, Any]) -> int | None:
    data = message.get("data")
    payload = data[0] if isinstance(data, list) and len(data) == 1 else data
    seq = payload.get("seq") if isinstance(payload, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


class OrderedRedisManager(Stamped, socketio.RedisManager):
    """The Socket.IO server's client manager: RedisManager plus `seq` order.
    Only messages stamped with this deployment's identity (its event log's)
    are taken: another deployment on the same Redis server and channel is
    ignored, never delivered nor allowed to move `last`."""

    def __init__(self, url: str, channel: str, events: EventLog,
                 breaker: Breaker | None = None) -> None:
        super().__init__(url, channel=channel, write_only=False,
                         redis_options=redis_options(breaker, read_timeout=None))
        #: publishing (an emit of this process) is bounded like every Redis call;
        #: only the listener may wait forever for the next message
        self._publish_options = redis_options(breaker)
        self.events = events
        self.deployment = getattr(events, "deployment", "")
        self.foreign_dropped = 0
        self.stats = DeliveryStats()
        self.last: int | None = None  # highest seq handed to this process' rooms
        self.lock = threading.RLock()  # green under eventlet/gevent (patched first)
        self._last_message = 0.0

    def initialize(self) -> None:
        """Runs at the first connection: start from the log's current end."""
        try:
            self.last = self.events.last_seq()
        except Exception as exc:  # noqa: BLE001 - the first push will set it
            log.warning("event log unreadable at start: %s", exc)
        super().initialize()
        self.server.start_background_task(self._tail_loop)

    def _redis_connect(self) -> None:
        """The listener's client (no read timeout) for `pubsub`; a bounded one
        for `_publish`, so a frozen Redis never holds an emit."""
        super()._redis_connect()
        self.redis = redis.Redis.from_url(self.redis_url, **self._publish_options)

    def _redis_listen_with_retries(self):  # pragma: no cover - needs a dying Redis
        """python-socketio's listener loop with the wait between attempts capped
        at LISTEN_RETRY_MAX; after re-subscribing, the log's tail is delivered
        at once (what was published while the channel was down never arrives)."""
        retry_sleep = 0.5
        subscribed = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    self.pubsub.subscribe(self.channel)
                    if retry_sleep > 0.5:
                        log.warning("Socket.IO channel subscribed again")
                        self.server.start_background_task(self._catch_up_quietly)
                    subscribed, retry_sleep = True, 0.5
                yield from self.pubsub.listen()
            except Exception as exc:  # noqa: BLE001 - Redis went away: try again
                # a warning when it is lost; the attempts after it only in debug
                (log.warning if subscribed else log.debug)(
                    "Socket.IO channel lost (%s); retrying every %.1f s at most", exc,
                    LISTEN_RETRY_MAX)
                subscribed = False
                time.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, LISTEN_RETRY_MAX)

    def _listen(self):  # pragma: no cover - needs Redis (tests/test_hardening_b_stack.py)
        for raw in super()._listen():
            try:
                data = raw if isinstance(raw, dict) else self.json.loads(raw)
            except Exception:  # noqa: BLE001 - not a message of ours
                data = None
            if isinstance(data, dict) and data.get(STAMP) == self.deployment:
                yield data
                continue
            self.foreign_dropped += 1
            if self.foreign_dropped == 1 or self.foreign_dropped % 1000 == 0:
                log.warning("refused %d message(s) on channel %s not stamped by this "
                            "deployment (%s): another deployment shares the channel?",
                            self.foreign_dropped, self.channel, self.deployment)

    def _catch_up_quietly(self) -> None:
        try:
            self.catch_up()
        except Exception as exc:  # noqa: BLE001 - the tail loop retries
            log.debug("catch up after re-subscribing failed: %s", exc)

    # ------------------------------------------------------------ delivery

    def _handle_emit(self, message: dict[str, Any]) -> None:
        seq = _seq_of(message)
        if seq is None:
            return super()._handle_emit(message)
        with self.lock:
            self._last_message = time.monotonic()
            if self.last is None:
                self.last = seq - 1
            if seq <= self.last:
                self.stats.duplicates_dropped += 1
                return None
            if seq > self.last + 1:
                self._fill(seq - 1)
            self._deliver(message, seq)
        return None

    def _deliver(self, message: dict[str, Any], seq: int) -> None:
        super()._handle_emit(message)
        self.last = seq
        self.stats.events_delivered += 1

    def _fill(self, upto: int) -> None:
        """Deliver events (last, upto] from the log. If the log cannot be read,
        move on: clients see the jump in `seq` and can ask GET /api/events."""
        assert self.last is not None
        try:
            missing = self.events.after(self.last, upto)
        except Exception as exc:  # noqa: BLE001 - a gap beats a stalled stream
            log.warning("could not fill events %s..%s from the log: %s", self.last + 1, upto, exc)
            return
        for ev in missing:
            self._deliver({"event": ev.type, "data": [ev.payload], "namespace": "/",
                           "room": ev.rooms}, ev.seq)
            self.stats.gap_filled += 1

    def catch_up(self) -> int:
        """Deliver everything committed so far; returns the seq reached."""
        with self.lock:
            last = self.events.last_seq()
            if self.last is None:
                self.last = last
            elif last > self.last:
                self._fill(last)
            return self.last

    def _tail_loop(self) -> None:
        while True:
            self.server.sleep(TAIL_EVERY)
            if time.monotonic() - self._last_message < TAIL_EVERY / 2:
                continue  # pushes are flowing; a gap would be filled by the next one
            try:
                self.catch_up()
            except Exception as exc:  # noqa: BLE001 - retried on the next tick
                log.debug("event log tail check failed: %s", exc)

    # -------------------------------------------------------------- resume

    def resume(self, sid: str, rooms: list[str], last_seen: int | None) -> dict[str, Any]:
        """Replay what `sid` missed, then put it in its rooms, atomically with
        respect to live delivery; then tell it so with a `resync` event."""
        with self.lock:
            upto = self.catch_up()
            window = self.events.window()
            plan = resume_plan(last_seen, window.first, upto)
            replayed = 0
            if plan == "replay" and last_seen is not None and last_seen < upto:
                for ev in self.events.after(last_seen, upto):
                    if visible(ev.rooms, rooms):
                        self.server.emit(ev.type, ev.payload, to=sid, namespace="/",
                                         ignore_queue=True)
                        replayed += 1
            for room in rooms:
                self.server.enter_room(sid, room, namespace="/")
            self.stats.reconnects += last_seen is not None
            if plan == "replay":
                self.stats.resumes_served += 1
                self.stats.events_replayed += replayed
            else:
                self.stats.snapshots_required += 1
            told = {"status": "replayed" if plan == "replay" else "snapshot_required",
                    "from_seq": last_seen, "last_seq": upto, "replayed": replayed}
            self.server.emit("resync", told, to=sid, namespace="/", ignore_queue=True)
            return told
