#!/usr/bin/env bash
# Idempotent set-up: missing Debian packages, a virtual environment in .venv, the project in it;
# with "all" also .venv-server (the server extra alone plus test tools) for make test's server stage.
# A second run skips what is done. Usage: scripts/setup.sh [extras]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-all}"

APT_PACKAGES=(
  xvfb xauth xdotool libgl1 libgl1-mesa-dri libglx-mesa0 libegl-mesa0 libmtdev1
  fonts-wqy-microhei
  chromium  # the console's browser tests (Playwright drives /usr/bin/chromium)
  pcscd libpcsclite-dev pcsc-tools vsmartcard-vpcd
  socat postgresql
  espeak-ng  # the spoken guidance, rendered below (devices.voice_render)
  python3-venv  # .venv, .venv-server, and the fresh venv tests/server/test_server_only_install.py makes
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # pcscd from Debian is socket-activated by systemd; we start our own when needed.
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
STAMP=".venv/.installed-$EXTRAS"
HASH="$(cat pyproject.toml constraints.txt 2>/dev/null | sha256sum | cut -c1-16)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ]; then
  echo "setup: installing the project into .venv ($EXTRAS)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[$EXTRAS]"
  echo "$HASH" > "$STAMP"
fi

# spoken guidance: each voice prompt in Mandarin and English, into build/voice (gitignored);
# a second run renders only what is missing or whose catalog text changed
.venv/bin/python -m devices.voice_render build/voice

# make test's server stage: the record server's tests run in a venv holding only the server extra
# (no Kivy, no device libraries) and the test tools. Editable, so it tests the working tree.
if [ "$EXTRAS" = "all" ]; then
  if [ ! -x .venv-server/bin/python ]; then
    echo "setup: creating .venv-server"
    "$PY" -m venv .venv-server
  fi
  STAMP=".venv-server/.installed-server"
  HASH="$(cat pyproject.toml constraints.txt tests/server/requirements.txt | sha256sum | cut -c1-16)"
  if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ]; then
    echo "setup: installing the server extra and its test tools into .venv-server"
    .venv-server/bin/python -m pip install -q --upgrade pip
    .venv-server/bin/python -m pip install -q -c constraints.txt -e ".[server]" \
      -r tests/server/requirements.txt
    echo "$HASH" > "$STAMP"
  fi
fi
