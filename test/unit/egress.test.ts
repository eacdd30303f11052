/** Egress rules as data, the sync plan against iptables-save output, and the reconciler with a fake iptables. */
import t from 'tap';
import { parseSave, type IptablesRunner } from '../../egress/iptables.js';
import { DNS_CHAIN, hostRules, overlayRules, vxlanGuardRules, type EgressNetwork } from '../../egress/rules.js';
import { planSync } from '../../egress/sync.js';
import { Egress } from '../../egress/egress.js';
import { removeHostChains } from '../../egress/removal.js';
import { hostRules6, overlayRules6 } from '../../egress/rules6.js';
import { recordingLog } from '../fixtures/agent-fakes.js';

const web: EgressNetwork = {
  name: 'web',
  vni: 42,
  netns: '/run/netns/vx-42',
  hostIfname: 'vxg42',
  overlayIfname: 'gw0',
  host: '169.254.0.84',
  overlay: '169.254.0.85',
  uplinks: ['eth0'],
  publish: [{ protocol: 'tcp', hostPort: 8080, port: 80, ip: '198.18.0.5' }],
};

/** A minimal iptables: applies restore scripts to tables of chains, prints them as iptables-save does. */
class FakeIptables implements IptablesRunner {
  readonly tables = new Map<string, Map<string, string[]>>([
    [
      'filter',
      new Map([
        ['INPUT', []],
        ['FORWARD', []],
        ['OUTPUT', []],
      ]),
    ],
    [
      'nat',
      new Map([
        ['PREROUTING', []],
        ['INPUT', []],
        ['OUTPUT', []],
        ['POSTROUTING', []],
      ]),
    ],
  ]);
  saves = 0;
  restores: string[] = [];
  readonly policies = new Map<string, string>();
  save(): Promise<string> {
    this.saves++;
    let s = '';
    for (const [t, chains] of this.tables) {
      s += `*${t}\n`;
      for (const c of chains.keys())
        s += `:${c} ${c.startsWith('VXMESH') || c.startsWith('DOCKER') ? '-' : 'ACCEPT'} [0:0]\n`;
      for (const [c, rules] of chains) for (const r of rules) s += `-A ${c} ${r}\n`;
      s += 'COMMIT\n';
    }
    return Promise.resolve(s);
  }
  restore(script: string): Promise<void> {
    this.restores.push(script);
    let table: Map<string, string[]> | undefined;
    for (const line of script.trim().split('\n')) {
      const [op, chain = '', ...rest] = line.split(' ');
      const rule = rest.join(' ');
      if (line.startsWith('*')) table = this.tables.get(line.slice(1));
      else if (line === 'COMMIT') table = undefined;
      else if (!table) throw new Error(`no table for ${line}`);
      else if (line.startsWith(':')) {
        // --noflush: a chain that exists keeps its rules (a built-in one takes the policy given).
        const [name = '', policy = '-'] = line.slice(1).split(' ');
        if (!table.has(name)) table.set(name, []);
        if (policy !== '-') this.policies.set(name, policy);
      } else if (op === '-F') table.set(chain, []);
      else if (op === '-X') table.delete(chain);
      else if (op === '-A') table.get(chain)?.push(rule);
      else if (op === '-I') table.get(chain)?.splice(Number(rest[0]) - 1, 0, rest.slice(1).join(' '));
      else if (op === '-D') {
        const rules = table.get(chain) ?? [];
        const i = rules.indexOf(rule);
        if (i < 0) throw new Error(`-D: no rule ${rule} in ${chain}`);
        rules.splice(i, 1);
      } else throw new Error(`unknown line ${line}`);
    }
    return Promise.resolve();
  }
}

t.test(
  'rules: overlay SNAT onto the transfer address out of gw0 only, DNAT of published ports; host MASQUERADE, DNAT, FORWARD accepts',
  async (t) => {
    const inner = overlayRules(web);
    t.same(inner.chains.find((c) => c.chain === 'VXMESH-POSTROUTING')?.rules, [
      '-o gw0 -j SNAT --to-source 169.254.0.85',
    ]);
    t.same(inner.chains.find((c) => c.chain === 'VXMESH-PREROUTING')?.rules, [
      '-i gw0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 198.18.0.5:80',
    ]);
    const host = hostRules([web]);
    t.same(
      host.chains.find((c) => c.chain === 'VXMESH-FORWARD')?.rules,
      [
        '-i vxg+ -p udp -m udp --dport 4789 -j DROP',
        '-i vxg42 -o eth0 -j ACCEPT',
        '-o vxg42 -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT',
      ],
      "out of the uplink only (never into the host's other bridges), never to a VXLAN port",
    );
    t.same(
      host.chains.find((c) => c.chain === 'VXMESH-INPUT')?.rules,
      ['-i vxg+ -p udp -m udp --dport 4789 -j DROP'],
      "nor to this host's own VXLAN port",
    );
    t.same(
      hostRules([{ ...web, uplinks: ['eth1', 'bond0'] }]).chains.find((c) => c.chain === 'VXMESH-FORWARD')?.rules,
      [
        '-i vxg+ -p udp -m udp --dport 4789 -j DROP',
        '-i vxg42 -o bond0 -j ACCEPT',
        '-i vxg42 -o eth1 -j ACCEPT',
        '-o vxg42 -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT',
      ],
      'one accept per uplink',
    );
    t.same(
      hostRules([{ ...web, hostRoute: true }])
        .chains.find((c) => c.chain === 'VXMESH-FORWARD')
        ?.rules.slice(-2),
      [
        '-o vxg42 -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT',
        '-i vxg42 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      ],
      'a network the host routes to: replies of what was let in go back out, nothing new',
    );
    t.same(
      host.chains.find((c) => c.chain === 'VXMESH-POSTROUTING')?.rules,
      ['-s 169.254.0.85/32 ! -o vxg42 -j MASQUERADE'],
      'the host never sees (nor routes to) the overlay subnet',
    );
    t.same(
      host.chains.find((c) => c.chain === 'VXMESH-PREROUTING')?.rules,
      ['-p tcp -m tcp --dport 8080 -j DNAT --to-destination 169.254.0.85:8080'],
      'published through the transfer address',
    );
    t.notOk(
      host.jumps.some((j) => j.from === 'DOCKER-USER'),
      "no jump from DOCKER-USER (the admin's rules there come first)",
    );
    t.same(hostRules([]), { chains: [], jumps: [] }, 'no network: nothing on the host');
  },
);

t.test(
  'planSync: creates, then nothing to do; a changed rule rewrites its chain only; jumps inserted once, duplicates removed',
  async (t) => {
    const fake = new FakeIptables();
    const desired = hostRules([web]);
    const first = planSync(parseSave(await fake.save()), desired);
    t.ok(first.script, 'a script on an empty host');
    t.match(first.changes.join('\n'), /filter VXMESH-FORWARD created[\s\S]*filter FORWARD jump inserted/);
    t.notMatch(first.changes.join('\n'), /DOCKER-USER/, 'no DOCKER-USER jump without the chain');
    await fake.restore(first.script as string);
    t.same(
      planSync(parseSave(await fake.save()), desired),
      { script: undefined, changes: [], rewritten: [] },
      'applied: nothing left to do',
    );
    fake.tables.get('nat')?.set('VXMESH-POSTROUTING', ['-s 169.254.0.85/32 -j ACCEPT']);
    fake.tables.get('filter')?.get('FORWARD')?.push('-j VXMESH-FORWARD');
    // An earlier version jumped from DOCKER-USER too: that jump goes.
    fake.tables.get('filter')?.set('DOCKER-USER', ['-j VXMESH-FORWARD', '-j RETURN']);
    const drift = planSync(parseSave(await fake.save()), desired);
    t.same(drift.changes, [
      'nat VXMESH-POSTROUTING rewritten (1 rules)',
      'filter FORWARD duplicate jump removed: -j VXMESH-FORWARD',
      'filter DOCKER-USER jump removed: -j VXMESH-FORWARD',
    ]);
    await fake.restore(drift.script as string);
    t.same(fake.tables.get('filter')?.get('DOCKER-USER'), ['-j RETURN'], "DOCKER-USER is the admin's again");
    t.equal(planSync(parseSave(await fake.save()), desired).script, undefined, 'repaired');
  },
);

t.test("with Docker: the FORWARD jump goes right after Docker's jump to DOCKER-USER", async (t) => {
  const fake = new FakeIptables();
  fake.tables.get('filter')?.set('FORWARD', ['-j DOCKER-USER', '-j DOCKER-FORWARD']);
  fake.tables.get('filter')?.set('DOCKER-USER', []);
  await fake.restore(planSync(parseSave(await fake.save()), hostRules([web])).script as string);
  t.same(fake.tables.get('filter')?.get('FORWARD'), ['-j DOCKER-USER', '-j VXMESH-FORWARD', '-j DOCKER-FORWARD']);
  t.same(fake.tables.get('filter')?.get('INPUT'), ['-j VXMESH-INPUT']);
});

t.test('forwarding off: FORWARD policy DROP first, then forwarding on; found on: left alone', async (t) => {
  for (const initially of [false, true]) {
    const fake = new FakeIptables();
    const steps: string[] = [];
    let on = initially;
    const forwarding = {
      isOn: () => on,
      switchOn: () => {
        steps.push(`forwarding on (policy ${fake.policies.get('FORWARD') ?? 'ACCEPT'})`);
        on = true;
      },
    };
    const r = await new Egress({ log: recordingLog(), runner: fake, forwarding }).reconcile([web]);
    t.same(r.errors, []);
    if (initially) {
      t.same(steps, [], 'on already: not touched');
      t.equal(fake.policies.get('FORWARD'), undefined, "the policy is the administrator's");
    } else {
      t.same(steps, ['forwarding on (policy DROP)'], 'the policy was DROP before forwarding went on');
      t.match(r.changes.join('\n'), /FORWARD policy set to DROP/);
    }
  }
});

t.test('planSync: chains no longer wanted go, with every jump to them', async (t) => {
  const fake = new FakeIptables();
  await fake.restore(planSync(parseSave(await fake.save()), hostRules([web])).script as string);
  const plan = planSync(parseSave(await fake.save()), hostRules([]));
  await fake.restore(plan.script as string);
  const left = [...fake.tables.values()]
    .flatMap((chains) => [...chains].flatMap(([c, rules]) => [c, ...rules]))
    .filter((x) => x.includes('VXMESH'));
  t.same(left, [], 'no VXMESH chain or jump left');
});

t.test('planSync: a rule iptables-save prints differently is learned, not rewritten forever', async (t) => {
  const current = parseSave(
    '*nat\n:VXMESH-POSTROUTING - [0:0]\n-A VXMESH-POSTROUTING -o gw0 -j SNAT --to-source 169.254.0.85\nCOMMIT\n',
  );
  const desired = {
    chains: [{ table: 'nat' as const, chain: 'VXMESH-POSTROUTING', rules: ['-o gw0 -j SNAT --to 169.254.0.85'] }],
    jumps: [],
  };
  t.ok(planSync(current, desired).script, 'unknown spelling: rewritten');
  t.equal(
    planSync(
      current,
      desired,
      new Map([['-o gw0 -j SNAT --to 169.254.0.85', '-o gw0 -j SNAT --to-source 169.254.0.85']]),
    ).script,
    undefined,
    'learned spelling: equal',
  );
});

t.test(
  'Egress: reconcile applies, a second run changes nothing; with no network the host is checked once',
  async (t) => {
    const host = new FakeIptables();
    const overlay = new FakeIptables();
    const runner: IptablesRunner = {
      save: (ns) => (ns ? overlay : host).save(),
      restore: (s, ns) => (ns ? overlay : host).restore(s),
    };
    const log = recordingLog();
    const e = new Egress({ log, runner, forwarding: { isOn: () => true, switchOn: () => undefined } });
    const r1 = await e.reconcile([web]);
    t.ok(
      r1.changes.some((c) => c.startsWith('web: nat VXMESH-POSTROUTING created')) &&
        r1.changes.some((c) => c.startsWith('host: ')),
      'overlay and host rules written',
    );
    t.same((await e.reconcile([web])).changes, [], 'nothing on the second run');
    t.same(await e.drift([web], 42), [], 'no drift');
    overlay.tables.get('nat')?.set('VXMESH-PREROUTING', []);
    t.same(
      await e.drift([web], 42),
      ['web: nat VXMESH-PREROUTING rewritten (1 rules)'],
      'a rule deleted by hand is drift',
    );
    t.same((await e.reconcile([web])).changes, ['web: nat VXMESH-PREROUTING rewritten (1 rules)'], 'and is repaired');
    t.ok(
      (await e.reconcile([])).changes.some((c) => c.startsWith('host: ') && c.endsWith('removed')),
      'no network left: the host chains go',
    );
    const saves = host.saves;
    await e.reconcile([]);
    t.equal(host.saves, saves, 'then the host is not read again while no network needs it');
    t.ok(
      log.lines.some((l) => l.msg === 'egress rules reconciled'),
      'changes are logged',
    );
  },
);

t.test('Egress: a failing iptables is an error of that place, the others still applied', async (t) => {
  const host = new FakeIptables();
  const runner: IptablesRunner = {
    save: (ns) => (ns ? Promise.reject(new Error('nsenter: cannot open /run/netns/vx-42')) : host.save()),
    restore: (s) => host.restore(s),
  };
  const r = await new Egress({
    log: recordingLog(),
    runner,
    forwarding: { isOn: () => true, switchOn: () => undefined },
  }).reconcile([web]);
  t.same(
    r.errors.map((x) => x.where),
    ['web'],
  );
  t.ok(
    r.changes.some((c) => c.startsWith('host: ')),
    'the host rules were applied',
  );
});

t.test("Egress: each guarded network's namespace gets the DNS guard, beside its egress rules or alone", async (t) => {
  const byNs = new Map<string, FakeIptables>();
  const fake = (ns?: string) => {
    const key = ns ?? 'host';
    if (!byNs.has(key)) byNs.set(key, new FakeIptables());
    return byNs.get(key) as FakeIptables;
  };
  const runner: IptablesRunner = { save: (ns) => fake(ns).save(), restore: (s, ns) => fake(ns).restore(s) };
  const e = new Egress({ log: recordingLog(), runner, forwarding: { isOn: () => true, switchOn: () => undefined } });
  const sealed = { name: 'sealed', vni: 43, netns: '/run/netns/vx-43' };
  const r = await e.reconcile([web], [{ name: 'web', vni: 42, netns: web.netns }, sealed]);
  t.same(r.errors, []);
  const guard = fake(sealed.netns).tables.get('filter');
  t.match(
    guard?.get(DNS_CHAIN)?.[0],
    /--dport 53 -m hashlimit --hashlimit-above 500\/sec --hashlimit-burst 1000 --hashlimit-mode srcip .* -j DROP/,
  );
  t.same(guard?.get('INPUT'), [`-j ${DNS_CHAIN}`], 'jumped to from INPUT');
  t.equal(
    fake(sealed.netns).tables.get('nat')?.has('VXMESH-POSTROUTING'),
    false,
    'no egress rules where there is no egress',
  );
  t.ok(fake(web.netns).tables.get('filter')?.has(DNS_CHAIN), 'the egress network has the guard');
  t.ok(fake(web.netns).tables.get('nat')?.has('VXMESH-POSTROUTING'), 'and its egress rules');
  t.same((await e.reconcile([web], [{ name: 'web', vni: 42, netns: web.netns }, sealed])).changes, [], 'idempotent');
  fake(sealed.netns).tables.get('filter')?.set(DNS_CHAIN, []);
  t.same(
    await e.drift([web], 43, [sealed]),
    ['sealed: filter VXMESH-DNS rewritten (1 rules)'],
    'a guard emptied by hand is drift',
  );
  t.same(
    (await e.reconcile([web], [{ name: 'web', vni: 42, netns: web.netns }, sealed])).changes,
    ['sealed: filter VXMESH-DNS rewritten (1 rules)'],
    'and is repaired',
  );
  const webOnly = await e.reconcile([web], [{ name: 'web', vni: 42, netns: web.netns }]);
  t.same(webOnly.changes, [], 'a namespace no longer guarded is not touched (its network has no endpoint here)');
});

t.test(
  'VXLAN guard: members pass, our VNIs from anyone else dropped, kept as it is before the first sync',
  async (t) => {
    const guard = vxlanGuardRules({ vteps: ['198.51.100.12', '198.51.100.11'], vnis: [5000, 42] }, 4789);
    t.same(guard.chains[0]?.rules, [
      '-s 198.51.100.11/32 -j RETURN',
      '-s 198.51.100.12/32 -j RETURN',
      '-m u32 --u32 "0x0>>0x16&0x3c@0xc>>0x8=0x2a" -j DROP',
      '-m u32 --u32 "0x0>>0x16&0x3c@0xc>>0x8=0x1388" -j DROP',
    ]);
    t.same(guard.jumps, [{ table: 'filter', from: 'INPUT', rule: '-p udp -m udp --dport 4789 -j VXMESH-VXLAN' }]);
    t.same(vxlanGuardRules({ vteps: ['198.51.100.12'], vnis: [] }, 4789).chains, [], 'no plain network here: no chain');

    const host = new FakeIptables();
    const runner: IptablesRunner = { save: () => host.save(), restore: (s) => host.restore(s) };
    const e = new Egress({ log: recordingLog(), runner, forwarding: { isOn: () => true, switchOn: () => undefined } });
    await e.reconcile([], [], { vteps: ['198.51.100.12'], vnis: [42] });
    t.same(host.tables.get('filter')?.get('VXMESH-VXLAN')?.length, 2, 'written');
    t.same(host.tables.get('filter')?.get('INPUT'), ['-p udp -m udp --dport 4789 -j VXMESH-VXLAN'], 'jumped to');
    const r = await e.reconcile([], [], { keep: true });
    t.same(r.changes, [], 'before the first sync (a restarted agent): kept as it is, no member cut off');
    await e.reconcile([], [], { vteps: ['198.51.100.12', '198.51.100.13'], vnis: [42] });
    t.same(host.tables.get('filter')?.get('VXMESH-VXLAN')?.length, 3, 'a new member: its VTEP added');
    await e.reconcile([], [], { vteps: [], vnis: [] });
    t.equal(host.tables.get('filter')?.has('VXMESH-VXLAN'), false, 'no plain network left: removed');
  },
);

t.test(
  'IPv6 egress: ip6tables NAT on the /127 transfer pair, forwarding with router advertisements kept',
  async (t) => {
    const dual: EgressNetwork = {
      ...web,
      publish: [],
      host6: 'fd7a:6d73:6802::a9fe:54',
      overlay6: 'fd7a:6d73:6802::a9fe:55',
      uplinks6: ['eth0'],
    };
    t.same(overlayRules6(dual).chains[0]?.rules, ['-o gw0 -j SNAT --to-source fd7a:6d73:6802::a9fe:55']);
    t.same(overlayRules6(web).chains, [], 'an IPv4-only network has no IPv6 rules');
    const host6 = hostRules6([dual, web]);
    t.same(host6.chains.find((c) => c.chain === 'VXMESH-FORWARD')?.rules, [
      '-i vxg+ -p udp -m udp --dport 4789 -j DROP',
      '-i vxg42 -o eth0 -j ACCEPT',
      '-o vxg42 -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT',
    ]);
    t.same(host6.chains.find((c) => c.chain === 'VXMESH-POSTROUTING')?.rules, [
      '-s fd7a:6d73:6802::a9fe:55/128 ! -o vxg42 -j MASQUERADE',
    ]);
    const pub = {
      ...dual,
      publish: [{ protocol: 'tcp' as const, hostPort: 8080, port: 80, ip: '198.18.0.5', ip6: '2001:db8::5' }],
    };
    t.same(overlayRules6(pub).chains.find((c) => c.chain === 'VXMESH-PREROUTING')?.rules, [
      '-i gw0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination [2001:db8::5]:80',
    ]);
    t.same(hostRules6([pub]).chains.find((c) => c.chain === 'VXMESH-PREROUTING')?.rules, [
      '-p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd7a:6d73:6802::a9fe:55]:8080',
    ]);
    const tables = new Map<string, FakeIptables>();
    const fake = (ns: string | undefined, family: 4 | 6 = 4) => {
      const k = `${ns ?? 'host'}/${family}`;
      if (!tables.has(k)) tables.set(k, new FakeIptables());
      return tables.get(k) as FakeIptables;
    };
    const runner: IptablesRunner = {
      save: (ns, family) => fake(ns, family).save(),
      restore: (s, ns, family) => fake(ns, family).restore(s),
    };
    let on6 = false;
    const e = new Egress({
      log: recordingLog(),
      runner,
      forwarding: { isOn: () => true, switchOn: () => undefined },
      forwarding6: { isOn: () => on6, switchOn: () => void (on6 = true) },
    });
    const r = await e.reconcile([dual]);
    t.same(r.errors, []);
    t.same(fake(dual.netns, 6).tables.get('nat')?.get('VXMESH-POSTROUTING'), [
      '-o gw0 -j SNAT --to-source fd7a:6d73:6802::a9fe:55',
    ]);
    t.same(fake(undefined, 6).tables.get('nat')?.get('VXMESH-POSTROUTING'), [
      '-s fd7a:6d73:6802::a9fe:55/128 ! -o vxg42 -j MASQUERADE',
    ]);
    t.equal(fake(undefined, 6).policies.get('FORWARD'), 'DROP', 'ip6tables FORWARD policy DROP before forwarding');
    t.ok(on6, 'IPv6 forwarding switched on');
    t.ok(r.changes.some((c) => /IPv6 forwarding was off/.test(c)));
    t.notOk(
      fake(undefined, 4)
        .tables.get('nat')
        ?.get('VXMESH-POSTROUTING')
        ?.some((x) => x.includes('fd7a')),
      'nothing IPv6 in iptables',
    );
    const again = await e.reconcile([dual]);
    t.same(again.changes, [], 'a second run changes nothing');
    await e.reconcile([dual], [{ name: 'web', vni: 42, netns: dual.netns, ipv6: true }]);
    t.match(
      fake(dual.netns, 6).tables.get('filter')?.get('VXMESH-DNS'),
      [/--dport 53 -m hashlimit .* -j DROP/],
      "the DNS server's kernel guard in ip6tables too",
    );
    await e.reconcile([]);
    t.equal(
      fake(undefined, 6).tables.get('nat')?.has('VXMESH-POSTROUTING'),
      false,
      'the IPv6 chains go with the last network',
    );
  },
);

t.test('reset removes our chains from iptables and ip6tables, nothing else', async (t) => {
  const v4 = new FakeIptables();
  const v6 = new FakeIptables();
  const runner: IptablesRunner = {
    save: (_ns, family) => (family === 6 ? v6 : v4).save(),
    restore: (s, _ns, family) => (family === 6 ? v6 : v4).restore(s),
  };
  await v4.restore(
    '*filter\n:VXMESH-INPUT - [0:0]\n-A VXMESH-INPUT -j DROP\n-I INPUT 1 -j VXMESH-INPUT\n:KEEP - [0:0]\nCOMMIT\n',
  );
  await v6.restore(
    '*filter\n:VXMESH-VXLAN - [0:0]\n-A VXMESH-VXLAN -s 2001:db8:100::12/128 -j RETURN\n-I INPUT 1 -p udp -m udp --dport 4789 -j VXMESH-VXLAN\nCOMMIT\n',
  );
  const dry = await removeHostChains(true, runner);
  t.ok(
    dry.some((l) => l.startsWith('iptables ') && l.includes('VXMESH-INPUT')),
    'the IPv4 chain listed',
  );
  t.ok(
    dry.some((l) => l.startsWith('ip6tables ') && l.includes('VXMESH-VXLAN')),
    'the IPv6 chain listed',
  );
  t.ok(v6.tables.get('filter')?.has('VXMESH-VXLAN'), 'a dry run changes nothing');
  await removeHostChains(false, runner);
  t.notOk(v4.tables.get('filter')?.has('VXMESH-INPUT'));
  t.notOk(v6.tables.get('filter')?.has('VXMESH-VXLAN'), 'the IPv6 guard removed');
  t.same(v6.tables.get('filter')?.get('INPUT'), [], 'with its jump');
  t.ok(v4.tables.get('filter')?.has('KEEP'), "someone else's chain stays");
  const noIp6: IptablesRunner = {
    save: (_ns, family) => (family === 6 ? Promise.reject(new Error('ip6tables-save: not found')) : v4.save()),
    restore: (s) => v4.restore(s),
  };
  t.same(await removeHostChains(false, noIp6), [], 'a host without ip6tables: nothing to remove there, no error');
});

t.test("the egress guard drops the host's own VXLAN port (--vxlan-port), not 4789 alone", async (t) => {
  const forward = (r: ReturnType<typeof hostRules>) => r.chains.find((c) => c.chain === 'VXMESH-FORWARD')?.rules ?? [];
  t.same(
    forward(hostRules([web], 4, [8472])).filter((r) => r.endsWith('-j DROP')),
    ['-i vxg+ -p udp -m udp --dport 8472 -j DROP'],
    'the port given',
  );
  // Through the reconciler: the agent's --vxlan-port reaches the rules it writes.
  const fake = new FakeIptables();
  const e = new Egress({
    log: recordingLog(),
    runner: fake,
    vxlanPort: 8472,
    forwarding: { isOn: () => true, switchOn: () => undefined },
  });
  t.same((await e.reconcile([web])).errors, []);
  const written = [...(fake.tables.get('filter') ?? new Map<string, string[]>())].flatMap(([, rules]) => rules);
  t.ok(
    written.includes('-i vxg+ -p udp -m udp --dport 8472 -j DROP'),
    'containers cannot reach port 8472 through egress',
  );
  t.notOk(
    written.some((r) => r.includes('--dport 4789 -j DROP')),
    'nor is 4789 guarded instead',
  );
});
