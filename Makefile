# The two commands: `make run` (the whole system) and `make test` (the tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: install run test lint clean bench bench-smoke soak

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	$(PY) scripts/devstack.py

# The real-server socket tests run again on eventlet (the other async mode we
# support; tests/test_realtime.py and the web SIGTERM test run under both by themselves).
EVENTLET_TESTS ?= tests/test_session_flow.py tests/test_auth_and_sockets.py

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)
	TEST_ASYNC_MODE=eventlet $(PY) -m pytest -q $(EVENTLET_TESTS)

# The engine at call-center scale (README "Performance"): the real system driven
# by real clients; writes bench/results/scale.{json,png,md}. The default is the
# committed full run (~35 min); `python -m bench.scale --help` for the options.
BENCH_ARGS ?= --sessions 10000 --gtr 50 --duration 840 --time-factor 1 \
	--heartbeat-interval 150 --handling 0.5 1.0 --start-rate 40 \
	--strategy-sessions 2000 --strategy-time-factor 5 --strategy-heartbeat-interval 30 \
	--strategy-duration 240
bench: $(STAMP)
	$(PY) -m bench.scale $(BENCH_ARGS)

# The same harness on a small N (~1.5 min); make test runs it too (tests/test_bench_smoke.py).
bench-smoke: $(STAMP)
	$(PY) -m bench.scale --smoke --out-dir $(or $(BENCH_OUT),bench/results)

# The soak (README "Reliability"): 2,000 concurrent sessions for 30 minutes with
# random faults (kill -9 of the worker or a web process by default; add
# redis,mysql to restart the run's private servers). Not in CI: make test runs a
# 3-minute version (tests/test_soak.py). `python -m bench.soak --help` for the options.
SOAK_ARGS ?= --sessions 2000 --duration 1800 --faults worker,web
soak: $(STAMP)
	$(PY) -m bench.soak $(SOAK_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
