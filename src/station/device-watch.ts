import type { Station } from './station.js';

/** A device the wiring declares, and how to ask whether it answers. */
export interface DeviceCheck {
  /** e.g. "ina219 i2c-1 0x40": what DEVICE MISSING names. */
  name: string;
  check(): Promise<void>;
}

export interface DeviceWatchOptions {
  station: Pick<Station, 'running' | 'reportFault' | 'clearFault'>;
  checks: readonly DeviceCheck[];
  log: (message: string) => void;
  /** While a device is missing, look again this often (default 5 s). */
  recheckMs?: number;
}

const SOURCE = 'devices';

/**
 * Every device the wiring declares must answer; a missing one is a station fault (DEVICE
 * MISSING, naming it) until it answers again, then the station recovers by itself. The watch
 * keeps its own idea of what is missing: a stick's message drawn over the fault screen does not
 * make it forget.
 */
export class DeviceWatch {
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The devices DEVICE MISSING names, while it is on. */
  private reported: string | undefined;
  private stopped = false;

  constructor(private readonly options: DeviceWatchOptions) {}

  /** What is missing now (empty when every device answers). */
  get missing(): string[] {
    return this.reported ? this.reported.split('\n') : [];
  }

  /** Check now; while something is missing, check again every recheckMs. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    const { station, log } = this.options;
    if (!station.running) {
      const missing: string[] = [];
      const causes: string[] = [];
      for (const { name, check } of this.options.checks) {
        await check().catch((err: unknown) => {
          missing.push(name);
          causes.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
        });
      }
      const key = missing.join('\n');
      if (missing.length && key !== this.reported) {
        // the cause of each (not only the name the OLED shows)
        log(`device missing: ${causes.join('; ')}`);
        station.reportFault({ source: SOURCE, title: 'DEVICE MISSING', lines: missing });
        this.reported = key;
      } else if (!missing.length && this.reported !== undefined) {
        log('devices answer again');
        this.reported = undefined;
        station.clearFault(SOURCE);
      }
    }
    if (this.reported !== undefined && !this.stopped) this.timer = setTimeout(() => void this.tick(), this.options.recheckMs ?? 5000);
  }
}
