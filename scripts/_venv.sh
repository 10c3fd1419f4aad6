# Sourced by the scripts: a project virtualenv (.venv) with the package and its dev extras
# installed, made by $PYTHON (default python3, 3.11 or later). scripts/test makes its own, one
# per tested Python/Django combination.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source "$ROOT/scripts/_python.sh"
PYTHON="${PYTHON:-python3}"
if ! python_is "$PYTHON" 3; then
    echo "tigateway-channels needs Python 3.11 or later as '$PYTHON' (set PYTHON=...)." >&2
    exit 1
fi
ensure_venv .venv "$PYTHON" 3
export PATH="$ROOT/.venv/bin:$PATH"
