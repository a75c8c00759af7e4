import { describe, expect, it } from 'vitest';
import { TypedEmitter } from '../../src/util/typed-emitter.js';

class Source extends TypedEmitter<{ tick: [n: number]; 'listener-error': [event: string, error: unknown] }> {
  fire(n: number): void {
    this.emit('tick', n);
  }
}

describe('typed events', () => {
  it('a listener that throws or rejects is reported on listener-error; the others still run; nothing is unhandled', async () => {
    const s = new Source();
    const errors: string[] = [];
    const got: string[] = [];
    s.on('listener-error', (event, err) => errors.push(`${event}: ${(err as Error).message}`));
    s.on('tick', () => {
      throw new Error('sync boom');
    });
    s.on('tick', async () => {
      await Promise.resolve();
      throw new Error('async boom');
    });
    s.on('tick', (n) => void got.push(`third ${n}`));
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      s.fire(1);
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(got).toEqual(['third 1']);
    expect(errors).toEqual(['tick: sync boom', 'tick: async boom']);
    expect(unhandled).toEqual([]);
  });
});
