/**
 * The harness types a prompt's reply after a pause, not the instant the prompt shows (a reader
 * turning echo off with TCSAFLUSH drops earlier input, and the tty echoes it into the serial log),
 * and types it again when the machine then stays silent (the line was dropped).
 */
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { Typist } from '../../src/vm/typist.ts';

function setup() {
  mock.timers.enable({ apis: ['setTimeout'] });
  const typed: string[] = [];
  const notes: string[] = [];
  const t = new Typist(
    (x) => typed.push(x),
    (n) => notes.push(n),
    { delayMs: 2000, silenceMs: 120_000, retypes: 2 },
  );
  return { t, typed, notes };
}

test('nothing is typed the instant the prompt shows; the reply follows the pause', () => {
  const { t, typed } = setup();
  t.prompted('secret');
  t.output(); // the rest of the prompt line arriving does not cancel it
  mock.timers.tick(1999);
  assert.deepEqual(typed, []);
  mock.timers.tick(1);
  assert.deepEqual(typed, ['secret\n']);
  mock.timers.reset();
});

test('a machine that speaks after the reply took it: typed once', () => {
  const { t, typed } = setup();
  t.prompted('secret');
  mock.timers.tick(2000);
  mock.timers.tick(60_000);
  t.output();
  mock.timers.tick(600_000);
  assert.deepEqual(typed, ['secret\n']);
  mock.timers.reset();
});

test('a machine that stays silent after the reply: typed again, at most twice more', () => {
  const { t, typed, notes } = setup();
  t.prompted('secret');
  mock.timers.tick(2000);
  mock.timers.tick(120_000);
  assert.equal(typed.length, 2);
  mock.timers.tick(10 * 120_000);
  assert.equal(typed.length, 3);
  assert.equal(notes.length, 2);
  t.cancel();
  mock.timers.reset();
});

test('a new prompt before the pause ended: only its reply is typed', () => {
  const { t, typed } = setup();
  t.prompted('wrong');
  mock.timers.tick(500);
  t.prompted('right');
  mock.timers.tick(2000);
  assert.deepEqual(typed, ['right\n']);
  t.cancel();
  mock.timers.reset();
});
