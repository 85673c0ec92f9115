#!/usr/bin/env bash
# Runs the test tiers over the compiled tests: unit (milliseconds), sim (whole cluster in one
# process), integration (real processes on loopback), fuse (real mounts), scale (a cluster holding
# tens of thousands of blocks), hosts (processes on hosts made of network namespaces; needs root),
# web (the status page in headless Chromium).
# `all` runs every tier.
# Tiers that start servers run one file at a time: they share the default spare ports.
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
  unit) run_tier unit ;;
  sim) run_tier sim ;;
  integration) run_tier integration --test-concurrency=1 ;;
  fuse) run_tier fuse --test-concurrency=1 ;;
  scale) run_tier scale --test-concurrency=1 ;;
  hosts) run_tier hosts --test-concurrency=1 ;;
  web) run_tier web --test-concurrency=1 ;;
  all)
    node --test --test-concurrency=1 $(for t in unit sim integration fuse scale hosts web; do [ -d "dist/test/$t" ] && echo "dist/test/$t"; done)
    ;;
  *) echo "usage: scripts/test.sh [unit|sim|integration|fuse|scale|hosts|web|all]" >&2; exit 2 ;;
esac
