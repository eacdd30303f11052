/** The supported Node.js versions: older ones get a message naming the version and how to get a newer one. */
import t from 'tap';
import { MIN_NODE_VERSION, nodeTooOld } from '../../core/node-version.js';

t.test('20.19 and newer run; older ones are refused with a message', async (t) => {
  for (const v of ['20.19.0', '20.20.2', 'v22.1.0', '24.0.0']) t.equal(nodeTooOld(v), undefined, v);
  for (const v of ['18.20.4', '20.18.9', 'v16.0.0', '19.9.9']) {
    const m = nodeTooOld(v);
    t.match(m, new RegExp(`needs Node\\.js ${MIN_NODE_VERSION.replace(/\./g, '\\.')} or newer; this is ${v}`), v);
    t.match(m, /Debian 12/, 'says how to get one on Debian 12');
  }
  t.ok(nodeTooOld('garbage'), 'an unreadable version is refused, not taken as new');
});
