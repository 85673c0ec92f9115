#!/usr/bin/env bash
# Installs whatever is missing to build and run quorumfs, and nothing that is already there:
# Debian packages (FUSE 3 and a C toolchain for the native binding), node_modules (npm ci, which
# also compiles the FUSE binding and better-sqlite3), and the TypeScript build in dist/.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(fuse3 libfuse3-dev pkg-config python3 make g++)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bootstrap: installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Native addons build against the local Node headers: there is no network to fetch them.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_api.h ]; then
  export npm_config_nodedir=/usr
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "bootstrap: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
# The binding is rebuilt when it is missing or older than any of its sources (after a pull).
addon=native/fuse/build/Release/quorumfs_fuse.node
if [ -f native/fuse/binding.gyp ] && { [ ! -f "$addon" ] || [ -n "$(find native/fuse/src native/fuse/binding.gyp -newer "$addon" -print -quit)" ]; }; then
  echo "bootstrap: building the FUSE binding" >&2
  npm run --silent build:native >/dev/null
fi
npm run --silent build
