import type { ClockSync } from './clock.js';

/** The virtual jig's clock: synchronised unless told otherwise. */
export class SimClock implements ClockSync {
  readonly source = 'simulated clock';
  constructor(public synced: boolean | undefined = true) {}

  async synchronized(): Promise<boolean | undefined> {
    return this.synced;
  }
}
