"""Round trips to the backing services, counted where the drivers write: each
sends one request per `sendall` (a pipeline or a multi-statement is one), so
writes are round trips. Only the public socket API is wrapped, and only for
the block. Used by tests/test_heartbeat_hotpath.py and bench/hotpath.py."""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
from collections.abc import Iterator, Mapping
from typing import Any

#: MySQL command bytes that are not COM_QUERY (3), by name
_MYSQL_COMMANDS = {14: "PING", 1: "QUIT"}


@contextlib.contextmanager
def round_trips(ports: Mapping[int, str], *, this_thread: bool = False,
                mysql: str | None = None) -> Iterator[collections.Counter]:
    """Count writes per service name (`ports`: peer port -> name) during the
    block; `this_thread`: only the calling thread's. `mysql`: the name of the
    MySQL service, whose writes are also counted per statement verb
    ("<name>:UPDATE", "<name>:PING"...)."""
    seen: collections.Counter = collections.Counter()
    me, real = threading.get_ident(), socket.socket.sendall

    def counted(self: socket.socket, data: Any, *args: Any) -> Any:
        if not this_thread or threading.get_ident() == me:
            try:
                name = ports.get(self.getpeername()[1])
            except OSError:
                name = None
            if name is not None:
                seen[name] += 1
                if name == mysql:
                    raw = bytes(data[:40])
                    verb = (_MYSQL_COMMANDS.get(raw[4]) if len(raw) > 4 and raw[4] != 3
                            else None)
                    seen[f"{name}:" + (verb or raw[5:].split(b" ", 1)[0]
                                       .decode(errors="replace").upper())] += 1
        return real(self, data, *args)

    socket.socket.sendall = counted  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        socket.socket.sendall = real  # type: ignore[method-assign]
