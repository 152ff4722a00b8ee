#!/usr/bin/env bash
# Idempotent set-up: a project-local .venv (unless a virtual environment is already active) with the
# pinned requirements.txt and cvp installed in editable mode. A second run only checks a stamp.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${VIRTUAL_ENV:-}" ]; then PY="$VIRTUAL_ENV/bin/python"; else
  [ -x .venv/bin/python ] || python3 -m venv .venv
  PY="$PWD/.venv/bin/python"
fi
stamp="$("$PY" -c 'import sys;print(sys.prefix)')/.cvp-installed"
want=$(cat requirements.txt setup.py settings.ini | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing pinned requirements into $("$PY" -c 'import sys;print(sys.prefix)') (once)"
  "$PY" -m pip install -q --disable-pip-version-check -r requirements.txt
  "$PY" -m pip install -q --disable-pip-version-check --no-deps -e .
  "$PY" -m ipykernel install --sys-prefix --name python3 --display-name python3 >/dev/null 2>&1 || true
  echo "$want" > "$stamp"
fi
echo "$PY"
