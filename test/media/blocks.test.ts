import { describe, it, expect } from 'vitest';
import { checkManifestBlocks, manifestSchema } from '../../src/media/manifest.js';

const base = {
  format: 1,
  product: 'blinky',
  version: '1.0.0',
  release: 'v1.0.0',
  build: 'ci',
  target: 'stm32f103c8',
  regions: [{ name: 'app', file: 'app.bin', address: 0x08000000, sha256: 'a'.repeat(64), size: 16 }],
  plan: { file: 'plan.yaml', sha256: 'b'.repeat(64), size: 10 },
  createdAt: '2025-03-01T12:00:00Z',
};
const block = (serialStart: number, mac: string) => ({ serial: { prefix: 'BLK-', start: serialStart, count: 100 }, mac: { start: mac, count: 100 } });

describe('identity blocks in the manifest', () => {
  it('one block per station id, each with serial numbers and MACs', () => {
    const m = manifestSchema.parse({ ...base, orderId: 'PO-7', identity: { stations: { 'jig-01': block(1, '02:00:00:00:00:01'), 'jig-02': block(101, '02:00:00:00:01:00') } } });
    expect(m.orderId).toBe('PO-7');
    expect(() => checkManifestBlocks(m, 'manifest.json')).not.toThrow();
    expect(manifestSchema.safeParse({ ...base, identity: { stations: { 'jig-01': { serial: block(1, '02:00:00:00:00:01').serial } } } }).success).toBe(false);
  });

  it('two stations sharing numbers are refused, naming both blocks', () => {
    const m = manifestSchema.parse({ ...base, identity: { stations: { 'jig-01': block(1, '02:00:00:00:00:01'), 'jig-02': block(100, '02:00:00:00:01:00') } } });
    expect(() => checkManifestBlocks(m, 'manifest.json')).toThrow(
      expect.objectContaining({ code: 'BLOCK_OVERLAP', field: 'identity.stations.jig-02.serial', message: 'manifest.json: identity.stations.jig-02.serial: serial BLK-000100..BLK-000199 (100) overlaps serial BLK-000001..BLK-000100 (100) (the block of station jig-01)' }),
    );
  });

  it('a bundle made before per-station blocks still reads, with a shared block that numbers nothing', () => {
    const m = manifestSchema.parse({ ...base, identity: { serial: { prefix: 'BLK-', start: 1, count: 10 }, mac: { start: '02:00:00:00:00:01', count: 10 } } });
    expect(m.identity).toEqual({ stations: {}, shared: true });
  });
});
