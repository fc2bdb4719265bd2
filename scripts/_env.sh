# Sourced by the other scripts: find or build the project's virtual environment.
#
# The venv lives outside the checkout, in ${AGILE_VENV_ROOT:-~/.cache/agile-modeling},
# named by a hash of requirements.lock and the Python version, so every checkout
# with the same pins shares one venv and a change of pins builds a new one.
# The project itself is not installed into it; PYTHONPATH points at the checkout.
set -euo pipefail

AGILE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AGILE_PYTHON="${AGILE_PYTHON:-python3.11}"
command -v "$AGILE_PYTHON" >/dev/null || AGILE_PYTHON=python3

_agile_key() {
  { cat "$AGILE_ROOT/requirements.lock"; "$AGILE_PYTHON" -c 'import sys; print(sys.version)'; } \
    | sha256sum | cut -c1-16
}

agile_venv() {
  local root="${AGILE_VENV_ROOT:-$HOME/.cache/agile-modeling}"
  AGILE_VENV="$root/venv-$(_agile_key)"
  mkdir -p "$root"
  (
    flock 9
    if [ ! -f "$AGILE_VENV/.complete" ]; then
      echo "agile: building the virtual environment in $AGILE_VENV (once per set of pins)" >&2
      rm -rf "$AGILE_VENV"
      "$AGILE_PYTHON" -m venv "$AGILE_VENV"
      # pip warns about every local index folder it skips; keep real errors only.
      "$AGILE_VENV/bin/pip" install --quiet --progress-bar off -r "$AGILE_ROOT/requirements.lock" \
        2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2) >&2
      touch "$AGILE_VENV/.complete"
    fi
  ) 9>"$root/.lock"
  export PYTHONPATH="$AGILE_ROOT${PYTHONPATH:+:$PYTHONPATH}"
  export AGILE_VENV
}

# Headless Chromium for the rater's browser tests, from Debian's packages.
agile_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    echo "agile: installing Debian's chromium and chromium-driver for the browser tests" >&2
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >&2
  fi
}
