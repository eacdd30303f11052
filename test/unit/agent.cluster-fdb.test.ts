/** `vxmesh fdb --cluster`: who is asked, how answers and silences are listed, what --check says. */
import t from 'tap';
import { checkFdbReports, clusterClean, clusterFdb } from '../../agent/cluster-fdb.js';
import type { FdbReport } from '../../agent/diagnostics.js';
import type { MemberView } from '../../agent/ports.js';

const member = (name: string, state: MemberView['state'], self = false): MemberView => ({
  name,
  peerId: `p-${name}`,
  vtep: '198.51.100.9',
  addrs: [],
  incarnation: 1,
  state,
  vtepOrder: 1,
  since: 0,
  lastAck: 0,
  self,
});
const report = (drift: number): FdbReport => ({
  network: 'red',
  vni: 7,
  netns: 'vx-7',
  drift,
  rows: drift ? [{ table: 'fdb', mac: '02:00:00:00:00:01', status: 'missing' }] : [],
});

t.test(
  'live members are asked, dead and departed are listed as not asked; silence and drift fail the check',
  async (t) => {
    const asked: string[] = [];
    const rows = await clusterFdb({
      members: [
        member('h1', 'alive', true),
        member('h2', 'alive'),
        member('h3', 'suspect'),
        member('h4', 'dead'),
        member('h5', 'left'),
        member('h6', 'alive'),
      ],
      local: async () => [report(0)],
      ask: async (p) => {
        asked.push(p);
        if (p === 'p-h3') throw new Error('no answer within 5000 ms');
        if (p === 'p-h6') return [report(2)];
        return [report(0)];
      },
    });
    t.same(asked.sort(), ['p-h2', 'p-h3', 'p-h6'], 'only other live members are asked (self answers locally)');
    t.same(
      rows.map((r) => `${r.host}:${r.status}:${r.drift}`),
      ['h1:ok:0', 'h2:ok:0', 'h3:no-answer:0', 'h4:not-asked:0', 'h5:not-asked:0', 'h6:drift:2'],
    );
    t.match(rows.find((r) => r.host === 'h3')?.error, /no answer within/);
    t.notOk(clusterClean(rows), 'drift or silence fails');
    t.ok(
      clusterClean(rows.filter((r) => r.host !== 'h3' && r.host !== 'h6')),
      'answers without drift (and dead members) pass',
    );
  },
);

t.test('a malformed answer is a member that did not answer properly, not a crash', async (t) => {
  for (const bad of [
    null,
    'x',
    [{}],
    [{ ...report(0), drift: 'no' }],
    [{ ...report(0), rows: [null] }],
    [{ ...report(0), rows: [{ table: 'fdb' }] }],
  ]) {
    const rows = await clusterFdb({ members: [member('h2', 'alive')], local: async () => [], ask: async () => bad });
    t.equal(rows[0]?.status, 'no-answer', `answer ${JSON.stringify(bad)}`);
  }
  t.same(checkFdbReports([report(1)]), [report(1)], 'a good answer passes unchanged');
});
