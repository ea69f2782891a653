#!/usr/bin/env bash
# Quick start: install, build the demo workspace if missing, start the dashboard on localhost.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/python -m core data fetch-snli --quiet >/dev/null || echo "(SNLI not fetched: bundled:snli will be unavailable)"
.venv/bin/python -m core demo build
exec .venv/bin/streamlit run app.py --server.address 127.0.0.1 "$@"
