# Switchboard: `make run` starts the service, `make test` runs the whole suite.
# Both create .venv and install what they need first (pip only: the torch pin needs it).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SWITCHBOARD_ADMIN_USERNAME ?= admin
SWITCHBOARD_ADMIN_PASSWORD ?= switchboard-change-me
export SWITCHBOARD_ADMIN_USERNAME SWITCHBOARD_ADMIN_PASSWORD
export LITELLM_LOCAL_MODEL_COST_MAP = True
export HF_HUB_OFFLINE = 1
export TRANSFORMERS_OFFLINE = 1

.PHONY: run test lint bench install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

# Real components the tests start from npm: an OpenID provider and the MCP Inspector CLI.
NODE_TOOLS := tests/node/node_modules/.installed
$(NODE_TOOLS): tests/node/package-lock.json
	npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev $(NODE_TOOLS)

run: install
	$(BIN)/switchboard serve

# PYTHONDONTWRITEBYTECODE is unset for the tests: with it, pytest caches no assertion rewrites
# (nor Python the app's bytecode), and every process of every pass compiles them all again
# (~5 CPU-s a worker). pytest's cached rewrites (tests/**/__pycache__, git-ignored) carry a hash
# of their source and are checked against it at each import, so an edit is never missed.
# The latency pass runs first, on a quiet machine: right after the parallel pass it failed once in
# CI (health p99 57 ms against 50; 32-41 ms in three runs alone), most likely measuring what that
# pass leaves running (writeback of thousands of test databases, PostgreSQL's own). It collects
# only the files that mark tests `solo` (found by grep): collecting all ~1,330 tests to keep 6
# took ~10 of its ~40 s, importing every test module's libraries.
test: install-dev
	@unset PYTHONDONTWRITEBYTECODE; url="$$SWITCHBOARD_TEST_POSTGRES_URL"; started=""; \
	if [ -z "$$url" ] && [ -x .ci/postgres.sh ]; then \
		url=$$(bash .ci/postgres.sh) && started=1 || url=""; \
	fi; \
	export SWITCHBOARD_TEST_POSTGRES_URL="$$url"; status=0; \
	echo "== latency tests, alone on the machine =="; \
	solo=$$(grep -rlE 'mark\.solo' tests --include='test_*.py'); \
	$(BIN)/python -m pytest -n 0 -m solo $(if $(PYTEST_ARGS),,$$solo) $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 0 ]; then \
		$(BIN)/python -m pytest -n auto --dist loadgroup -m "not solo" $(PYTEST_ARGS) || status=$$?; \
	fi; \
	if [ $$status -eq 0 ] && [ -n "$$url" ]; then \
		echo "== again on PostgreSQL: the tests that reach a database (billing ran on both already) =="; \
		SWITCHBOARD_TEST_DATABASE=postgres $(BIN)/python -m pytest -n auto --dist loadgroup \
			-m "not solo" --ignore=tests/billing --ignore=tests/architecture $(PYTEST_ARGS) || status=$$?; \
	fi; \
	if [ -n "$$started" ]; then bash .ci/postgres.sh --stop "$$url"; fi; \
	exit $$status

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install-dev
	$(BIN)/python bench/gateway.py --proxy

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache tests/node/node_modules
