/** The host warnings of `vxmesh status`: ARP thresholds, missing tools, Docker swarm on the VXLAN port. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { arpWarning, missingToolWarnings, readNeighThresholds } from '../../daemon/host-checks.js';
import { swarmClash } from '../../docker/swarm-check.js';

t.test('ARP thresholds below what the cluster needs', async (t) => {
  const thresholds = { gcThresh2: 512, gcThresh3: 1024 };
  t.equal(arpWarning(400, thresholds), undefined, 'below gc_thresh2: nothing');
  t.match(arpWarning(600, thresholds), /about 600 neighbour entries.*gc_thresh2 = 512 \(gc_thresh3 = 1024\)/);
  t.equal(arpWarning(10_000, undefined), undefined, 'thresholds unreadable: no guess');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-proc-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'net/ipv4/neigh/default'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'net/ipv4/neigh/default/gc_thresh2'), '512\n');
  fs.writeFileSync(path.join(dir, 'net/ipv4/neigh/default/gc_thresh3'), '1024\n');
  t.same(readNeighThresholds(dir), thresholds, 'read from /proc/sys');
  t.equal(readNeighThresholds(path.join(dir, 'none')), undefined);
  t.ok(readNeighThresholds()?.gcThresh3, "this machine's own are readable");
});

t.test('tools missing for what is switched on, named with their package', async (t) => {
  const none = () => false;
  const all = () => true;
  t.same(missingToolWarnings({ wireguard: true, egress: true }, all, false), []);
  t.same(
    missingToolWarnings({ wireguard: true, egress: true }, none, false).map((w) => w.split(' ')[0]),
    ['nsenter', 'iptables-save', 'wg', 'wireguard-go'],
  );
  t.same(
    missingToolWarnings({ wireguard: true, egress: false }, none, true).map((w) => w.split(' ')[0]),
    ['nsenter', 'wg'],
    'kernel WireGuard: no wireguard-go needed; no egress: no iptables',
  );
  t.match(
    missingToolWarnings({ wireguard: false, egress: true }, (c) => c !== 'iptables-save', false)[0],
    /^iptables-save is missing \(Debian package iptables\): egress and published ports fail/,
  );
});

t.test('Docker swarm on the same VXLAN port', async (t) => {
  t.equal(swarmClash({ Swarm: { LocalNodeState: 'inactive' } }, 4789), undefined, 'no swarm');
  t.match(swarmClash({ Swarm: { LocalNodeState: 'active' } }, 4789), /swarm is active.*UDP 4789.*--vxlan-port/);
  t.equal(
    swarmClash({ Swarm: { LocalNodeState: 'active', Cluster: { DataPathPort: 4800 } } }, 4789),
    undefined,
    'swarm on another data-path port',
  );
  t.equal(swarmClash({ Swarm: { LocalNodeState: 'active' } }, 4799), undefined, 'vxmesh on another port');
  t.match(swarmClash({ Swarm: { LocalNodeState: 'active', Cluster: { DataPathPort: 4799 } } }, 4799), /UDP 4799/);
});
