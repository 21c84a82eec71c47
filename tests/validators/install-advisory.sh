#!/bin/sh
# Installs the advisory export validators into the cache directory given as $1
# (target/validators under `make test`):
#   advisory-py/   a Python venv with check-jsonschema (OSV, against the schema in
#                  ../shared/schemas/osv/, beside the repository) and cvelib (`cve validate`, CVE Record 5.1.1)
#   advisory-node/ @secvisogram/csaf-validator-lib (CSAF 2.0 strict schema + mandatory tests),
#                  run by tests/validators/csaf-validate.mjs
# Prints nothing when everything is already there. Pinned versions: see
# tests/validators/README.md.
set -eu
cache=${1:?usage: install-advisory.sh CACHE_DIR}
mkdir -p "$cache"
py="$cache/advisory-py"
node="$cache/advisory-node"

if [ ! -x "$py/bin/check-jsonschema" ] || [ ! -x "$py/bin/cve" ]; then
    echo "installing check-jsonschema 0.39.0 and cvelib 1.8.0 into $py"
    python3 -m venv "$py"
    "$py/bin/pip" install --quiet --disable-pip-version-check \
        check-jsonschema==0.39.0 cvelib==1.8.0
fi

if [ ! -f "$node/node_modules/@secvisogram/csaf-validator-lib/package.json" ]; then
    echo "installing @secvisogram/csaf-validator-lib 2.0.10 into $node"
    mkdir -p "$node"
    (cd "$node" && { [ -f package.json ] || printf '{"name":"disclosured-validators","private":true}\n' > package.json; } \
        && npm install --silent --no-audit --no-fund @secvisogram/csaf-validator-lib@2.0.10 >/dev/null)
fi
