import { afterEach, describe, expect, it, vi } from 'vitest';
import { RegexRunner, RegexTimeoutError } from '../../src/steps/plan-regex.js';

const HOSTILE = { source: '(a+)+$' };
const LINE = `${'a'.repeat(40)}!`; // 2^40 ways to fail: hours of backtracking
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const runners: RegexRunner[] = [];
const runner = (budgetMs?: number) => {
  const r = new RegexRunner(budgetMs === undefined ? {} : { budgetMs });
  runners.push(r);
  return r;
};

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(runners.splice(0).map((r) => r.close()));
});

describe('plan regexes run on a worker thread under a deadline', () => {
  it('finds the first matching line with its named groups, as RegExp.exec would', async () => {
    const r = runner();
    const found = await r.first({ source: 'sn=(?<sn>\\S+)(?: mac=(?<mac>\\S+))?' }, ['boot', 'sn=A1', 'sn=B2 mac=x']);
    expect(found?.index).toBe(1);
    expect(found?.match[0]).toBe('sn=A1');
    expect(found?.match.groups).toEqual({ sn: 'A1', mac: undefined });
    expect(found?.match.index).toBe(0);
    expect(await r.first({ source: 'nope' }, ['a', 'b'])).toBeUndefined();
    expect((await r.first({ source: '^FW', flags: 'gi' }, ['fw=1']))?.index).toBe(0);
    // lookaround and backreferences: the JS semantics the plan was checked with
    expect((await r.first({ source: '(?<=v)(\\d)\\1' }, ['v11']))?.match[0]).toBe('11');
  });

  it('matches across batches and reports the index in the whole list', async () => {
    const lines = Array.from({ length: 3000 }, (_, i) => `progress ${i} ${'x'.repeat(60)}`);
    expect((await runner().first({ source: 'progress 2999 ' }, lines))?.index).toBe(2999);
  });

  it('stops a catastrophic backtrack at the budget; the event loop ran meanwhile; the next match gets a fresh thread', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const r = runner(500);
    const outcome = r.first(HOSTILE, [LINE]).then(() => undefined, (e: unknown) => e);
    while (!r.running) await turn();
    let turns = 0;
    for (; turns < 20; turns++) await turn(); // the loop is free while the worker backtracks
    await vi.advanceTimersByTimeAsync(499);
    expect(r.running).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    const error = await outcome;
    expect(error).toBeInstanceOf(RegexTimeoutError);
    expect(error).toMatchObject({ code: 'REGEX_TIMEOUT', message: '/(a+)+$/ took longer than 500 ms on a line of 41 characters and was stopped' });
    expect(r.running).toBe(false);
    vi.useRealTimers();
    expect((await r.first({ source: 'a!' }, [LINE]))?.index).toBe(0);
  });

  it('ABORT terminates a running match at once, with the abort reason', async () => {
    const r = runner();
    const controller = new AbortController();
    const outcome = r.first(HOSTILE, [LINE], controller.signal).then(() => undefined, (e: unknown) => e);
    while (!r.running) await turn();
    controller.abort(new Error('ABORT pressed'));
    expect(await outcome).toMatchObject({ message: 'ABORT pressed' });
    expect(r.running).toBe(false);
    expect((await r.first({ source: '!$' }, [LINE]))?.index).toBe(0);
  });

  it('calls queue: one match at a time, each with its own deadline', async () => {
    const r = runner();
    const all = await Promise.all(['x1', 'x2', 'x3'].map((s) => r.first({ source: s }, ['x0', 'x1', 'x2', 'x3'])));
    expect(all.map((f) => f?.index)).toEqual([1, 2, 3]);
  });
});
