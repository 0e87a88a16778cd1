import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { compareVersions, satisfies, type VersionOp } from '../../src/darksite/version.ts';

/** Pairs chosen to hit every rule of policy 5.6.12; dpkg on the host is the oracle. */
const PAIRS: [string, string][] = [
  // plain numbers and equal spellings
  ['1.0', '1.0'],
  ['1.0', '1.1'],
  ['1.2', '1.10'],
  ['1.10', '1.9'],
  ['2', '10'],
  ['1.001', '1.1'],
  ['1.01', '1.1'],
  ['1.0', '1.00'],
  ['1.000000000000000000000001', '1.1'],
  ['99999999999999999999999999', '99999999999999999999999998'],
  ['1.0.0', '1.0'],
  ['1.0', '1.0.'],
  ['1.0a', '1.0'],
  ['1.0a', '1.0b'],
  ['1.0a', '1.0A'],
  ['1.0Z', '1.0a'],
  ['1.0a', '1.0+'],
  ['1.0a', '1.0.'],
  ['1.0+', '1.0.'],
  ['1:1.0+', '1:1.0:'],
  ['1:2.0-a:b-1', '1:2.0-a.b-1'],
  ['1.0.', '1.0~'],
  ['1.0-1', '1.0+1'],
  // tilde sorts before everything, even the end
  ['1.0~rc1', '1.0'],
  ['1.0~rc1', '1.0~rc2'],
  ['1.0~~', '1.0~'],
  ['1.0~~a', '1.0~~'],
  ['1.0~', '1.0'],
  ['1.0~a', '1.0~'],
  ['1.0~1', '1.0~a'],
  ['2.0~beta1', '2.0~alpha9'],
  ['1.0~rc1-1', '1.0-1'],
  ['1.0-1~bpo12+1', '1.0-1'],
  ['1.0-1~bpo12+1', '1.0-0.1'],
  ['1.0-1', '1.0-1+b1'],
  ['1.0-1+b1', '1.0-1.1'],
  ['1.0-1+deb12u1', '1.0-1+deb12u10'],
  ['1.0-1+deb12u1', '1.0-1+b1'],
  ['257.13-1~deb13u1', '257.13-1'],
  // epochs
  ['1:0.1', '2.0'],
  ['0:1.0', '1.0'],
  ['1:1.0', '1:1.0'],
  ['1:1.0', '2:0.1'],
  ['10:1', '9:2'],
  ['00:1.0', '0:1.0'],
  ['1:1.0-1', '1:1.0'],
  ['2:4.4.3.1-5+b2', '2:4.4.3.1-5'],
  ['1:10.0p1-7+deb13u4', '1:10.0p1-7+deb13u3'],
  // revisions, hyphens in upstream, missing revision
  ['1.0', '1.0-0'],
  ['1.0-0', '1.0-1'],
  ['1.0', '1.0-1'],
  ['1.0-1-2', '1.0-1-10'],
  ['1.0-a-1', '1.0-a'],
  ['1.0-1', '1.0-1.0'],
  ['1.0-1.0', '1.0-1.00'],
  ['1.0-10', '1.0-9'],
  ['1.0-a', '1.0-1'],
  // real-world spellings
  ['20.19.2+dfsg-1+deb13u2', '20.19.2+dfsg-1'],
  ['2.3.9-0+deb13u1', '2.3.9-1'],
  ['8.1.2-0.20220412cvs-1.1', '8.1.2-0.20220412cvs-1'],
  ['3.0pl1-197', '3.0pl1-197+b1'],
  ['3.0pl1-197', '3.0-197'],
  ['1.37.0-6+b9', '1.37.0-6+b10'],
  ['6.12.107-1', '6.12.57-1'],
  ['2:1.2.13.dfsg-1', '1:1.3.dfsg-3.1'],
  ['5.40.1-6+deb13u1', '5.40.1-6'],
  ['0.20240903-1', '0.2024.09.03-1'],
  ['1.2.3+git20240101.abcdef-1', '1.2.3+git20231231.fedcba-1'],
  ['1.2.3+ds', '1.2.3+dfsg'],
  ['1.2.3+really1.2.2-1', '1.2.3-1'],
  ['7.2.0-1', '7.2.0+~cs1.2-1'],
  ['1.0+~cs1.2', '1.0'],
  ['0.0', '0'],
  ['a', 'b'],
  ['1.0', '1'],
];

/** One shell loop for all pairs: -1, 0 or 1 per pair, in order; NaN where dpkg rejects the syntax. */
function dpkgOrder(pairs: [string, string][]): number[] {
  // dpkg exits 1 for "false" and 2 for a version it cannot parse.
  const script =
    'while [ $# -gt 0 ]; do dpkg --compare-versions "$1" lt "$2"; lt=$?; ' +
    'dpkg --compare-versions "$1" eq "$2"; eq=$?; ' +
    'if [ $lt -gt 1 ] || [ $eq -gt 1 ]; then echo E; elif [ $lt = 0 ]; then echo -1; ' +
    'elif [ $eq = 0 ]; then echo 0; else echo 1; fi; shift 2; done';
  const out = execFileSync('sh', ['-c', script, 'sh', ...pairs.flat()], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'], // dpkg warns about deliberately odd versions
  });
  return out.trim().split('\n').map(Number);
}

test('compareVersions agrees with dpkg --compare-versions on every tricky pair, both ways round', () => {
  assert.ok(PAIRS.length >= 60, `only ${PAIRS.length} pairs`);
  const both = [...PAIRS, ...PAIRS.map(([a, b]): [string, string] => [b, a])];
  const want = dpkgOrder(both);
  assert.equal(want.length, both.length);
  const wrong = both
    .map(([a, b], i) => ({ a, b, dpkg: want[i], ours: compareVersions(a, b) }))
    .filter((r) => r.dpkg !== r.ours);
  assert.deepEqual(wrong, []);
  assert.ok(!want.some(Number.isNaN), 'the table holds a version dpkg rejects');
  // The table exercises all three outcomes.
  assert.ok(want.includes(-1) && want.includes(0) && want.includes(1));
});

test('compareVersions sorts a list like dpkg (transitive, stable)', () => {
  const list = [
    '1.0',
    '1.0~rc1',
    '1:0.1',
    '1.0-1',
    '1.0+b1',
    '1.0-1~bpo1',
    '0.9',
    '1.0~~',
    '1.0a',
    '1.0-0.1',
  ];
  const sorted = [...list].sort(compareVersions);
  // Letters sort before '+': 1.0a << 1.0+b1.
  assert.deepEqual(sorted, [
    '0.9',
    '1.0~~',
    '1.0~rc1',
    '1.0',
    '1.0-0.1',
    '1.0-1~bpo1',
    '1.0-1',
    '1.0a',
    '1.0+b1',
    '1:0.1',
  ]);
  const want = dpkgOrder(sorted.slice(1).map((v, i): [string, string] => [sorted[i] as string, v]));
  assert.deepEqual(
    want.filter((x) => x > 0),
    [],
  );
});

test('satisfies implements << <= = >= >> against dpkg', () => {
  const cases: [string, VersionOp, string][] = [
    ['1.0', '<<', '1.0'],
    ['1.0~rc1', '<<', '1.0'],
    ['1.0', '<=', '1.0-0'],
    ['1.0-1', '<=', '1.0'],
    ['1:1.0', '=', '1:1.0-0'],
    ['1.0', '=', '0:1.0'],
    ['2.3.9-0+deb13u1', '>=', '2.3.9-0+deb13u1'],
    ['1.54', '>=', '1.54~'],
    ['1.0-1+b1', '>>', '1.0-1'],
    ['1.0', '>>', '1.0'],
  ];
  const dpkgOp: Record<VersionOp, string> = { '<<': 'lt', '<=': 'le', '=': 'eq', '>=': 'ge', '>>': 'gt' };
  for (const [v, op, w] of cases) {
    let want = true;
    try {
      execFileSync('dpkg', ['--compare-versions', v, dpkgOp[op], w], { stdio: 'ignore' });
    } catch {
      want = false;
    }
    assert.equal(satisfies(v, op, w), want, `${v} ${op} ${w}`);
  }
  assert.equal(satisfies('1.0', undefined, undefined), true);
});
