#!/usr/bin/env bash
# The newcomer's demo, on a fresh Debian machine: installs what is needed, builds and installs the
# extension and the offline verifier, starts a throwaway PostgreSQL 15 cluster (on $PGPORT if set,
# else the first free port from 5440), creates the platform's "LabSession" table and the extension,
# sends one real GitHub push payload through record_push twice (a delivery and GitHub's redelivery
# of it), prints the attempt, the audit rows and verify_chain(), signs a checkpoint with a fresh
# Ed25519 key, fetches the attempt's receipt and checks it with the offline verifier, as a student
# would, and prints the link to the receipt page the platform would show them.
set -euo pipefail
cd "$(dirname "$0")/.."

. test/lib/install_deps.sh
install_deps
make -s -j2 >/dev/null
make -s install >/dev/null
make -s verifier >/dev/null

export FA_ROOT=$(pwd)
export FA_DEMO_DIR=$(mktemp -d)
trap 'rm -rf "$FA_DEMO_DIR"' EXIT
chmod 711 "$FA_DEMO_DIR"   # the server (OS user postgres) reads the signing key from here
pg_virtualenv -t -v 15 -c "--port=${PGPORT:-$(free_port)}" bash examples/demo_session.sh
