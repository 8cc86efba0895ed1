#!/usr/bin/env bash
# Creates or refreshes .venv with everything annotator needs; safe to run again (a stamp skips pip when
# pyproject.toml has not changed). Sourced by run.sh and test.sh; nothing is installed by hand.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi

stamp="$venv/.annotator-installed"
want="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    # The machine's pip config points at a local CPU torch wheel whose ABI torchvision's compiled ops do not
    # match ("operator torchvision::nms does not exist"). Ignore that config so the registry's torch build,
    # the one torchvision 0.28.0 was built against, is installed.
    PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= "$venv/bin/python" -m pip install --quiet --upgrade pip
    PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= "$venv/bin/python" -m pip install --quiet -e "$root[test,ray,openvino]"
    echo "$want" > "$stamp"
fi

# Qt's xcb platform plugin (a real window) needs a few X libraries that a bare Debian lacks.
if [ "${QT_QPA_PLATFORM:-}" != "offscreen" ] && [ "${ANNOTATOR_SKIP_APT:-}" = "" ]; then
    plugin="$venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/libqxcb.so"
    if [ -f "$plugin" ] && ldd "$plugin" 2>/dev/null | grep -q "not found"; then
        if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-image0 libxcb-render-util0 \
                libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1 libdbus-1-3 >/dev/null
        else
            echo "annotator: Qt needs X libraries: apt-get install libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0" >&2
        fi
    fi
fi
