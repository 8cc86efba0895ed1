#!/usr/bin/env bash
# Set up (first time only) and start the annotator GUI on PATH, or on the bundled sample images.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/packaging/setup.sh"
exec "$here/.venv/bin/annotator" open "$@"
