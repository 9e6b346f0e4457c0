#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine, as root or as a user with sudo-free pg_virtualenv:
#   1. installs what it needs (Debian packages),
#   2. builds and installs the extension,
#   3. unit-tests the pure C++ core (GoogleTest, with ASan/UBSan),
#   4. in a throwaway cluster (pg_virtualenv): pg_regress (make installcheck), then every pgTAP file
#      under test/pgtap/ in a fresh database of its own, then the integration scripts under
#      test/integration/.
# Prints "N passed, N failed" last and exits non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

. test/lib/install_deps.sh
install_deps

make -s clean >/dev/null
make -s -j2 2>&1 | grep -E 'warning|error' && { echo "build emitted warnings or errors" >&2; exit 1; } || true
make -s install >/dev/null

make -s unit

export FA_ROOT="$ROOT"
pg_virtualenv -t -v 15 bash test/lib/in_cluster.sh
