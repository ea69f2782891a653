#!/usr/bin/env bash
# The whole test suite (installs what it needs first). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export TOKENIZERS_PARALLELISM=false
.venv/bin/python -m pytest -q "$@"
