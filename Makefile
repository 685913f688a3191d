# Two entry points for a newcomer: `make run` and `make test`. Both install what they need first;
# the second time they only check stamps, so they are fast.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP_PY  := $(VENV)/.installed
STAMP_JS  := node_modules/.installed

.PHONY: setup system-packages run test lint bench clean

setup: $(STAMP_PY) $(STAMP_JS) system-packages

$(STAMP_PY): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

$(STAMP_JS): package.json package-lock.json
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Debian's packages, each installed once if its command is missing: redis-server backs the shared risk
# book's tests, prometheus (with promtool) the metrics integration test (tests/metrics/), openssl makes
# the SMTP test server's certificate, chromium opens the backtest report and the status page in tests.
SYSTEM_PACKAGES := redis-server prometheus openssl chromium
system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do command -v $$p >/dev/null || echo $$p; done); \
	[ -z "$$missing" ] || { \
	  echo "installing" $$missing "(Debian packages)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; }

run: setup
	@$(PY) run.py $(ARGS)

lint: setup
	@$(PY) -m ruff check .
	@$(VENV)/bin/lint-imports --no-cache >/dev/null || $(VENV)/bin/lint-imports --no-cache
	@$(PY) -m mypy --no-error-summary protocol supervision actors devnet run.py $$(ls -d adapters bot amm risk persistence rpc console execution performance probes backtest monitoring alerting chainfeed contracts statuspage 2>/dev/null)

test: lint
	@$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .hypothesis
