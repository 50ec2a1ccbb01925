# medsettle — the two commands: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test unit integration e2e protos check-protos clean-data venv bench loadtest audit clean

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

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

e2e: $(STAMP)
	$(BIN)/python -m pytest -q tests/e2e

bench: $(STAMP)
	$(BIN)/python -m loadtest.bench

loadtest: $(STAMP)
	$(BIN)/python -m loadtest.run

audit: $(STAMP)
	$(BIN)/medsettle audit

clean-data: $(STAMP)
	$(BIN)/medsettle clean-data

clean:
	rm -rf $(VENV) build *.egg-info
