import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { TypedEmitter } from '../util/typed-emitter.js';

/** A mounted stick that carries a pijig/ folder. */
export interface Stick {
  /** The mount's folder name inside the mount directory (e.g. the volume label). */
  name: string;
  /** Absolute path of the mount. */
  root: string;
}

export interface StickEvents extends Record<string, unknown[]> {
  inserted: [Stick];
  removed: [Stick];
  'scan-failed': [Error];
}

export interface StickWatcherOptions {
  /** Where sticks are mounted: /media/pijig on the appliance (systemd automount), any folder on the virtual jig. */
  mountDir: string;
  /** Poll period. A stick is seen within one period of its mount appearing. */
  intervalMs?: number;
}

/**
 * Watches the mount directory for sticks. A stick is present when a subfolder of the mount
 * directory holds a `pijig/` folder; folders without one (an empty mount point before the mount
 * completes, a stranger's stick) are ignored. Polling, not inotify: inotify does not see mounts
 * appear on an existing mount point, and a poll of one directory per second costs nothing.
 */
export class StickWatcher extends TypedEmitter<StickEvents> {
  private readonly present = new Map<string, Stick>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private scanning: Promise<void> | undefined;

  constructor(private readonly options: StickWatcherOptions) {
    super();
  }

  get sticks(): Stick[] {
    return [...this.present.values()];
  }

  /** Scan now and then every interval. */
  start(): void {
    if (this.timer) return;
    void this.scan();
    this.timer = setInterval(() => void this.scan(), this.options.intervalMs ?? 1000);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One scan; emits `inserted`/`removed` for what changed. Overlapping calls share one scan. */
  scan(): Promise<void> {
    this.scanning ??= this.doScan().finally(() => {
      this.scanning = undefined;
    });
    return this.scanning;
  }

  private async doScan(): Promise<void> {
    const { mountDir } = this.options;
    const seen = new Map<string, Stick>();
    try {
      let names: string[] = [];
      try {
        names = await readdir(mountDir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // no mount dir yet: no sticks
      }
      for (const name of names) {
        if (name.startsWith('.')) continue;
        const root = join(mountDir, name);
        if (await isDir(join(root, 'pijig'))) seen.set(name, this.present.get(name) ?? { name, root });
      }
    } catch (err) {
      this.emit('scan-failed', err as Error);
      return;
    }
    for (const [name, stick] of this.present) {
      if (!seen.has(name)) {
        this.present.delete(name);
        this.emit('removed', stick);
      }
    }
    for (const [name, stick] of seen) {
      if (!this.present.has(name)) {
        this.present.set(name, stick);
        this.emit('inserted', stick);
      }
    }
  }
}

/** A real folder: a `pijig` that is a symbolic link does not make a stick (it is not followed). */
async function isDir(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch {
    return false; // gone, or a stick pulled mid-scan (EIO): not present
  }
}
