/**
 * Import rules of the layers (docs/architecture.md). `npm test` runs `npm run lint:layers`
 * (test/unit/layers.test.ts), which fails on any import that breaks one of them.
 *
 *   entry points   daemon/  api/  docker/  cni/  cli/   (api/ serves cni/'s handler)
 *   agent layer    agent/
 *   parts          dataplane/  discovery/  ipam/  store/  egress/  dns/   (never each other: sideways)
 *   bottom         core/                                   (imports nothing of ours)
 *
 * Outside the product: sim/ (the simulated-host testbed) imports only core/; scripts/, bench/ and
 * test/ may import anything; nothing in the product imports them.
 */
const PRODUCT = '^(core|dataplane|discovery|ipam|store|egress|dns|agent|api|docker|cni|daemon|cli)/';
const ours = (...dirs) => `^(${dirs.join('|')})/`;
const OUTSIDE = ours('test', 'bench', 'sim', 'scripts');

const onlyDown = (from, allowed) => ({
  name: `${from}-imports-only-${allowed.join('-') || 'nothing'}`,
  comment: `${from}/ may import only ${allowed.length ? allowed.map((d) => `${d}/`).join(', ') : 'nothing of ours'} (and itself)`,
  severity: 'error',
  from: { path: `^${from}/` },
  to: { path: PRODUCT, pathNot: [`^${from}/`, ...allowed.map((d) => `^${d}/`)] },
});

module.exports = {
  forbidden: [
    onlyDown('core', []),
    onlyDown('dataplane', ['core']),
    onlyDown('discovery', ['core']),
    onlyDown('ipam', ['core']),
    onlyDown('store', ['core']),
    onlyDown('egress', ['core']),
    onlyDown('dns', ['core']),
    onlyDown('agent', ['core', 'dataplane', 'discovery', 'ipam', 'store', 'egress', 'dns']),
    onlyDown('api', ['core', 'agent', 'cni']),
    onlyDown('cni', ['core', 'agent']),
    onlyDown('docker', ['core', 'agent']),
    onlyDown('daemon', [
      'core',
      'dataplane',
      'discovery',
      'ipam',
      'store',
      'egress',
      'dns',
      'agent',
      'api',
      'docker',
      'cni',
    ]),
    onlyDown('sim', ['core']),
    {
      name: 'product-never-imports-tests-or-tools',
      comment: 'the product never imports test/, bench/, sim/ or scripts/',
      severity: 'error',
      from: { path: PRODUCT },
      to: { path: OUTSIDE },
    },
    {
      name: 'no-cycles',
      comment: 'no import cycles',
      severity: 'error',
      from: { path: PRODUCT },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'every import resolves',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.js'],
    },
    moduleSystems: ['es6'],
  },
};
