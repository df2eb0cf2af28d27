"""Issue 14 items 8 and 9 on real processes: the web process learns of a
deactivation, a password change or a logout only from the database, and
closes the open sockets within the bound."""

from __future__ import annotations

import pytest

from tests import revocation_cases as cases

pytestmark = [pytest.mark.stack, pytest.mark.invariants]


def test_deactivated_advisor_socket_is_closed_and_gets_no_push(factory, api, listen, db):
    took = cases.deactivated_advisor_socket_is_closed(factory, api, listen, db)
    print(f"deactivated advisor's socket closed after {took:.2f}s")


def test_logged_out_token_is_refused_on_rest_and_socket(factory, api, listen):
    took = cases.logged_out_token_is_refused(factory, api, listen)
    print(f"logged-out socket closed after {took:.2f}s")


def test_logout_revokes_that_token_only(factory, api, listen):
    cases.logout_revokes_that_token_only(factory, api, listen)


def test_password_change_revokes_older_tokens(factory, api, listen, db):
    took = cases.password_change_revokes_older_tokens(factory, api, listen, db)
    print(f"socket of the old password's token closed after {took:.2f}s")
