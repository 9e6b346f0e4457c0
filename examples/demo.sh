#!/usr/bin/env bash
# The newcomer's demo, on a fresh Debian machine: installs what is needed, builds and installs the
# extension, starts a throwaway PostgreSQL 15 cluster, creates the platform's "LabSession" table and
# the extension, sends one real GitHub push payload through record_push twice (a delivery and
# GitHub's redelivery of it), and prints the attempt, the audit rows and verify_chain().
set -euo pipefail
cd "$(dirname "$0")/.."

. test/lib/install_deps.sh
install_deps
make -s -j2 >/dev/null
make -s install >/dev/null

export FA_ROOT=$(pwd)
pg_virtualenv -t -v 15 -c "--port=$(free_port)" bash examples/demo_session.sh
