/** Published-port syntax (core/port-mappings.ts). */
import t from 'tap';
import { parsePortMapping, parsePortMappings } from '../../core/port-mappings.js';
import { ValidationError } from '../../core/errors.js';

t.test('port mappings: forms, defaults and errors naming publish', async (t) => {
  t.same(parsePortMapping('8080:80'), { protocol: 'tcp', hostPort: 8080, port: 80 });
  t.same(parsePortMapping('5353:53/udp'), { protocol: 'udp', hostPort: 5353, port: 53 });
  t.same(parsePortMapping({ hostPort: 1, port: 2, protocol: 'udp' }), { protocol: 'udp', hostPort: 1, port: 2 });
  for (const bad of ['80', '0:80', '80:65536', 'a:80', '80:80/sctp', '1:2:3', ''])
    t.throws(() => parsePortMapping(bad), ValidationError, bad);
  t.throws(() => parsePortMappings(['80:1', '80:2']), /publish: host port 80\/tcp is given twice/);
  t.same(parsePortMappings(['80:1', '80:2/udp']).length, 2, 'same port, other protocol');
  t.throws(() => parsePortMappings(['80:1', 'x']), /publish\[1\]/, 'the bad item is named');
});
