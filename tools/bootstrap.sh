#!/usr/bin/env bash
# Install everything tlstudio needs on a fresh Debian/Ubuntu machine:
# the system libraries Qt loads, a virtualenv in .venv, and the package with
# its test, offline and onnx extras. Safe to run again: each step is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv

# Shared libraries PySide6 needs at run time (offscreen and xcb platforms).
QT_DEBS="libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 \
libglib2.0-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 \
libxcb-randr0 libxcb-render-util0 libxcb-image0"
# The browser of tests/core/report/test_browser.py, which opens a run report in headless
# Chromium through Playwright (Playwright's own browser download needs the internet).
BROWSER_DEBS="chromium"

if command -v dpkg-query >/dev/null 2>&1; then
    missing=""
    for p in $QT_DEBS $BROWSER_DEBS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
        echo "bootstrap: installing system packages (Qt libraries, Chromium):$missing"
        $SUDO apt-get update -q
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating $VENV"
    "$PY" -m venv "$VENV"
fi

# Reinstall only when pyproject.toml changed since the last install.
stamp="$VENV/.tlstudio-installed"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "bootstrap: installing tlstudio and its dependencies into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".[test,offline,onnx,litert]"
    echo "$want" > "$stamp"
fi
