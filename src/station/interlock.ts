import type { DigitalInput, DigitalOutput } from '../devices/gpio/gpio.js';
import { StepError } from '../steps/errors.js';
import type { DutPower } from '../steps/step.js';

/** The DUT supply handle of one cycle; `end()` makes it refuse to switch on for good. */
export interface CyclePower extends DutPower {
  end(): void;
}

/**
 * The DUT supply relay and the lid switch as one rule: the relay is energised only while a cycle
 * is live and the lid is closed. `off()` drops the relay (ABORT, lid open, teardown) and never
 * throws. `forCycle()` hands the cycle's steps a DutPower that refuses to switch on once the lid
 * is open, the cycle was cancelled or it has ended; steps never see the relay itself.
 */
export class Interlock {
  constructor(
    private readonly relay: DigitalOutput,
    private readonly lidClosed: DigitalInput,
    private readonly log: (message: string) => void,
  ) {}

  get powered(): boolean {
    return this.relay.active;
  }

  async off(): Promise<void> {
    try {
      await this.relay.set(false);
    } catch (err) {
      this.log(`DUT power relay: ${(err as Error).message}`);
    }
  }

  forCycle(signal: AbortSignal): CyclePower {
    let ended = false;
    const refusal = (): string | undefined => (ended ? 'the cycle has ended' : signal.aborted ? 'the cycle was cancelled' : !this.lidClosed.active ? 'the lid is open' : undefined);
    return {
      end: () => {
        ended = true;
      },
      set: async (on) => {
        if (!on) return this.off();
        const before = refusal();
        if (before) throw new StepError('INTERLOCK', `DUT power refused: ${before}`);
        await this.relay.set(true);
        // The lid may have opened (or ABORT come) while the relay was switching: drop it again.
        const after = refusal();
        if (after) {
          await this.off();
          throw new StepError('INTERLOCK', `DUT power refused: ${after}`);
        }
      },
    };
  }
}
