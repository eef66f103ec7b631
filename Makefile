# The two commands a newcomer needs: `make demo` and `make test`. Each sets itself up.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test bench lint run clean

setup:
	@scripts/setup.sh all

demo: setup
	$(PY) -m kiosk.cli demo --output demo-output

test: setup
	$(PY) -m pytest -q tests

bench: setup
	$(PY) -m bench

lint: setup
	$(VENV)/bin/ruff check library_core kiosk devices server_client record_server config tests bench
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy library_core kiosk/services devices server_client record_server

run: setup
	$(PY) -m kiosk.cli run --config $(or $(CONFIG),config/demo.toml)

clean:
	rm -rf demo-output .pytest_cache .mypy_cache .ruff_cache .hypothesis
