"""docs/events.md cannot drift from the code: every event, room, envelope
field and control event the code has must be documented, with its version."""

from __future__ import annotations

import re
from pathlib import Path

from domain.events import (
    ASESOR_ROOM,
    CONTROL_EVENTS,
    ENVELOPE,
    EVENTS_VERSION,
    GTR_ROOM,
    Event,
    envelope,
)

DOC = (Path(__file__).resolve().parent.parent / "docs" / "events.md").read_text()


def table_rows(heading: str) -> dict[str, str]:
    """The first table after `heading`: first column -> second column."""
    section = DOC.split(heading, 1)[1]
    rows = {}
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = cells[1]
        elif rows and not line.startswith("|"):
            break
    return rows


def test_the_version_is_the_codes():
    assert re.search(rf"contract version {re.escape(EVENTS_VERSION)}\b", DOC)


def test_every_envelope_field_is_documented_as_in_the_code():
    rows = table_rows("## Envelope")
    assert rows.pop("field") == "meaning"
    assert rows == ENVELOPE
    built = envelope(Event.CLIENT_DERIVED, cliente_id=1, estado="derivado", asesor_id=2, ts=1.0)
    assert list(built) == list(ENVELOPE)


def test_every_event_and_control_event_is_documented():
    events = table_rows("## Events (server → client)")
    assert set(events) - {"event"} == {e.value for e in Event}
    control = table_rows("Control events")
    assert {k: v for k, v in control.items() if k != "event"} == CONTROL_EVENTS


def test_every_room_is_documented():
    rooms = table_rows("## Rooms")
    assert {GTR_ROOM, ASESOR_ROOM, "asesor-{id}"} <= set(rooms)
