import { PijigError } from '../core/errors.js';
import type { IdentityProvider, UnitIdentity } from '../core/identity.js';
import { formatMac, parseMac } from '../core/identity.js';
import type { StationState } from './state.js';

export interface IdentityBlock {
  serialPrefix: string;
  serialDigits: number;
  first: number;
  count: number;
  macFirst: string;
}

export class IdentityExhaustedError extends PijigError<'IDENTITY_EXHAUSTED'> {
  constructor(message: string) {
    super('IDENTITY_EXHAUSTED', message);
  }
}

/**
 * The simple identity provider: a counter in the durable station state. A number is persisted as
 * used (fsync) before it is handed out, so a crash can waste a number but never issue one twice.
 * (The traceability ledger replaces this with allocated blocks.)
 */
export class CounterIdentityProvider implements IdentityProvider {
  constructor(
    private readonly state: StationState,
    private readonly block: IdentityBlock,
  ) {}

  async allocate(): Promise<UnitIdentity> {
    const key = blockKey(this.block);
    const index = this.state.data.identityCursor[key] ?? 0;
    if (index >= this.block.count) throw new IdentityExhaustedError(`identity block ${key} exhausted: all ${this.block.count} serial numbers are used`);
    await this.state.update((s) => {
      s.identityCursor[key] = index + 1;
    });
    return identityAt(this.block, index);
  }
}

/** Blocks are counted separately: a bundle that brings its own block starts at its first number. */
export function blockKey(block: IdentityBlock): string {
  return `${block.serialPrefix}${block.first}+${block.count}/${block.macFirst}`;
}

export function identityAt(block: IdentityBlock, index: number): UnitIdentity {
  const serial = `${block.serialPrefix}${String(block.first + index).padStart(block.serialDigits, '0')}`;
  const base = parseMac(block.macFirst);
  let value = 0n;
  for (const b of base) value = (value << 8n) | BigInt(b);
  value += BigInt(index);
  const bytes = new Uint8Array(6);
  for (let i = 5; i >= 0; i--) {
    bytes[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return { serial, mac: formatMac(bytes) };
}
