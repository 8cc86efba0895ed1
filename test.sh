#!/usr/bin/env bash
# Set up (first time only) and run the whole test suite, offscreen. Extra arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export QT_QPA_PLATFORM=offscreen
bash "$here/packaging/setup.sh"
cd "$here"
exec "$here/.venv/bin/python" -m pytest "$@"
