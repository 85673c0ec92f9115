#!/usr/bin/env bash
# `npm start`: a local cluster in the foreground, mounted at ./mnt — the mediator on
# 127.0.0.1:51234 with its metadata server (51235) and 3 data servers (51236-51238), read quorum
# 2 and write quorum 2, data under ./.quorumfs, and the status page on 127.0.0.1:51239
# (`bin/quorumfs status-page` prints a sign-in link). Ctrl-C unmounts and stops everything. Extra
# arguments go to the mediator, e.g. `npm start -- --fault-injection`.
set -uo pipefail
cd "$(dirname "$0")/.."
cli=(node dist/src/cli/main.js)
# A terminal shows warnings and errors only; QFS_LOG_LEVEL=info npm start shows every event.
export QFS_LOG_LEVEL="${QFS_LOG_LEVEL:-warn}"


"${cli[@]}" mediator 2 2 51235 51236 51237 51238 --data-dir .quorumfs --http-port 51239 "$@" &
mediator=$!
mount=""
stop() {
  trap - INT TERM
  [ -n "$mount" ] && kill -TERM "$mount" 2>/dev/null && wait "$mount"
  kill -TERM "$mediator" 2>/dev/null
  wait "$mediator"
  exit 0
}
trap stop INT TERM

for _ in $(seq 1 100); do
  kill -0 "$mediator" 2>/dev/null || { wait "$mediator"; exit $?; }
  "${cli[@]}" status >/dev/null 2>&1 && break
  sleep 0.2
done
mkdir -p mnt
"${cli[@]}" mount mnt >/dev/null &
mount=$!
# Say "mounted" only once it is: until then mnt is a plain directory, and a copy into it would
# be hidden under the mount.
for _ in $(seq 1 150); do
  kill -0 "$mount" 2>/dev/null || break
  findmnt -n -t fuse.quorumfs --mountpoint "$(pwd)/mnt" >/dev/null && break
  sleep 0.1
done
if findmnt -n -t fuse.quorumfs --mountpoint "$(pwd)/mnt" >/dev/null; then
  echo "quorumfs: mounted at $(pwd)/mnt; bin/quorumfs status shows the cluster, bin/quorumfs status-page a link to its live page; Ctrl-C stops" >&2
fi
wait "$mount"
status=$?
mount=""
kill -TERM "$mediator" 2>/dev/null
wait "$mediator"
exit $status
