#!/usr/bin/env bash
# Set up (first time only) and run the whole test suite, offscreen, in ANNOTATOR_TEST_WORKERS processes
# (2; each test file in one of them, so its module fixtures are made once). Extra arguments go to pytest
# (`-n 0`: in this process).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export QT_QPA_PLATFORM=offscreen
bash "$here/packaging/setup.sh"
cd "$here"
exec "$here/.venv/bin/python" -m pytest -n "${ANNOTATOR_TEST_WORKERS:-2}" --dist loadfile "$@"
