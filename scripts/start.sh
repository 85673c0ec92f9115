#!/usr/bin/env bash
# `npm start`: a local cluster in the foreground — the mediator on 127.0.0.1:51234 with its
# metadata server (51235) and 3 data servers (51236-51238), read quorum 2 and write quorum 2,
# data under ./.quorumfs. Ctrl-C stops everything. Extra arguments go to the mediator, e.g.
# `npm start -- --fault-injection`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node dist/src/cli/main.js mediator 2 2 51235 51236 51237 51238 --data-dir .quorumfs "$@"
