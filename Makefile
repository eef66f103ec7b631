# The two commands a newcomer needs: `make demo` and `make test`. Each sets itself up.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SERVER_PY := .venv-server/bin/python

.PHONY: setup demo test bench lint run clean

setup:
	@scripts/setup.sh all

demo: setup
	$(PY) -m kiosk.cli demo --output demo-output

# Two stages, each test once: tests/server in .venv-server (the server extra alone, no Kivy), then
# the rest in .venv. The second runs whatever the first gives; make fails if either failed.
test: setup
	@echo "== make test 1/2: tests/server in .venv-server (server extra only)"; \
	$(SERVER_PY) -m pytest -q tests/server; server=$$?; \
	echo "== make test 2/2: the rest of tests/ in $(VENV)"; \
	$(PY) -m pytest -q tests --ignore=tests/server; rest=$$?; \
	echo "== make test: server stage exit $$server, main stage exit $$rest"; \
	[ $$server -eq 0 ] && [ $$rest -eq 0 ]

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
