# The two commands: `make run` (the whole system) and `make test` (the tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: install run test test-fast lint clean bench bench-smoke bench-timers soak web web-test web-contract

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP) web
	$(PY) scripts/devstack.py

# The web UI (web/dist, served by the web process and by nginx) when Node is
# present; without it, say how (the API and the tests without a browser still
# work). Under ALBRU_REQUIRE_BROWSER=1 (CI) a missing Node is an error.
NPM := $(shell command -v npm 2>/dev/null)
WEB_SRC := $(shell find web/src web/index.html web/vite.config.ts web/tsconfig.json -type f 2>/dev/null)

web:
ifeq ($(NPM),)
	@echo "web: Node.js (npm) not found, so the web UI is not built; install Node 20+ and run 'make web'."
	@if [ -n "$$ALBRU_REQUIRE_BROWSER" ]; then echo "web: ALBRU_REQUIRE_BROWSER is set: failing" >&2; exit 1; fi
else
	@$(MAKE) --no-print-directory web/dist/index.html
endif

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SRC)
	cd web && npm run build

# The front end's unit tests (Vitest), when Node is present.
web-test: web
ifneq ($(NPM),)
	cd web && npm test
endif

# After an API or event change: rewrite the committed contract the UI is typed
# against (web/openapi.json, web/src/api/*.gen.ts); tests/test_web_contract.py
# fails until this is run and committed.
web-contract: $(STAMP) web/node_modules/.package-lock.json
	$(PY) scripts/web_contract.py
	cd web && npm run gen:api

# The real-server socket tests run again on eventlet (the other async mode we
# support; tests/test_realtime.py and the web SIGTERM test run under both by themselves).
EVENTLET_TESTS ?= tests/test_session_flow.py tests/test_auth_and_sockets.py

# Two tiers (pytest.ini, tests/conftest.py): the fast one builds the app in the
# test process (< 1 minute, no process spawned); `stack` tests need the real
# web + worker + beat, or processes of their own. `make test` runs the fast
# tier first, so a broken rule fails in seconds.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not stack" $(PYTEST_ARGS)

test: $(STAMP) web
	@$(MAKE) --no-print-directory test-fast
	$(PY) -m pytest -m stack $(PYTEST_ARGS)
	TEST_ASYNC_MODE=eventlet $(PY) -m pytest -q -m stack $(EVENTLET_TESTS)
	@$(MAKE) --no-print-directory web-test

# The engine at call-center scale (README "Performance"): the real system driven
# by real clients; writes bench/results/scale.{json,png,md} and the generated
# block of docs/performance.md (bench/report.py). The default is the committed
# full run at the seed's cadence (~40 min): 10,000 sessions, a heartbeat every
# 30 s, 30 minutes, on two web processes behind nginx with production's config
# (one gevent process cannot carry it on 2 cores; needs an nginx binary:
# apt-get install nginx-light). The timeout strategies' comparison: add
# `--phases strategies --strategy-sessions 2000 ...`; `python -m bench.scale --help`.
BENCH_ARGS ?= --sessions 10000 --gtr 50 --duration 1800 --time-factor 1 \
	--heartbeat-interval 30 --handling 0.5 1.0 --start-rate 40 --loadgen-procs 2 \
	--webs 2 --phases floor engine
bench: $(STAMP)
	$(PY) -m bench.scale $(BENCH_ARGS)

# The same harness on a small N (~1.5 min); make test runs it too (tests/test_bench_smoke.py).
bench-smoke: $(STAMP)
	$(PY) -m bench.scale --smoke --out-dir $(or $(BENCH_OUT),bench/results)

# Session timers at scale (docs/performance.md, issue 19): 100,000 session
# timeouts on the real worker and beat, timers only (no HTTP, no web), the
# worker killed at the peak; ~14 min; writes bench/results/timers.{json,md}.
# `python -m bench.timers --help` for the options.
TIMERS_ARGS ?=
bench-timers: $(STAMP)
	$(PY) -m bench.timers $(TIMERS_ARGS)

# The soak (README "Reliability"): 2,000 concurrent sessions for 30 minutes with
# random faults: kill -9 of the worker or a web process, SIGKILL and restart of
# the run's own private Redis and MariaDB. Not in CI: make test runs a
# 3-minute version (tests/test_soak.py). `python -m bench.soak --help` for the options.
SOAK_ARGS ?= --sessions 2000 --duration 1800 --faults worker,web,redis,mysql
soak: $(STAMP)
	$(PY) -m bench.soak $(SOAK_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache

# The production stack on a real Docker engine (docs/deploy.md, "The smoke"):
# builds or reuses the images (stand-ins from deploy/standins/ where no registry
# answers), `up -d --build` with fresh secrets in an env file outside the tree,
# drives everything through nginx, kills a web replica, `stop`, and always
# `down -v`. Figures printed and written to COMPOSE_SMOKE_OUT. Needs a running
# engine (.ci/run starts one) and docker compose v2 or docker-compose v1.
COMPOSE_SMOKE_OUT ?= /tmp/albru-compose-smoke.json
COMPOSE_SMOKE_ARGS ?=
.PHONY: compose-smoke
compose-smoke: $(STAMP)
	$(PY) scripts/compose_smoke.py --out $(COMPOSE_SMOKE_OUT) $(COMPOSE_SMOKE_ARGS)
