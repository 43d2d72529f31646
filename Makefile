# mailwarden: the two commands a new user needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo serve test test-slow test-all lint bench clean

$(STAMP): pyproject.toml sandbox/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e './sandbox[test]' -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Install everything and run the demo against the sandbox tenant (local Prefect server, SQLite).
demo: $(STAMP)
	$(PY) -m deployments.cli demo

## Serve every deployment, the sandbox, the consent callback and the store until Ctrl-C.
serve: $(STAMP)
	$(PY) -m deployments.cli serve

## Install and run the default test suite (starts a throwaway PostgreSQL when one is installed).
test: $(STAMP)
	./scripts/with-postgres.sh $(PY) -m pytest -q $(PYTEST_ARGS)
	cd sandbox && ../$(PY) -m pytest -q -p no:cacheprovider

## The slow whole-system suites (CI runs them too).
test-slow: $(STAMP)
	./scripts/ensure-chromium.sh
	./scripts/with-postgres.sh $(PY) -m pytest -q -m slow $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo 'no slow tests selected'; exit 0; fi; exit $$rc

test-all: test test-slow

## ruff, mypy and the import contracts of pyproject.toml, then the sandbox with its own
## configuration in sandbox/pyproject.toml (CI runs this first).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	cd sandbox && $(abspath $(VENV))/bin/ruff check .
	cd sandbox && $(abspath $(VENV))/bin/mypy

## Every benchmark, figures printed as one table.
bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .data build *.egg-info
