#!/usr/bin/env bash
# Create (or reuse) ./.venv and install the project into it. Sourced by run_demo.sh and test.sh.
# EXTRAS selects optional dependency groups (e.g. EXTRAS=test).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON_BIN="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if ! "$PYTHON_BIN" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "facial_anomaly needs Python 3.11 (mediapipe 0.10.21 and the torch pins); found: $("$PYTHON_BIN" --version)" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON_BIN" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
target="."
[ -n "${EXTRAS:-}" ] && target=".[${EXTRAS}]"
.venv/bin/python -m pip install --quiet -e "$target"
# Telemetry off and no network at run time.
export DO_NOT_TRACK=1 KEDRO_DISABLE_TELEMETRY=true
