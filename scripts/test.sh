#!/usr/bin/env bash
# Runs the test tiers over the compiled tests: unit (milliseconds), sim (whole cluster in one
# process), integration (real processes on loopback), fuse (real mounts), scale (a cluster holding
# tens of thousands of blocks), hosts (processes on hosts made of network namespaces; needs root),
# web (the status page in headless Chromium).
# `all` runs every tier.
# Tiers that start servers run one file at a time: they share the default spare ports. The unit
# and simulation tiers run in one process each and start no cluster: two files at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
tier="${1:-all}"

run_tier() {
  local name="$1"; shift
  local dir="dist/test/$name"
  [ -d "$dir" ] || return 0
  [ -n "$(find "$dir" -name '*.test.js' -print -quit)" ] || return 0
  echo "== $name tests" >&2
  node --test "$@" "$dir"
}

case "$tier" in
  unit) run_tier unit --test-concurrency=2 ;;
  sim) run_tier sim --test-concurrency=2 ;;
  integration) run_tier integration --test-concurrency=1 ;;
  fuse) run_tier fuse --test-concurrency=1 ;;
  scale) run_tier scale --test-concurrency=1 ;;
  hosts) run_tier hosts --test-concurrency=1 ;;
  web) run_tier web --test-concurrency=1 ;;
  all)
    # The in-process tiers two files at a time (nothing else runs then, so each has a core); the
    # tiers that start servers one file at a time. Both run; the first failure decides the code.
    tiers() { for t in "$@"; do [ -d "dist/test/$t" ] && echo "dist/test/$t"; done; }
    code=0
    node --test --test-concurrency=2 $(tiers unit sim) || code=$?
    node --test --test-concurrency=1 $(tiers integration fuse scale hosts web) || { [ "$code" -ne 0 ] || code=$?; }
    exit "$code"
    ;;
  *) echo "usage: scripts/test.sh [unit|sim|integration|fuse|scale|hosts|web|all]" >&2; exit 2 ;;
esac
