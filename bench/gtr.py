"""The supervisors: M python-socketio AsyncClients in one process, timing
every push they receive.

    python -m bench.gtr URL TOKEN M OUT.json

Prints `{"connected": M}` once every client is in, then a progress line a
second; on a line `stop` on stdin it writes, per event, how many clients got
it and when the first and the last did (wall clock), and exits."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import socketio

#: Pushes the benchmark times, by key; SESSIONS_EXTENDED is only counted.
TIMED = {"CLIENT_IN_GESTION", "CLIENT_COMPLETED", "CLIENT_RETURNED_TO_GTR", "CLIENT_DERIVED",
         "BENCH_EMIT"}


class Board:
    def __init__(self) -> None:
        self.seen: dict[str, dict[str, Any]] = {}
        self.counts: dict[str, int] = {}
        self.bytes_extended = 0

    def on(self, event: str, data: Any) -> None:
        now = time.time()
        self.counts[event] = self.counts.get(event, 0) + 1
        if event not in TIMED or not isinstance(data, dict):
            if event == "SESSIONS_EXTENDED" and isinstance(data, dict):
                self.bytes_extended = max(self.bytes_extended, len(data.get("deadlines", {})))
            return
        key = f"{event}:{data.get('session_id') or data.get('id') or data.get('cliente_id')}"
        entry = self.seen.get(key)
        if entry is None:
            self.seen[key] = {"first": now, "last": now, "n": 1, "deadline": data.get("deadline"),
                              "reason": data.get("reason"), "seq": data.get("seq")}
        else:
            entry["n"] += 1
            entry["last"] = max(entry["last"], now)


async def main(url: str, token: str, count: int, out: Path) -> None:
    board = Board()
    clients = []
    for _ in range(count):
        sio = socketio.AsyncClient(reconnection=True)
        sio.on("*", board.on)
        await sio.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=30)
        clients.append(sio)
    print(json.dumps({"connected": count}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def tick() -> None:
        while True:
            await asyncio.sleep(1.0)
            print(json.dumps({"progress": board.counts}), flush=True)

    ticker = asyncio.create_task(tick())
    while (line := await reader.readline()) and line.strip() != b"stop":
        pass
    ticker.cancel()
    me = psutil.Process().cpu_times()
    out.write_text(json.dumps({"clients": count, "events": board.seen, "counts": board.counts,
                               "max_extended_per_push": board.bytes_extended,
                               "cpu_s": round(me.user + me.system, 2),
                               "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1)}))
    await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])))
