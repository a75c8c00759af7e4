import { rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { boundToThisProcess } from '../../util/child.js';
import { makeTempDir } from '../../util/temp.js';
import { chipFamily } from '../../core/chip-families.js';
import {
  classifyFailure,
  parseByteList,
  parseDifferences,
  parseErased,
  parseSectors,
  parseVerified,
  parseWrote,
  readProtectionFrom,
  type Classification,
} from './openocd-output.js';
import { DEFAULT_DEADLINES, deadlinesOf, openocdArgs, probeFamily, tclWord, type ProbeConfig, type ProbeDeadlines } from './probe-config.js';
import {
  ProbeError,
  type DebugProbe,
  type FlashSector,
  type FamilyOptions,
  type OperationOptions,
  type ProbeEvent,
  type ProbeFailure,
  type ProbeSession,
  type VerifyResult,
} from './probe.js';

/**
 * The debug probe through openocd 0.12: one openocd process per session, driven over its TCL RPC
 * with `tcl_port pipe`, i.e. on the process's own stdin/stdout (openocd server.c,
 * CONNECTION_STDINOUT). No TCP port to pick or race for, nothing another process can connect to,
 * and openocd shuts down by itself when our end of the pipe closes. gdb and telnet are disabled.
 *
 * RPC facts (src/server/tcl_server.c, src/helper/command.c in 0.12):
 * - a request is a Tcl script ended by 0x1a; the reply is the script's result ended by 0x1a;
 * - the reply carries no success flag, and a failing command's result is only what it
 *   `command_print`ed ("diff ..." lines), so every request is wrapped in `catch`;
 * - `command_print` output ("wrote N bytes ...", "verified ...", "diff ...") is the result;
 *   LOG_ERROR/LOG_INFO lines and `echo` go to stderr. Each request echoes a begin and an end
 *   marker to stderr, so the log lines of one command are exactly those between its markers.
 */

export interface OpenocdProcessInfo {
  pid: number;
  /** Settles when the process has ended (and been reaped). */
  exited: Promise<{ code: number | null; signal: string | null }>;
}

export interface OpenocdProbeOptions {
  /** Adapter and target arguments (configuration stage): `openocdArgs(settings)` or the virtual jig's. */
  args: readonly string[];
  /** Chip family for lock, its proof and mass erase ("stm32f1x", "stm32g0"): a name core/chip-families.ts knows. */
  family: string;
  deadlines?: Partial<ProbeDeadlines>;
  /** openocd executable; default "openocd" from PATH. */
  executable?: string;
  /** Told of every openocd process started (the benchmark counts them; tests time their exit). */
  onProcess?: (process: OpenocdProcessInfo) => void;
}

/** The probe the station config describes; the executable is the config's `openocd`. */
export function openocdProbe(settings: ProbeConfig, options: Pick<OpenocdProbeOptions, 'onProcess'> = {}): OpenocdProbe {
  return new OpenocdProbe({ args: openocdArgs(settings), family: probeFamily(settings), deadlines: deadlinesOf(settings), executable: settings.openocd, ...options });
}

export class OpenocdProbe implements DebugProbe {
  /** Throws ChipError at construction (station start) for a family the chip table does not know, not at the first lock. */
  constructor(private readonly options: OpenocdProbeOptions) {
    chipFamily(options.family);
  }

  async open(opts: OperationOptions): Promise<OpenocdSession> {
    const deadlines = { ...DEFAULT_DEADLINES, ...this.options.deadlines };
    const session = new OpenocdSession(this.options.executable ?? 'openocd', this.options.args, this.options.family, deadlines);
    this.options.onProcess?.({ pid: session.pid, exited: session.exited });
    try {
      // The first request is answered only after openocd's `init` (adapter, scan chain, examine).
      await session.reset('halt', { signal: opts.signal, timeoutMs: opts.timeoutMs ?? deadlines.openMs }, 'TARGET_NOT_RESPONDING');
    } catch (error) {
      await session.close();
      throw error;
    }
    return session;
  }
}

interface Pending {
  id: number;
  label: string;
  begun: boolean;
  ended: boolean;
  lines: string[];
  reply: string | undefined;
  settle: (outcome: { ok: true; value: Reply } | { ok: false; error: ProbeError }) => void;
}

interface Reply {
  ok: boolean;
  result: string;
  lines: string[];
}

const LOG_TAIL = 400;
const MARKER = /^@@pj (\d+) ([<>])$/;

export class OpenocdSession implements ProbeSession {
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  private readonly subprocess;
  private readonly listeners = new Set<(event: ProbeEvent) => void>();
  private readonly tail: string[] = [];
  /** Log lines outside any command (init, target polling between commands). */
  private idle: string[] = [];
  private stdout = '';
  private stderr = '';
  private seq = 0;
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** Set once the session cannot be used any more: why. */
  private dead: ProbeError | undefined;
  private exit: { code: number | null; signal: string | null } | undefined;
  private scratch: Promise<string> | undefined;
  private closing: Promise<void> | undefined;
  private probingProtection = false;

  constructor(
    executable: string,
    args: readonly string[],
    readonly family: string,
    private readonly deadlines: ProbeDeadlines,
  ) {
    const server = ['-c', 'gdb_port disabled', '-c', 'telnet_port disabled', '-c', 'tcl_port pipe'];
    // Bound to pijig's life (setpriv --pdeathsig KILL): a SIGKILLed station leaves no openocd behind.
    const command = boundToThisProcess(executable, [...args, ...server]);
    this.subprocess = execa(command.file, command.args, {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      // openocd 0.12 can hang in adapter I/O ignoring SIGTERM: every kill is SIGKILL.
      killSignal: 'SIGKILL',
      cleanup: true,
    });
    this.pid = this.subprocess.pid ?? -1;
    this.subprocess.stdin.on('error', () => {}); // EPIPE when openocd died; the exit handler reports it
    this.subprocess.stdout.setEncoding('latin1');
    this.subprocess.stderr.setEncoding('latin1');
    this.subprocess.stdout.on('data', (chunk: string) => this.onStdout(chunk));
    this.subprocess.stderr.on('data', (chunk: string) => this.onStderr(chunk));
    this.exited = this.subprocess.then((result) => {
      const exit = { code: result.exitCode ?? null, signal: result.signal ?? null };
      const spawnError = result.exitCode === undefined && result.signal === undefined && !result.isTerminated;
      this.onExit(exit, spawnError ? result.originalMessage || result.shortMessage : undefined);
      return exit;
    });
  }

  onEvent(listener: (event: ProbeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Recent log lines (stderr), for messages and the record. */
  log(): string[] {
    return [...this.tail];
  }

  private async resetNow(mode: 'run' | 'halt', opts: OperationOptions, fallback: ProbeFailure = 'TARGET_NOT_RESPONDING'): Promise<void> {
    const t0 = performance.now();
    await this.must(`reset ${mode}`, opts, 0, fallback, { type: 'started', operation: 'reset' });
    this.emit({ type: 'reset', mode, seconds: seconds(t0) });
  }

  private async sectorsNow(opts: OperationOptions): Promise<FlashSector[]> {
    const reply = await this.must('flash info 0 sectors', opts, 0, 'TARGET_NOT_RESPONDING');
    const sectors = parseSectors(reply.result);
    if (sectors.length === 0) throw new ProbeError('PROGRAM_FAILED', `flash info printed no sectors: ${reply.result.slice(0, 200)}`);
    return sectors;
  }

  private async eraseNow(address: number, length: number, opts: OperationOptions): Promise<{ seconds: number }> {
    const t0 = performance.now();
    // `pad` widens the range to whole sectors (flash erase_address refuses unaligned ranges otherwise).
    const reply = await this.flashOp(`flash erase_address pad ${hex(address)} ${length}`, opts, length / 4, { type: 'started', operation: 'erase', address, bytes: length });
    const seconds_ = parseErased(reply.result)?.seconds ?? seconds(t0);
    this.emit({ type: 'erased', address, bytes: length, seconds: seconds_ });
    return { seconds: seconds_ };
  }

  private async massEraseNow(opts: OperationOptions): Promise<{ seconds: number }> {
    const t0 = performance.now();
    await this.flashOp(chipFamily(this.family).massErase, opts, 0, { type: 'started', operation: 'erase' });
    const s = seconds(t0);
    this.emit({ type: 'erased', address: 0, bytes: 0, seconds: s });
    return { seconds: s };
  }

  private async writeFileNow(file: string, address: number, opts: OperationOptions): Promise<{ bytes: number; seconds: number }> {
    const size = (await stat(file)).size;
    const t0 = performance.now();
    const reply = await this.flashOp(`flash write_image ${tclWord(file)} ${hex(address)} bin`, opts, size, { type: 'started', operation: 'program', address, bytes: size });
    const wrote = parseWrote(reply.result) ?? { bytes: size, seconds: seconds(t0) };
    this.emit({ type: 'programmed', address, ...wrote });
    return wrote;
  }

  private async writeBytesNow(address: number, data: Uint8Array, opts: OperationOptions): Promise<{ bytes: number; seconds: number }> {
    const dir = await (this.scratch ??= makeTempDir('openocd'));
    const file = join(dir, `bytes-${address.toString(16)}.bin`);
    await writeFile(file, data);
    const erased = await this.eraseNow(address, data.length, opts);
    const wrote = await this.writeFileNow(file, address, opts);
    return { bytes: wrote.bytes, seconds: erased.seconds + wrote.seconds };
  }

  private async verifyFileNow(file: string, address: number, opts: OperationOptions): Promise<VerifyResult> {
    const size = (await stat(file)).size;
    const t0 = performance.now();
    const reply = await this.send(`verify_image ${tclWord(file)} ${hex(address)} bin`, opts, size, { type: 'started', operation: 'verify', address, bytes: size });
    if (reply.ok) {
      const v = parseVerified(reply.result) ?? { bytes: size, seconds: seconds(t0) };
      this.emit({ type: 'verified', address, ...v, ok: true });
      return { ok: true, ...v };
    }
    const diffs = parseDifferences(reply.result);
    if (diffs.length === 0) throw await this.failure(`verify_image ${file}`, reply, 'PROGRAM_FAILED', true);
    const s = seconds(t0);
    this.emit({ type: 'verified', address, bytes: size, seconds: s, ok: false });
    const first = diffs.reduce((a, b) => (b.address < a.address ? b : a));
    return { ok: false, bytes: size, seconds: s, differences: diffs.length, firstDifference: first };
  }

  private async readNow(address: number, length: number, opts: OperationOptions): Promise<Uint8Array> {
    const reply = await this.send(`read_memory ${hex(address)} 8 ${length}`, opts, length, { type: 'started', operation: 'read', address, bytes: length });
    if (!reply.ok) throw await this.failure(`read_memory ${hex(address)}`, reply, 'TARGET_NOT_RESPONDING', true);
    const bytes = parseByteList(reply.result, length);
    if (!bytes) throw new ProbeError('TARGET_NOT_RESPONDING', `read_memory ${hex(address)} ${length} returned "${reply.result.slice(0, 120)}"`);
    return bytes;
  }

  private async lockNow(opts: FamilyOptions): Promise<void> {
    const command = chipFamily(opts.family ?? this.family).lock;
    const reply = await this.must(command, opts, 0, 'PROGRAM_FAILED', { type: 'started', operation: 'lock' });
    // The stm32 drivers print "... failed to lock device" and still return ERROR_OK.
    if (/failed/i.test(reply.result)) throw new ProbeError('PROGRAM_FAILED', `${command}: ${reply.result.trim()}`);
  }

  /** The family's lock proof from the chip table: an option-byte command, or the option register read directly. */
  private async readProtectionNow(opts: FamilyOptions): Promise<boolean> {
    const { lockProof } = chipFamily(opts.family ?? this.family);
    const reply = await this.must(lockProof.command, opts, 0, 'TARGET_NOT_RESPONDING');
    const on = readProtectionFrom(lockProof, reply.result);
    if (on === undefined) throw new ProbeError('TARGET_NOT_RESPONDING', `${lockProof.command} did not show the read protection state (${lockProof.register}): "${reply.result.slice(0, 200)}"`);
    return on;
  }

  reset(mode: 'run' | 'halt', opts: OperationOptions, fallback: ProbeFailure = 'TARGET_NOT_RESPONDING'): Promise<void> {
    return this.exclusive(() => this.resetNow(mode, opts, fallback));
  }

  sectors(opts: OperationOptions): Promise<FlashSector[]> {
    return this.exclusive(() => this.sectorsNow(opts));
  }

  erase(address: number, length: number, opts: OperationOptions): Promise<{ seconds: number }> {
    return this.exclusive(() => this.eraseNow(address, length, opts));
  }

  massErase(opts: OperationOptions): Promise<{ seconds: number }> {
    return this.exclusive(() => this.massEraseNow(opts));
  }

  writeFile(file: string, address: number, opts: OperationOptions): Promise<{ bytes: number; seconds: number }> {
    return this.exclusive(() => this.writeFileNow(file, address, opts));
  }

  writeBytes(address: number, data: Uint8Array, opts: OperationOptions): Promise<{ bytes: number; seconds: number }> {
    return this.exclusive(() => this.writeBytesNow(address, data, opts));
  }

  verifyFile(file: string, address: number, opts: OperationOptions): Promise<VerifyResult> {
    return this.exclusive(() => this.verifyFileNow(file, address, opts));
  }

  read(address: number, length: number, opts: OperationOptions): Promise<Uint8Array> {
    return this.exclusive(() => this.readNow(address, length, opts));
  }

  lock(opts: FamilyOptions): Promise<void> {
    return this.exclusive(() => this.lockNow(opts));
  }

  readProtection(opts: FamilyOptions): Promise<boolean> {
    return this.exclusive(() => this.readProtectionNow(opts));
  }

  close(): Promise<void> {
    return (this.closing ??= this.shutdown());
  }

  private async shutdown(): Promise<void> {
    if (!this.exit) {
      this.dead ??= new ProbeError('CONNECTION_LOST', 'the openocd session was closed');
      // `shutdown`, then EOF on the pipe (which alone also ends a pipe-mode openocd).
      this.subprocess.stdin.write('shutdown\x1a');
      this.subprocess.stdin.end();
      const timer = setTimeout(() => this.subprocess.kill('SIGKILL'), 3000);
      await this.exited;
      clearTimeout(timer);
    }
    if (this.scratch) await rm(await this.scratch, { recursive: true, force: true }).catch(() => {});
  }

  /** A command that must succeed; failures are classified (with a protection check for flash work). */
  private async must(command: string, opts: OperationOptions, bytes: number, fallback: ProbeFailure, started?: ProbeEvent): Promise<Reply> {
    const reply = await this.send(command, opts, bytes, started);
    if (!reply.ok) throw await this.failure(command, reply, fallback, false);
    return reply;
  }

  private async flashOp(command: string, opts: OperationOptions, bytes: number, started: ProbeEvent): Promise<Reply> {
    const reply = await this.send(command, opts, bytes, started);
    if (!reply.ok) throw await this.failure(command, reply, 'PROGRAM_FAILED', true);
    return reply;
  }

  /**
   * Turn a failed reply into a ProbeError. Reads of a read-out protected STM32 fail like a dead
   * bus ("Failed to read memory", STICKY ERROR), so for flash work an unclear failure is followed
   * by an option-byte read: protection on means FLASH_PROTECTED.
   */
  private async failure(command: string, reply: Reply, fallback: ProbeFailure, checkProtection: boolean): Promise<ProbeError> {
    const c = classifyFailure({ lines: reply.lines, result: reply.result });
    const unclear = !c.matched || c.code === 'PROGRAM_FAILED' || c.code === 'TARGET_NOT_RESPONDING';
    if (checkProtection && unclear && !this.dead && !this.probingProtection) {
      this.probingProtection = true;
      const on = await this.readProtectionNow({ signal: new AbortController().signal })
        .catch(() => undefined)
        .finally(() => (this.probingProtection = false));
      if (on === true) {
        return this.error({ code: 'FLASH_PROTECTED', evidence: `${c.evidence} (option bytes: read protection on)`, matched: true }, command, reply.lines);
      }
    }
    return this.error(c.matched ? c : { ...c, code: fallback }, command, reply.lines, reply.result);
  }

  private error(c: Classification, command: string, lines: readonly string[], result?: string): ProbeError {
    const details: Record<string, unknown> = { command, log: lines.slice(-20) };
    if (result) details['result'] = result.slice(0, 2000);
    return new ProbeError(c.code, `${command}: ${c.evidence}`, { details });
  }

  /** One operation at a time, in call order, each with all its commands and events. */
  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const task = this.queue.then(operation);
    this.queue = task.catch(() => {});
    return task;
  }

  /** Send one command; resolves with its reply whether or not it succeeded. */
  private send(command: string, opts: OperationOptions, bytes: number, started?: ProbeEvent): Promise<Reply> {
    if (this.dead) return Promise.reject(this.dead);
    const timeoutMs = opts.timeoutMs ?? this.deadlines.commandMs + (this.deadlines.perKiBMs * bytes) / 1024;
    const id = ++this.seq;
    return new Promise<Reply>((resolve, reject) => {
      const onAbort = (): void => this.kill(new ProbeError('ABORTED', `${command}: aborted`, { cause: opts.signal.reason, details: { command } }));
      const timer = setTimeout(
        () => this.kill(new ProbeError('PROBE_TIMEOUT', `${command}: no answer within ${Math.round(timeoutMs)} ms, openocd killed`, { details: { command, log: this.tail.slice(-20) } })),
        timeoutMs,
      );
      opts.signal.addEventListener('abort', onAbort, { once: true });
      this.pending = {
        id,
        label: command,
        begun: false,
        ended: false,
        lines: [],
        reply: undefined,
        settle: (outcome) => {
          clearTimeout(timer);
          opts.signal.removeEventListener('abort', onAbort);
          this.pending = undefined;
          if (outcome.ok) resolve(outcome.value);
          else reject(outcome.error);
        },
      };
      // ABORT means stop now, whether or not a command is under way.
      if (opts.signal.aborted) return onAbort();
      if (started) this.emit(started);
      // Each line is evaluated by Jim; catch keeps a failing command from losing its output.
      this.subprocess.stdin.write(
        `echo {@@pj ${id} <}; set __pj_rc [catch {${command}} __pj_r]; echo {@@pj ${id} >}; format {%d %s} $__pj_rc $__pj_r\x1a`,
      );
    });
  }

  /** End the process now (deadline or abort); the pending command rejects once it has exited. */
  private kill(reason: ProbeError): void {
    this.dead ??= reason;
    this.subprocess.kill('SIGKILL');
  }

  private onStdout(chunk: string): void {
    this.stdout += chunk;
    let end: number;
    while ((end = this.stdout.indexOf('\x1a')) >= 0) {
      const reply = this.stdout.slice(0, end);
      this.stdout = this.stdout.slice(end + 1);
      if (this.pending && this.pending.reply === undefined) {
        this.pending.reply = reply;
        this.complete();
      }
    }
  }

  private onStderr(chunk: string): void {
    this.stderr += chunk;
    let end: number;
    while ((end = this.stderr.indexOf('\n')) >= 0) {
      const line = this.stderr.slice(0, end).replace(/\r$/, '');
      this.stderr = this.stderr.slice(end + 1);
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    const marker = MARKER.exec(line);
    const p = this.pending;
    if (marker) {
      if (p && Number(marker[1]) === p.id) {
        if (marker[2] === '<') p.begun = true;
        else p.ended = true;
        this.idle = [];
        this.complete();
      }
      return;
    }
    this.tail.push(line);
    if (this.tail.length > LOG_TAIL) this.tail.shift();
    if (p?.begun && !p.ended) p.lines.push(line);
    else if (this.idle.length < LOG_TAIL) this.idle.push(line);
  }

  /** The reply (stdout) and the end marker (stderr) travel on different pipes: wait for both. */
  private complete(): void {
    const p = this.pending;
    if (!p || p.reply === undefined || !p.ended) return;
    // `catch` gives 0 on success, else the Jim code or openocd's own error code (-4, -909, ...).
    const m = /^(-?\d+) ?([\s\S]*)$/.exec(p.reply);
    p.settle({ ok: true, value: { ok: m?.[1] === '0', result: m?.[2] ?? p.reply, lines: p.lines } });
  }

  private onExit(exit: { code: number | null; signal: string | null }, spawnError: string | undefined): void {
    this.exit = exit;
    if (this.stderr) this.onLine(this.stderr);
    let reason = this.dead;
    if (!reason) {
      if (spawnError) {
        reason = new ProbeError('PROBE_NOT_FOUND', `openocd could not be started: ${spawnError}`);
      } else {
        // Died by itself: during a command its lines decide, otherwise those since the last command
        // (before the first one: init's). openocd also logs each reply after its end marker, so
        // older lines would repeat earlier failures.
        const p = this.pending;
        const lines = p?.begun ? p.lines : this.idle;
        const c = classifyFailure({ lines, exit });
        const how = exit.signal ?? `exit code ${exit.code}`;
        const what = p?.begun ? `${p.label}: ` : p ? 'openocd init: ' : '';
        reason = new ProbeError(c.code, `${what}openocd ended (${how}): ${c.evidence}`, { details: { exit, log: lines.slice(-20) } });
      }
      this.dead = reason;
    }
    this.pending?.settle({ ok: false, error: reason });
  }

  private emit(event: ProbeEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A progress display must not break flashing.
      }
    }
  }
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function seconds(t0: number): number {
  return (performance.now() - t0) / 1000;
}
