#!/bin/sh
# sectxt (PyPI, DigitalTrustCenter; the checker internet.nl uses) for the security.txt
# the gateway publishes. Installed into a virtual environment under the cache
# directory given as $1; tests run "$1/sectxt/bin/sectxt FILE".
set -eu
cache=${1:?usage: install-sectxt.sh CACHE_DIR}
venv="$cache/sectxt"
version=0.9.8
if [ -x "$venv/bin/sectxt" ] && "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('sectxt') != '$version')" 2>/dev/null; then
    exit 0
fi
mkdir -p "$cache"
rm -rf "$venv"
if ! python3 -m venv "$venv"; then
    echo "install-sectxt.sh: python3 cannot make a virtual environment: install python3-venv (apt-get install python3-venv)" >&2
    exit 1
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "sectxt==$version"
"$venv/bin/sectxt" --help >/dev/null
