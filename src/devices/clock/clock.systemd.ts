import { access } from 'node:fs/promises';
import { execa } from 'execa';
import type { ClockSync } from './clock.js';

/** systemd-timesyncd creates this file once it has synchronised the clock (man systemd-timesyncd.service). */
export const TIMESYNC_FLAG = '/run/systemd/timesync/synchronized';

/**
 * The Pi's clock as systemd sees it: the timesyncd flag file first (no process), else
 * `timedatectl show -p NTPSynchronized --value` (any NTP client that systemd-timedated knows),
 * with a deadline that ends in SIGKILL.
 */
export class SystemdClock implements ClockSync {
  readonly source: string;

  constructor(private readonly options: { flagFile?: string; timedatectl?: string; deadlineMs?: number } = {}) {
    this.source = `${options.flagFile ?? TIMESYNC_FLAG} or timedatectl`;
  }

  async synchronized(): Promise<boolean | undefined> {
    if (await access(this.options.flagFile ?? TIMESYNC_FLAG).then(() => true, () => false)) return true;
    try {
      const r = await execa(this.options.timedatectl ?? 'timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], {
        timeout: this.options.deadlineMs ?? 2000,
        killSignal: 'SIGKILL',
        reject: false,
      });
      if (r.exitCode !== 0) return undefined;
      const v = r.stdout.trim();
      return v === 'yes' ? true : v === 'no' ? false : undefined;
    } catch {
      return undefined;
    }
  }
}
