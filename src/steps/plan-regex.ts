import { Worker } from 'node:worker_threads';
import { PijigError } from '../core/errors.js';
import type { LineMatcher, LineMatch } from '../devices/console/dut-console.js';

/**
 * A plan's regular expressions run here, never on the event loop that serves ABORT and the lid:
 * a JS regex can backtrack for hours on one line (`(a+)+$` on "aaaa...a!"), and nothing
 * interrupts a running regex but the end of its thread. So every match runs on a worker thread
 * under a deadline; at the deadline (or on ABORT) the worker is terminated - `worker.terminate()`
 * stops V8 even inside a backtracking regex - and the next match starts a fresh one.
 *
 * Why not a linear-time engine: `re2` needs Node 22 (its Node 20 line is unmaintained and a native
 * build), `re2-wasm` (one release, 2021 code) lacks lookaround and backreferences, which plans
 * written for JS regexes use. The worker keeps the exact JS semantics the plan was checked with.
 */

/** How long one match call (a batch of lines) may take. A sane expression needs microseconds per line. */
export const REGEX_BUDGET_MS = 1000;
/** Lines per match call at most, so one call's work stays far inside the budget. */
const BATCH_CHARS = 64 * 1024;

export class RegexTimeoutError extends PijigError<'REGEX_TIMEOUT'> {}

export interface PlanRegex {
  source: string;
  flags?: string;
}

interface Reply {
  id: number;
  index: number;
  match?: string[];
  at?: number;
  groups?: Record<string, string | undefined>;
  error?: string;
}

// Plain JS, evaluated in the worker (no file to resolve between tsx, vitest and dist/).
const WORKER = `
const { parentPort } = require('node:worker_threads');
const cache = new Map();
parentPort.on('message', ({ id, source, flags, lines }) => {
  let re = cache.get(flags + '/' + source);
  try {
    if (!re) {
      re = new RegExp(source, flags);
      if (cache.size > 64) cache.clear();
      cache.set(flags + '/' + source, re);
    }
  } catch (e) {
    parentPort.postMessage({ id, index: -1, error: String(e && e.message) });
    return;
  }
  for (let i = 0; i < lines.length; i++) {
    const m = re.exec(lines[i]);
    if (m) {
      parentPort.postMessage({ id, index: i, match: Array.from(m, (g) => (g === undefined ? null : g)), at: m.index, groups: m.groups ? Object.assign({}, m.groups) : undefined });
      return;
    }
  }
  parentPort.postMessage({ id, index: -1 });
});
`;

interface Job {
  id: number;
  resolve(reply: Reply): void;
  reject(error: unknown): void;
}

/**
 * One worker thread, one match at a time (calls queue). Created on first use and unref'd: it never
 * keeps the process alive, and an idle jig holds no thread.
 */
export class RegexRunner {
  private worker: Worker | undefined;
  private online: Promise<void> | undefined;
  private job: Job | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;

  constructor(private readonly options: { budgetMs?: number } = {}) {}

  get budgetMs(): number {
    return this.options.budgetMs ?? REGEX_BUDGET_MS;
  }

  /** A match is running on the worker right now. */
  get running(): boolean {
    return this.job !== undefined;
  }

  /**
   * The first of `lines` that `regex` matches (flags g and y are ignored). Rejects with
   * RegexTimeoutError when a call takes longer than the budget, and with the signal's reason on
   * abort; either way the worker is terminated at once.
   */
  async first(regex: PlanRegex, lines: readonly string[], signal?: AbortSignal): Promise<LineMatch | undefined> {
    const flags = (regex.flags ?? '').replace(/[gy]/g, '');
    for (let start = 0; start < lines.length; ) {
      let end = start;
      for (let chars = 0; end < lines.length && (end === start || chars + lines[end]!.length <= BATCH_CHARS); end++) chars += lines[end]!.length;
      const batch = lines.slice(start, end);
      const reply = await this.serial(() => this.run(regex.source, flags, batch, signal));
      if (reply.error !== undefined) throw new SyntaxError(`/${regex.source}/${flags}: ${reply.error}`);
      if (reply.index >= 0) {
        const match = Object.assign(reply.match!.map((g) => g ?? undefined), { index: reply.at, input: batch[reply.index], groups: reply.groups }) as unknown as RegExpMatchArray;
        return { index: start + reply.index, match };
      }
      start = end;
    }
    return undefined;
  }

  /** A LineMatcher for the DUT console. */
  matcher(regex: PlanRegex): LineMatcher {
    return { text: `/${regex.source}/${regex.flags ?? ''}`, first: (lines, signal) => this.first(regex, lines, signal) };
  }

  /** Stop the worker (a running match rejects). */
  async close(): Promise<void> {
    this.stop(new Error('regex runner closed'));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn, fn);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async run(source: string, flags: string, lines: string[], signal: AbortSignal | undefined): Promise<Reply> {
    signal?.throwIfAborted();
    const worker = this.start();
    // Held (ref'd) only while a match is due; idle, the worker keeps no process alive.
    worker.ref();
    try {
      // The budget counts the match, not the thread's start-up.
      await this.online;
      signal?.throwIfAborted();
    } catch (err) {
      worker.unref();
      throw err;
    }
    return new Promise<Reply>((resolve, reject) => {
      const id = this.nextId++;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = (): void => this.stop(signal!.reason);
      const settle = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        worker.unref();
        this.job = undefined;
      };
      this.job = {
        id,
        resolve: (reply) => {
          settle();
          resolve(reply);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      timer = setTimeout(() => {
        const chars = lines.reduce((n, l) => n + l.length, 0);
        this.stop(new RegexTimeoutError('REGEX_TIMEOUT', `/${source}/${flags} took longer than ${this.budgetMs} ms on ${lines.length === 1 ? 'a line' : `${lines.length} lines`} of ${chars} characters and was stopped`, { details: { source, flags, chars, budget_ms: this.budgetMs } }));
      }, this.budgetMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      worker.postMessage({ id, source, flags, lines });
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 64 } });
    this.worker = worker;
    this.online = new Promise<void>((resolve, reject) => {
      worker.once('online', () => resolve());
      worker.once('exit', () => reject(new Error('regex worker exited before it started')));
    });
    this.online.catch(() => undefined);
    worker.on('message', (reply: Reply) => {
      if (this.job?.id === reply.id) this.job.resolve(reply);
    });
    worker.on('error', (error) => {
      if (this.worker === worker) this.stop(error);
    });
    worker.on('exit', () => {
      if (this.worker === worker) this.stop(new Error('regex worker exited'));
    });
    // After the listeners: adding a 'message' listener refs the worker's port again (Node 20), and
    // a ref'd port kept `pijig sim --cycles` and a stopping `serve` from ever exiting.
    worker.unref();
    return worker;
  }

  /** Terminate the worker (mid-backtrack if need be) and fail the running match with `reason`. */
  private stop(reason: unknown): void {
    const worker = this.worker;
    this.worker = undefined;
    this.online = undefined;
    if (worker) void worker.terminate();
    this.job?.reject(reason);
  }
}

/** The process's runner for plan regexes (console `expect`, command `pass_pattern`/`fail_pattern`). */
export const planRegex = new RegexRunner();
