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

# Three stages side by side, each test once: tests/server in .venv-server (the server extra alone,
# no Kivy); and the rest in $(VENV) as two processes split by marker (tests/conftest.py marks what
# reaches Kivy or pcscd through a fixture): the Kivy window and the one virtual card reader
# ("ui or pcsc"), and everything else. Most tests wait on servers and devices, so the three share
# the machine's cores well. The two held stages' output is shown after; make fails if any failed.
DEVICES := ui or pcsc
test: setup
	@server_log=$$(mktemp); devices_log=$$(mktemp); \
	echo "== make test: tests/server in .venv-server, and the rest in $(VENV) as two processes (Kivy + pcscd, and everything else), side by side"; \
	$(SERVER_PY) -m pytest -q -p no:cacheprovider tests/server > $$server_log 2>&1 & server_pid=$$!; \
	$(PY) -m pytest -q -p no:cacheprovider tests --ignore=tests/server -m "$(DEVICES)" > $$devices_log 2>&1 & devices_pid=$$!; \
	$(PY) -m pytest -q tests --ignore=tests/server -m "not ($(DEVICES))"; rest=$$?; \
	wait $$devices_pid; devices=$$?; wait $$server_pid; server=$$?; \
	echo "== Kivy and pcscd tests ($(DEVICES)) in $(VENV):"; cat $$devices_log; \
	echo "== tests/server in .venv-server:"; cat $$server_log; rm -f $$server_log $$devices_log; \
	echo "== make test: server stage exit $$server, Kivy/pcscd stage exit $$devices, rest exit $$rest"; \
	[ $$server -eq 0 ] && [ $$devices -eq 0 ] && [ $$rest -eq 0 ]

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
