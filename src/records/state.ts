import { Low } from 'lowdb';
import { join } from 'node:path';
import { DurableJsonFile } from './durable-file.js';
import type { UnitResult } from '../core/record.js';

/** Small station state: counters and the identity counter. Units themselves live in the journal. */
export interface StationStateData {
  version: 1;
  counts: Record<UnitResult, number>;
  /** Flashes per image hash (every program step that wrote the DUT). */
  flashes: Record<string, number>;
  /** Results per image hash, for the READY screen of the active image. */
  perImage: Record<string, { pass: number; fail: number; error?: number }>;
  /** Next unused index per identity block (simple counter provider; the ledger replaces it). */
  identityCursor: Record<string, number>;
}

const initial = (): StationStateData => ({
  version: 1,
  counts: { PASS: 0, FAIL: 0, ABORTED: 0, ERROR: 0 },
  flashes: {},
  perImage: {},
  identityCursor: {},
});

export class StationState {
  private constructor(private readonly db: Low<StationStateData>) {}

  static async open(dataDir: string): Promise<StationState> {
    const db = new Low<StationStateData>(new DurableJsonFile(join(dataDir, 'state.json')), initial());
    await db.read();
    db.data = { ...initial(), ...db.data };
    return new StationState(db);
  }

  get data(): Readonly<StationStateData> {
    return this.db.data;
  }

  async update(fn: (data: StationStateData) => void): Promise<void> {
    await this.db.update(fn);
  }
}
