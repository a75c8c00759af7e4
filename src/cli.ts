#!/usr/bin/env node
import { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { ConfigError } from './config/errors.js';
import { DEFAULT_SOCKET } from './control/client.js';
import type { CliIo } from './cli/io.js';
import type { ControlCliIo } from './cli/control-io.js';

/**
 * The `pijig` command. The only place that reads argv and the environment, chooses real or
 * simulated hardware, and sets the process's exit status.
 */
const HERE = dirname(fileURLToPath(import.meta.url));
const EXAMPLES = resolve(HERE, '..', 'jig-config');
const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

const VERSION = '0.1.0';

/** --socket's default: PIJIG_SOCKET; else the service's; else, when no service runs here, a virtual jig's started in this folder. */
function defaultSocket(): string {
  const env = process.env['PIJIG_SOCKET'];
  if (env) return env;
  const sim = resolve('.pijig-sim', 'control.sock');
  return !existsSync(DEFAULT_SOCKET) && existsSync(sim) ? sim : DEFAULT_SOCKET;
}
const program = new Command('pijig').description('production programming and test station').version(VERSION);

const io: ControlCliIo = {
  out,
  err,
  socket: defaultSocket(),
  stdout: process.stdout,
  setExitCode: (code) => void (process.exitCode = code),
  onInterrupt: (listener) => {
    process.once('SIGINT', listener);
    process.once('SIGTERM', listener);
    return () => {
      process.off('SIGINT', listener);
      process.off('SIGTERM', listener);
    };
  },
};
// `pijig export --out - | head`: the reader closing the pipe ends the output quietly.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
});
/**
 * Every command, loaded on demand: `pijig status` over SSH loads the socket client, not the
 * station, the bundle tooling or the plotting library. --help (or an unknown command) loads all.
 */
const COMMANDS: Record<string, (program: Command) => Promise<unknown>> = {
  serve: (p) => import('./cli/serve.js').then((m) => m.registerServe(p, io, VERSION)),
  sim: (p) => import('./cli/sim.js').then((m) => m.registerSim(p, io, EXAMPLES, VERSION)),
  status: (p) => import('./cli/status.js').then((m) => m.registerStatus(p, io)),
  watch: (p) => import('./cli/watch.js').then((m) => m.registerWatch(p, io)),
  history: (p) => import('./cli/history.js').then((m) => m.registerHistory(p, io)),
  unit: (p) => import('./cli/unit.js').then((m) => m.registerUnit(p, io)),
  'run-step': (p) => import('./cli/run-step.js').then((m) => m.registerRunStep(p, io)),
  selftest: (p) => import('./cli/selftest.js').then((m) => m.registerSelftest(p, io)),
  export: (p) => import('./cli/export.js').then((m) => m.registerExport(p, io)),
  report: (p) => import('./cli/report.js').then((m) => m.registerReport(p, io)),
  config: (p) => import('./cli/config.js').then((m) => m.registerConfig(p, io as CliIo, EXAMPLES)),
  bundle: (p) => import('./cli/bundle.js').then((m) => m.registerBundleCommands(p, { out })),
  // the person behind the reprint: under sudo, the one who ran sudo
  label: (p) => import('./cli/label.js').then((m) => m.registerLabel(p, io as CliIo, () => process.env['SUDO_USER'] || userInfo().username, io.socket)),
  ledger: (p) => import('./cli/ledger.js').then((m) => m.registerLedger(p, io as CliIo)),
  journal: (p) => import('./cli/journal.js').then((m) => m.registerJournal(p, io as CliIo)),
  audit: (p) => import('./cli/audit.js').then((m) => m.registerAudit(p, io as CliIo)),
};
const asked = process.argv.slice(2).find((a) => !a.startsWith('-'));
for (const name of asked && Object.hasOwn(COMMANDS, asked) ? [asked] : Object.keys(COMMANDS)) await COMMANDS[name]!(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  const error = e as Error & { code?: string };
  err(error instanceof ConfigError ? error.message : `pijig: ${error.code ? `${error.code}: ` : ''}${error.message}`);
  process.exitCode = 2;
  // A fatal error ends the process: nothing half-started (a server, a timer) may keep it alive.
  // (Children die with it: they are bound to this process, util/child.ts.)
  setTimeout(() => process.exit(), 200).unref();
});
