import { execa } from 'execa';
import { z } from 'zod';
import { boundToThisProcess } from '../util/child.js';
import { StepError } from './errors.js';
import { hex } from './program.js';
import { defineStep, type StepContext } from './step.js';
import { planRegex, RegexTimeoutError } from './plan-regex.js';

/** Output kept in the record: the last 64 KiB (a flashing tool's progress bars can run to megabytes). */
export const OUTPUT_LIMIT = 64 * 1024;
const LOG_LINES = 100;

const PLACEHOLDER = /\$\{([^}]*)\}/g;
const KNOWN = /^(?:image\.(?:file|version|product|hash)|region\.[A-Za-z0-9_.-]+\.(?:file|address|size)|serial|mac)$/;

const template = z.string().superRefine((s, ctx) => {
  for (const m of s.matchAll(PLACEHOLDER)) {
    if (!KNOWN.test(m[1]!)) ctx.addIssue({ code: 'custom', message: `unknown placeholder \${${m[1]}}` });
  }
});

const regex = z.string().superRefine((s, ctx) => {
  try {
    new RegExp(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(e as Error).message}` });
  }
});

const paramsSchema = z
  .object({
    /**
     * The program and its arguments, no shell. Placeholders: ${image.file} (the image's only
     * region), ${image.version}, ${image.product}, ${image.hash}, ${region.<name>.file|address|size},
     * ${serial}, ${mac} (after the identity step).
     */
    argv: z.array(template).min(1),
    /** Deadline; the process is then SIGKILLed. */
    timeout_ms: z.number().int().positive(),
    /** The exit code that means success. */
    expect_exit: z.number().int().default(0),
    /** The step fails unless some output line matches this regular expression. */
    pass_pattern: regex.optional(),
    /** The step fails if any output line matches this regular expression. */
    fail_pattern: regex.optional(),
    cwd: template.optional(),
    /** Added to the jig's environment; values may use placeholders. */
    env: z.record(z.string(), template).optional(),
    /** The command writes the image to the DUT: it is counted in the ledger (against the order) before it runs. */
    flashes_image: z.boolean().default(false),
  })
  .strict();

export type CommandParams = z.output<typeof paramsSchema>;

export const commandStep = defineStep({
  kind: 'command',
  description: 'Run an external flashing tool (dfu-util, stm32flash, JLinkExe) with a deadline and judge its exit code and output',
  params: paramsSchema,
  needs: [],
  produces: () => [{ name: 'exit_code' }, { name: 'duration_s', unit: 's' }],
  patterns: (p) => [
    ...(p.pass_pattern === undefined ? [] : [{ param: 'pass_pattern', source: p.pass_pattern }]),
    ...(p.fail_pattern === undefined ? [] : [{ param: 'fail_pattern', source: p.fail_pattern }]),
  ],
  async run(ctx) {
    const p = ctx.params;
    const argv = p.argv.map((a) => expand(a, ctx));
    const env = p.env ? Object.fromEntries(Object.entries(p.env).map(([k, v]) => [k, expand(v, ctx)])) : undefined;
    const cwd = p.cwd === undefined ? undefined : expand(p.cwd, ctx);
    const output = new TailBuffer(OUTPUT_LIMIT);
    const scan = new PatternScan(p.pass_pattern, p.fail_pattern, ctx.signal);
    let partial = '';
    let logged = 0;
    const onLine = (line: string): void => {
      // The first lines go to the live log (the engineer's `watch`); all of it to the record.
      if (logged < LOG_LINES) ctx.log(++logged === LOG_LINES ? '(further output only in the record)' : line);
      scan.push(line);
    };

    if (p.flashes_image) {
      if (!ctx.image) throw new StepError('NO_IMAGE', `${argv[0]} flashes the image, and no image is active`);
      await ctx.ledger.beginFlash(ctx.image.imageHash);
    }
    const t0 = performance.now();
    ctx.progress(0, argv[0]);
    // The deadline is our own timer (not execa's), so it is one cancel path with ABORT and tests
    // can drive it with fake timers.
    const deadline = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      deadline.abort(new Error(`deadline of ${p.timeout_ms} ms`));
    }, p.timeout_ms);
    // Bound to pijig's life: a SIGKILLed station leaves no tool running.
    const command = boundToThisProcess(argv[0]!, argv.slice(1), cwd);
    const subprocess = execa(command.file, command.args, {
      ...(cwd === undefined ? {} : { cwd }),
      ...(env === undefined ? {} : { env }),
      stdin: 'ignore',
      all: true,
      buffer: false,
      reject: false,
      cancelSignal: AbortSignal.any([ctx.signal, deadline.signal]),
      // Tools stuck on USB I/O may ignore SIGTERM; the deadline is final.
      killSignal: 'SIGKILL',
    });
    subprocess.all?.setEncoding('utf8');
    subprocess.all?.on('data', (chunk: string) => {
      output.push(chunk);
      const lines = (partial + chunk).split(/\r?\n|\r/);
      partial = lines.pop() ?? '';
      lines.forEach(onLine);
    });
    const result = await subprocess.finally(() => clearTimeout(timer));
    if (partial) onLine(partial);
    const seconds = (performance.now() - t0) / 1000;
    const { passLine, failLine, error: regexError } = await scan.done();

    const data = {
      argv,
      exit_code: result.exitCode ?? null,
      signal: result.signal ?? null,
      timed_out: timedOut && !ctx.signal.aborted,
      duration_s: Math.round(seconds * 1000) / 1000,
      output: output.text(),
      output_dropped_bytes: output.dropped,
    };
    const fault = (message: string): StepError => new StepError('COMMAND_FAILED', message, { details: data });

    if (ctx.signal.aborted) throw new StepError('ABORTED', `${argv[0]} killed: step cancelled`, { cause: ctx.signal.reason, details: data });
    if (regexError) throw new StepError('REGEX_TIMEOUT', `${argv[0]} output: ${regexError.message}`, { cause: regexError, details: data });
    if (data.timed_out) throw fault(`${argv[0]} did not finish within ${p.timeout_ms} ms and was killed`);
    if (result.exitCode === undefined && result.signal === undefined) throw fault(`${argv[0]} could not be started: ${result.originalMessage || result.shortMessage}`);
    if (result.signal) throw fault(`${argv[0]} was killed by ${result.signal}`);
    if (result.exitCode !== p.expect_exit) throw fault(`${argv[0]} exited with code ${result.exitCode}, expected ${p.expect_exit}`);
    if (failLine !== undefined) throw fault(`${argv[0]} output matched fail_pattern /${p.fail_pattern}/: "${failLine.trim().slice(0, 200)}"`);
    if (p.pass_pattern !== undefined && passLine === undefined) throw fault(`${argv[0]} output never matched pass_pattern /${p.pass_pattern}/`);
    ctx.progress(1, `${argv[0]} ok`);
    return {
      measurements: [
        { name: 'exit_code', value: result.exitCode ?? -1 },
        { name: 'duration_s', value: data.duration_s, unit: 's' },
      ],
      data,
    };
  },
});

/** Fill placeholders from the image and the unit; a value that is not there is a step error. */
export function expand(text: string, ctx: Pick<StepContext<unknown>, 'image' | 'unit'>): string {
  return text.replace(PLACEHOLDER, (_, name: string) => {
    const missing = (what: string): never => {
      throw new StepError('COMMAND_FAILED', `\${${name}}: ${what}`);
    };
    const image = ctx.image;
    if (name === 'serial' || name === 'mac') return ctx.unit.identity?.[name] ?? missing('the unit has no identity yet (run the identity step first)');
    if (!image) return missing('no active image');
    switch (name) {
      case 'image.version':
        return image.version;
      case 'image.product':
        return image.product;
      case 'image.hash':
        return image.imageHash;
      case 'image.file':
        if (image.regions.length !== 1) return missing(`the image has ${image.regions.length} regions; name one with \${region.<name>.file}`);
        return image.regions[0]!.file;
    }
    const m = /^region\.(.+)\.(file|address|size)$/.exec(name);
    if (!m) return missing('unknown placeholder');
    const region = image.regions.find((r) => r.name === m[1]) ?? missing(`the image has no region "${m[1]}"`);
    return m[2] === 'file' ? region.file : m[2] === 'address' ? hex(region.address) : String(region.size);
  });
}

/**
 * The output lines against pass_pattern and fail_pattern, as they come, on the regex worker (a
 * plan's regex never runs on the event loop). Lines queue while a batch is matched.
 */
class PatternScan {
  passLine: string | undefined;
  failLine: string | undefined;
  private error: unknown;
  private readonly pending: string[] = [];
  private draining: Promise<void> | undefined;

  constructor(
    private readonly pass: string | undefined,
    private readonly fail: string | undefined,
    private readonly signal: AbortSignal,
  ) {}

  push(line: string): void {
    if (this.pass === undefined && this.fail === undefined) return;
    this.pending.push(line);
    this.draining ??= this.drain().finally(() => {
      this.draining = undefined;
    });
  }

  async done(): Promise<{ passLine: string | undefined; failLine: string | undefined; error: RegexTimeoutError | undefined }> {
    while (this.draining) await this.draining;
    if (this.error !== undefined && !(this.error instanceof RegexTimeoutError)) throw this.error;
    return { passLine: this.passLine, failLine: this.failLine, error: this.error };
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0 && !this.error && !this.signal.aborted) {
      const lines = this.pending.splice(0);
      try {
        if (this.fail !== undefined && this.failLine === undefined) this.failLine = await firstLine(this.fail, lines, this.signal);
        if (this.pass !== undefined && this.passLine === undefined) this.passLine = await firstLine(this.pass, lines, this.signal);
      } catch (error) {
        // Kept for done(): the step fails with it once the tool has finished.
        if (!this.signal.aborted) this.error = error;
      }
    }
  }
}

async function firstLine(source: string, lines: readonly string[], signal: AbortSignal): Promise<string | undefined> {
  const found = await planRegex.first({ source }, lines, signal);
  return found === undefined ? undefined : lines[found.index];
}

/** Keeps the last `limit` characters of a stream. */
class TailBuffer {
  private chunks: string[] = [];
  private length = 0;
  dropped = 0;
  constructor(private readonly limit: number) {}
  push(chunk: string): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    while (this.length > this.limit && this.chunks.length > 0) {
      const first = this.chunks[0]!;
      const excess = this.length - this.limit;
      if (first.length <= excess) {
        this.chunks.shift();
        this.length -= first.length;
        this.dropped += first.length;
      } else {
        this.chunks[0] = first.slice(excess);
        this.length -= excess;
        this.dropped += excess;
      }
    }
  }
  text(): string {
    return this.chunks.join('');
  }
}
