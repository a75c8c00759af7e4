#!/usr/bin/env node
import { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import { ConfigError } from './config/errors.js';
import { registerBundleCommands } from './cli/bundle.js';
import { registerConfig } from './cli/config.js';
import { registerExport } from './cli/export.js';
import { registerLabel } from './cli/label.js';
import { registerServe } from './cli/serve.js';
import { registerSim } from './cli/sim.js';

/**
 * The `pijig` command. The only place that reads argv and the environment, chooses real or
 * simulated hardware, and sets the process's exit status.
 */
const HERE = dirname(fileURLToPath(import.meta.url));
const EXAMPLES = resolve(HERE, '..', 'jig-config');
const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

const program = new Command('pijig').description('production programming and test station').version('0.1.0');

const io = { out, err };
registerServe(program, io);
registerSim(program, io, EXAMPLES);
registerConfig(program, io, EXAMPLES);
registerExport(program, io);
// the person behind the reprint: under sudo, the one who ran sudo
registerLabel(program, io, () => process.env['SUDO_USER'] || userInfo().username);
registerBundleCommands(program, { out });

program.parseAsync(process.argv).catch((e: unknown) => {
  const error = e as Error & { code?: string };
  err(error instanceof ConfigError ? error.message : `pijig: ${error.code ? `${error.code}: ` : ''}${error.message}`);
  process.exitCode = 2;
});
