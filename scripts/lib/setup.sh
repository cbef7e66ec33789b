# Sourced by scripts/run and scripts/test: make .venv and install the project when anything changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

need_python() {
  if ! command -v "$PY" >/dev/null 2>&1; then
    echo "error: $PY not found; install Python 3.11 or newer" >&2; exit 1
  fi
  "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
    echo "error: Python 3.11 or newer is required ($("$PY" --version))" >&2; exit 1; }
}

setup_venv() {
  local extras="$1"   # e.g. "" or "test"
  need_python
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating virtual environment in .venv"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
  fi
  local stamp="$VENV/.roset-installed-$extras"
  local digest
  digest="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    echo "==> installing roset-local${extras:+ [$extras]} and its dependencies"
    local spec="$ROOT"
    [ -n "$extras" ] && spec="$ROOT[$extras]"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec"
    echo "$digest" > "$stamp"
  fi
}
