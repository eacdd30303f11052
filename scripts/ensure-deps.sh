#!/bin/sh
# Installs what `npm test` / `npm run demo` need on a fresh Debian machine, so that each works from a
# clean clone with nothing run before it: the Debian packages given as arguments (when missing;
# needs root and apt-get), then the npm packages (npm ci) when node_modules is missing or stale.
set -e
cd "$(dirname "$0")/.."
# Node.js 20.19 or newer (core/node-version.ts says why and how to get one).
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null; then
  echo "vxmesh: needs Node.js 20.19 or newer; this is $(node --version 2>/dev/null || echo 'no node'). Debian 13: apt-get install nodejs npm; Debian 12 (nodejs 18): Node.js 20 or 22 from NodeSource or nodejs.org (README, Quick start)" >&2
  exit 1
fi
missing=""
for pkg in "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "vxmesh: missing Debian packages:$missing (install them as root: apt-get install$missing)" >&2
    exit 1
  fi
  echo "vxmesh: installing$missing" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "vxmesh: installing npm packages (npm ci)" >&2
  npm ci --no-audit --no-fund
fi
