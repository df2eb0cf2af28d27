"""tests/heartbeat_cases.py on real processes (the web process under gevent)."""

from __future__ import annotations

import pytest

from tests import heartbeat_cases as cases

pytestmark = [pytest.mark.stack, pytest.mark.invariants]


def test_deactivated_advisor_heartbeats_are_refused(factory, api, listen, db):
    cases.deactivated_advisor_heartbeats_are_refused(factory, api, listen, db)


def test_logged_out_token_heartbeats_are_refused(factory, api, listen):
    cases.logged_out_token_heartbeats_are_refused(factory, api, listen)
