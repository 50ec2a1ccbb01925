# medsettle — the two commands: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit integration e2e e2e-faked faketime chromium protos check-protos clean-data venv bench loadtest chaos audit clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The one pinned command that generates the committed protobuf code (grpcio-tools==1.85.1).
protos: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=protos --pyi_out=protos --grpc_python_out=protos \
		$$(cd protos && find medsettle -name '*.proto' | sort)

run: $(STAMP)
	$(BIN)/medsettle demo

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

# ruff, as configured in pyproject.toml ([tool.ruff]).
# mypy as configured in pyproject.toml: strict for the engine, rules, domain modules and
# repositories; every other module checked.
typecheck: $(STAMP)
	$(BIN)/mypy

lint: $(STAMP)
	$(BIN)/ruff check .

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

e2e: $(STAMP) chromium
	$(BIN)/python -m pytest -q tests/e2e

# libfaketime for the any-date checks (Debian's faketime; installed here when missing).
faketime:
	@command -v faketime >/dev/null 2>&1 || { \
		echo "installing Debian's faketime (libfaketime) for the any-date tests"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq faketime >/dev/null; }

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; it downloads no
# browser of its own). Installed here when missing.
chromium:
	@test -x /usr/bin/chromium || { \
		echo "installing Debian's chromium for the browser tests"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The e2e tier at two faked dates: 10:00 Beijing (POSIX TZ CST-8) on a working day in January, and
# 23:30 UTC on 31 December (already 1 January in Beijing). Each faked date gets test servers of its own (tests/conftest.py).
e2e-faked: $(STAMP) faketime chromium
	TZ=CST-8 faketime '2027-01-05 10:00:00' $(BIN)/python -m pytest -q -p no:cacheprovider tests/e2e
	TZ=UTC faketime '2028-12-31 23:30:00' $(BIN)/python -m pytest -q -p no:cacheprovider tests/e2e

bench: $(STAMP)
	$(BIN)/python -m loadtest.bench

loadtest: $(STAMP)
	$(BIN)/python -m loadtest.run

# The fault matrix (issue #17) against a suite of its own (.data/chaos, gateway 48080); not part of
# `make test`. Options: `make chaos CHAOS_ARGS="--seed 5 --faults kill-settlement,duplicate-storm"`.
chaos: $(STAMP)
	$(BIN)/python -m loadtest.chaos $(CHAOS_ARGS)

audit: $(STAMP)
	$(BIN)/medsettle audit

clean-data: $(STAMP)
	$(BIN)/medsettle clean-data

clean:
	rm -rf $(VENV) build *.egg-info
