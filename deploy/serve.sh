#!/usr/bin/env bash
# Start N Streamlit replicas of CNN Viz behind HAProxy on this machine: deploy/serve.sh N [more options]
# (see python -m deploy.serve --help). Ctrl-C stops everything by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
exec "$PY" -m deploy.serve --replicas "${1:-2}" "${@:2}"
