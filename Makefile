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

# Two stages side by side, each test once: tests/server in .venv-server (the server extra alone,
# no Kivy; its output is held and shown after), and the rest in .venv. Most tests wait on servers
# and devices, so the two share the machine's cores well. make fails if either failed.
test: setup
	@log=$$(mktemp); \
	echo "== make test: tests/server in .venv-server (server extra only) and the rest in $(VENV), side by side"; \
	$(SERVER_PY) -m pytest -q -p no:cacheprovider tests/server > $$log 2>&1 & pid=$$!; \
	$(PY) -m pytest -q tests --ignore=tests/server; rest=$$?; \
	wait $$pid; server=$$?; \
	echo "== tests/server in .venv-server:"; cat $$log; rm -f $$log; \
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
