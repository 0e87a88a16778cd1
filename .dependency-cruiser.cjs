/**
 * Import rules between the folders of src/, checked by `npm run lint` and scripts/test.sh.
 *
 * LAYERS says which folders each folder may import (besides itself, node: built-ins and npm
 * dependencies). It must stay a DAG: it is checked below when this file loads, so a folder cycle
 * can neither be written in code nor allowed here. src/layout.ts (the layout contract) and
 * src/core import nothing of kldload; src/cli (the commands) may import everything.
 */
const LAYERS = {
  core: [],
  layout: [],
  'package-sets': ['core'],
  debian: ['core'],
  zfs: ['core'],
  answers: ['core'],
  postinstall: ['core', 'layout', 'answers'],
  day2: ['core', 'layout', 'zfs'],
  plan: ['core', 'layout', 'answers', 'zfs', 'day2'],
  live: ['core', 'layout', 'answers', 'zfs', 'plan'],
  apply: ['core', 'layout', 'live'],
  firstboot: ['core', 'layout', 'answers', 'postinstall', 'day2'],
  darksite: ['core', 'layout', 'debian', 'package-sets'],
  image: ['core', 'layout', 'answers', 'postinstall', 'darksite', 'debian', 'package-sets'],
  vm: ['core', 'layout', 'answers', 'zfs'],
  // kst: one report over the pool, boot environments and first boot.
  status: ['core', 'layout', 'zfs', 'day2', 'firstboot'],
  // The web installer: serves a wizard over the answers schema; the install itself is the CLI's.
  webui: ['core', 'layout', 'answers', 'live', 'postinstall'],
  // Fleets: golden images (built on kexport's seal), clones, replication, the WireGuard cluster.
  // answers: the one env-file codec (a replication job's config is an env file).
  fleet: ['core', 'layout', 'answers', 'zfs', 'day2'],
  cli: [
    'core',
    'layout',
    'package-sets',
    'debian',
    'zfs',
    'answers',
    'postinstall',
    'day2',
    'plan',
    'live',
    'apply',
    'firstboot',
    'darksite',
    'image',
    'vm',
    'status',
    'webui',
    'fleet',
  ],
  types: [],
};

// A folder cycle in LAYERS itself fails the lint before anything is cruised.
(function assertAcyclic() {
  const state = {};
  const visit = (n, path) => {
    if (!(n in LAYERS)) throw new Error(`.dependency-cruiser.cjs: LAYERS names unknown folder ${n}`);
    if (state[n] === 'done') return;
    if (state[n] === 'open')
      throw new Error(`.dependency-cruiser.cjs: LAYERS has a folder cycle: ${[...path, n].join(' → ')}`);
    state[n] = 'open';
    for (const m of LAYERS[n]) visit(m, [...path, n]);
    state[n] = 'done';
  };
  for (const n of Object.keys(LAYERS)) visit(n, []);
})();

/** The path of a folder's modules (layout is src/layout.ts and its image.json schema, src/layout-image.ts). */
const where = (folder) => (folder === 'layout' ? '^src/layout(-image)?[.]ts$' : `^src/${folder}/`);
const anyOf = (folders) => `(${folders.map(where).join('|')})`;

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A module cycle: split the shared part into a module both import.',
      from: {},
      to: { circular: true },
    },
    // The edges issue 11 removed, named so a regression says what it is.
    {
      name: 'darksite-not-image',
      severity: 'error',
      comment: 'The darksite is an input of the image build, never the other way (package sets: src/package-sets).',
      from: { path: '^src/darksite/' },
      to: { path: '^src/image/' },
    },
    {
      name: 'plan-not-darksite',
      severity: 'error',
      comment: 'The install plan takes darksite paths from src/layout.ts, not from the darksite builder.',
      from: { path: '^src/plan/' },
      to: { path: '^src/darksite/' },
    },
    {
      name: 'live-not-image',
      severity: 'error',
      comment: 'The live installer reads the medium through src/layout.ts, not through the image build.',
      from: { path: '^src/live/' },
      to: { path: '^src/image/' },
    },
    {
      name: 'src-not-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'unit-not-integration',
      severity: 'error',
      comment:
        'A unit test needs node alone (no network, no other program): what an integration test needs stays in test/integration. Integration tests may use the helpers in test/unit.',
      from: { path: '^test/unit/' },
      to: { path: '^test/(integration|vm|vm-long)/' },
    },
    {
      name: 'src-not-dev-dependencies',
      severity: 'error',
      comment: 'The bundle runs on targets: only "dependencies" may be imported from src.',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  allowed: [
    { from: {}, to: { dependencyTypes: ['core'] } },
    { from: {}, to: { dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer'] } },
    { from: { path: '^(test|bench|scripts)/' }, to: {} },
    // Within a folder anything goes (module cycles are still forbidden above).
    { from: { path: '^src/([^/]+)/' }, to: { path: '^src/$1/' } },
    ...Object.entries(LAYERS)
      .filter(([, to]) => to.length)
      .map(([folder, to]) => ({ from: { path: where(folder) }, to: { path: anyOf(to) } })),
  ],
  allowedSeverity: 'error',
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports are edges too: a type cycle is a design cycle.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
