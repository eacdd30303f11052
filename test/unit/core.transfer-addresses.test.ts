/** The transfer addresses of gateway links (core/transfer-addresses.ts). */
import t from 'tap';
import { isTransferAddress, transferPairFor } from '../../core/transfer-addresses.js';

t.test(
  'transfer addresses: derived from the VNI, moved on when taken, inside 169.254.1.0-169.254.127.255',
  async (t) => {
    const a = transferPairFor(42, () => false);
    t.same(
      transferPairFor(42, () => false),
      a,
      'stable',
    );
    const moved = transferPairFor(42, (ip) => ip === a.host);
    t.not(moved.host, a.host, 'a taken pair is skipped');
    for (const vni of [1, 4096, 16256, 16777215]) {
      const p = transferPairFor(vni, () => false);
      t.ok(isTransferAddress(p.host) && isTransferAddress(p.overlay), `${vni}: ${p.host}/${p.overlay}`);
      t.equal(Number(p.host.split('.')[3]) % 2, 0, 'the host end is even (a /31)');
      t.notOk(
        p.host.startsWith('169.254.0.') || p.host.startsWith('169.254.169.'),
        'never the reserved /24 nor the metadata address',
      );
    }
    t.throws(() => transferPairFor(1, () => true), /every transfer address pair/);
  },
);
