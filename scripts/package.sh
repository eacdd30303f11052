#!/bin/sh
# `npm run package`: builds the Debian package (vxmesh_VERSION_ARCH.deb) and the npm tarball
# (vxmesh-VERSION.tgz) into the directory given (default: build/), from the compiled tree (dist/).
#   /usr/lib/vxmesh                 the program (dist without tests and benchmarks) and its production
#                                   npm dependencies (native parts for this architecture only)
#   /usr/bin/vxmesh                 -> /usr/lib/vxmesh/dist/cli/vxmesh.js
#   /lib/systemd/system             vxmesh-agent.service, vxmesh-plugin.socket
#   /etc/vxmesh/agent.json.example  a configuration to start from (conffile)
#   /usr/share/doc/vxmesh           README and docs/ (the units' Documentation= point here)
#   /usr/share/vxmesh               Grafana dashboard, Prometheus alert rules
#   /usr/share/bash-completion/completions/vxmesh
set -e
[ -n "$VXMESH_PACKAGE_TRACE" ] && set -x
cd "$(dirname "$0")/.."
out=$(mkdir -p "${1:-build}" && cd "${1:-build}" && pwd)
for tool in dpkg-deb dpkg npm; do
  command -v $tool >/dev/null 2>&1 || { echo "vxmesh package: $tool is missing (Debian package ${tool%-deb})" >&2; exit 1; }
done
[ -f dist/cli/vxmesh.js ] || { echo "vxmesh package: dist/ is missing: run npm run build first" >&2; exit 1; }
arch=$(dpkg --print-architecture)
version=$(node -p "require('./package.json').version")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
lib=$stage/usr/lib/vxmesh
mkdir -p "$lib/dist" "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/etc/vxmesh" \
  "$stage/usr/share/doc/vxmesh" "$stage/usr/share/vxmesh" "$stage/usr/share/bash-completion/completions" \
  "$stage/DEBIAN"

# The program: the runtime layers of dist/, without source maps (the sources are not shipped).
for d in core dataplane discovery ipam store egress dns agent api docker daemon cli; do
  cp -r "dist/$d" "$lib/dist/"
done
find "$lib/dist" -name '*.map' -delete
chmod 755 "$lib/dist/cli/vxmesh.js"
node -e '
  const p = require("./package.json");
  for (const k of ["scripts", "devDependencies", "files"]) delete p[k];
  process.stdout.write(JSON.stringify(p, null, 2) + "\n");
' > "$lib/package.json"
# Production dependencies as npm installed them (no download), without other architectures' binaries.
npm ls --omit=dev --parseable --all 2>/dev/null | tail -n +2 | sed "s|^$PWD/||" | sort -u > "$stage/deps"
tar -cf - --exclude='*.map' --exclude='*.d.ts' --exclude='*.d.mts' --exclude='*.d.cts' -T "$stage/deps" |
  tar -xf - -C "$lib"
rm "$stage/deps"
case $arch in amd64) prebuild=linux-x64 ;; arm64) prebuild=linux-arm64 ;; *) prebuild=linux-$arch ;; esac
find "$lib/node_modules" -path '*/prebuilds/*' -maxdepth 4 -type d -name 'linux-*' ! -name "$prebuild" -prune -exec rm -rf {} +
ln -s ../lib/vxmesh/dist/cli/vxmesh.js "$stage/usr/bin/vxmesh"

cp packaging/vxmesh-agent.service packaging/vxmesh-plugin.socket "$stage/lib/systemd/system/"
cp packaging/agent.json.example "$stage/etc/vxmesh/agent.json.example"
cp README.md docs/*.md "$stage/usr/share/doc/vxmesh/"
printf 'vxmesh\nLicense: Apache-2.0 (see /usr/share/common-licenses/Apache-2.0)\n' > "$stage/usr/share/doc/vxmesh/copyright"
cp packaging/grafana-dashboard.json packaging/prometheus-alerts.yml "$stage/usr/share/vxmesh/"
node dist/cli/vxmesh.js completion bash > "$stage/usr/share/bash-completion/completions/vxmesh"

size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: vxmesh
Version: $version
Architecture: $arch
Maintainer: vxmesh developers <vxmesh@example.org>
Installed-Size: $size
Depends: nodejs (>= 20.19), iproute2, iptables, util-linux
Recommends: wireguard-tools, wireguard-go, nftables
Suggests: docker.io, etcd-server, prometheus
Section: net
Priority: optional
Homepage: https://example.org/vxmesh
Description: VXLAN overlay network for Linux hosts
 One agent per host builds VXLAN overlay networks in network namespaces and
 programs static fdb and neighbour entries from endpoint records the hosts
 share by gossip: no multicast, no flooding. Docker network and IPAM driver,
 optional etcd store, encrypted networks through WireGuard.
CONTROL
echo /etc/vxmesh/agent.json.example > "$stage/DEBIAN/conffiles"
cat > "$stage/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
[ -n "$VXMESH_PACKAGE_TRACE" ] && set -x
if [ "$1" = configure ]; then
  [ -d /run/systemd/system ] && systemctl daemon-reload || true
  if [ ! -e /etc/vxmesh/agent.json ]; then
    echo "vxmesh: next, on every host (docs in /usr/share/doc/vxmesh/operations.md):"
    echo "  vxmesh keygen /etc/vxmesh/cluster.key   (once; copy the same file to every host, mode 0600)"
    echo "  cp /etc/vxmesh/agent.json.example /etc/vxmesh/agent.json   (set vtep, join)"
    echo "  systemctl enable --now vxmesh-agent.service"
  fi
fi
SCRIPT
cat > "$stage/DEBIAN/prerm" <<'SCRIPT'
#!/bin/sh
set -e
[ -n "$VXMESH_PACKAGE_TRACE" ] && set -x
# The agent stops (kernel state stays, containers keep working); "vxmesh reset" removes it.
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop vxmesh-agent.service vxmesh-plugin.socket || true
  systemctl disable vxmesh-agent.service vxmesh-plugin.socket >/dev/null 2>&1 || true
fi
SCRIPT
cat > "$stage/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
[ -n "$VXMESH_PACKAGE_TRACE" ] && set -x
[ -d /run/systemd/system ] && systemctl daemon-reload || true
if [ "$1" = purge ]; then
  rmdir /etc/vxmesh 2>/dev/null || true
fi
SCRIPT
chmod 755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"
dpkg-deb --root-owner-group -Zgzip -z6 --build "$stage" "$out/vxmesh_${version}_${arch}.deb" >/dev/null
npm pack --silent --ignore-scripts --pack-destination "$out" >/dev/null
echo "$out/vxmesh_${version}_${arch}.deb"
echo "$out/vxmesh-${version}.tgz"
