#!/usr/bin/env bash
# Extra set-up for `make bench` (called from bench/__main__.py, idempotent):
# a separate venv bench/results/venv-kinto (git-ignored) with Kinto and its PostgreSQL backend, so Kinto's dependencies
# never touch .venv; and py-spy in .venv for profiling. A second run costs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
KINTO_VENV=bench/results/venv-kinto
KINTO_SPEC="kinto[postgresql]==26.5.0"
MARK="$KINTO_VENV/.installed-26.5.0"
if [[ ! -f "$MARK" ]]; then
    python3 -m venv "$KINTO_VENV"
    "$KINTO_VENV/bin/pip" install --quiet --disable-pip-version-check "$KINTO_SPEC" \
        2> >(grep -v "is ignored: it is neither" >&2)
    touch "$MARK"
fi
if ! .venv/bin/python -c "import py_spy" 2>/dev/null && [[ ! -x .venv/bin/py-spy ]]; then
    .venv/bin/pip install --quiet --disable-pip-version-check py-spy \
        2> >(grep -v "is ignored: it is neither" >&2) || true
fi
