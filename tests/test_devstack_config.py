"""Issue 14 item 11 in the fast tier: the configuration `make run` gives its
processes (scripts/devstack.py), read without starting anything."""

from __future__ import annotations

import stat
import time

import jwt

from core.settings import DEV_JWT_SECRET
from scripts.devstack import LOOPBACK, backoff, dev_config, flower_command

CELERY = ["python", "-m", "celery", "-A", "tasks.worker"]


def test_make_run_listens_on_loopback_with_its_own_secret(tmp_path):
    """`make run` listened on 0.0.0.0 and signed tokens with the published
    DEV_JWT_SECRET: a token forged with it got 200 from anyone on the network."""
    env: dict[str, str] = {}
    dev_config(env, tmp_path)
    assert env["HOST"] == LOOPBACK
    assert env["JWT_SECRET"] != DEV_JWT_SECRET and len(env["JWT_SECRET"]) >= 32
    kept = tmp_path / "jwt-secret"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    again: dict[str, str] = {}
    dev_config(again, tmp_path)
    assert again["JWT_SECRET"] == env["JWT_SECRET"]  # one per install: logins survive a restart
    other: dict[str, str] = {}
    (tmp_path / "elsewhere").mkdir()
    dev_config(other, tmp_path / "elsewhere")
    assert other["JWT_SECRET"] != env["JWT_SECRET"]  # another install, another secret


def test_what_the_user_sets_wins(tmp_path):
    env = {"HOST": "0.0.0.0", "JWT_SECRET": "x" * 40}  # noqa: S104
    dev_config(env, tmp_path)
    assert env == {"HOST": "0.0.0.0", "JWT_SECRET": "x" * 40}  # noqa: S104
    assert not (tmp_path / "jwt-secret").exists()


def test_flower_without_a_login_listens_on_loopback_only():
    assert f"--address={LOOPBACK}" in flower_command({"HOST": "0.0.0.0"}, CELERY)  # noqa: S104
    assert not any(a.startswith("--basic-auth") for a in flower_command({}, CELERY))
    with_login = flower_command({"HOST": "0.0.0.0", "FLOWER_PASSWORD": "pw"}, CELERY)  # noqa: S104
    assert "--basic-auth=admin:pw" in with_login and "--address=0.0.0.0" in with_login


def test_a_token_forged_with_the_published_dev_secret_is_refused_by_make_run_settings(tmp_path):
    from tests.inprocess import settings_from_env

    env: dict[str, str] = {}
    dev_config(env, tmp_path)
    settings = settings_from_env({"APP_ENV": "development", **env})
    forged = jwt.encode({"sub": "1", "role": "gtr", "exp": int(time.time()) + 600},
                        DEV_JWT_SECRET, algorithm="HS256")
    assert settings.jwt_secret != DEV_JWT_SECRET
    try:
        jwt.decode(forged, settings.jwt_secret, algorithms=["HS256"])
    except jwt.InvalidSignatureError:
        pass
    else:
        raise AssertionError("a token signed with DEV_JWT_SECRET verified")


def test_restart_backoff_doubles_up_to_a_bound():
    assert [backoff(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
