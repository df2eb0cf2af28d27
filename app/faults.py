"""Test-only fault injection, inert unless APP_ENV=test.

`FAULT_TRANSITION_DELAY` (seconds) makes a process hold every transaction that
changed a session row open for that long just before its COMMIT, after every
write of the transition has been sent to the database. A fault test can then
`kill -9` the process while it is provably *inside* a transition (the log
line below names the pid), instead of hoping a random kill lands there."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from sqlalchemy import Engine, event

log = logging.getLogger("albru.faults")

#: The log line a fault test waits for before it kills the process.
HOLDING = "fault injection: holding a session transition open"


def install_transition_delay(engine: Engine, delay: float) -> None:
    """Sleep `delay` s before committing any transaction that updated a session."""
    if delay <= 0:
        return

    @event.listens_for(engine, "before_cursor_execute")
    def _mark(conn: Any, cursor: Any, statement: str, *_a: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE GESTION_SESSIONS"):
            conn.info["albru_transition"] = True

    @event.listens_for(engine, "commit")
    def _hold(conn: Any) -> None:
        if conn.info.pop("albru_transition", False):
            log.warning("%s for %.1f s (pid %d)", HOLDING, delay, os.getpid())
            time.sleep(delay)
