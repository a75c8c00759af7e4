import type { Command } from 'commander';
import { join } from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { parseStation, stationWarnings } from '../config/station.js';
import { loadPlan } from '../config/plan.js';
import { YamlSource } from '../config/yaml.js';
import { ConfigError, formatIssue, type ConfigIssue } from '../config/errors.js';
import { jsonSchemas } from '../config/json-schema.js';
import { STEP_KINDS } from '../steps/registry.js';
import type { CliIo } from './io.js';

/** `pijig config check|schema`. */
export function registerConfig(program: Command, { out, err }: CliIo, examples: string): void {
  const config = program.command('config').description('check configuration files, write JSON Schemas for editors');
  config
    .command('check <files...>')
    .description('validate station and plan files (a file with station_id is a station)')
    .action(async (files: string[]) => {
      let bad = 0;
      for (const file of files) {
        try {
          const source = await YamlSource.load(file);
          const value = source.value as Record<string, unknown> | null;
          let warnings: ConfigIssue[] = [];
          if (value && typeof value === 'object' && 'station_id' in value) warnings = stationWarnings(parseStation(source), source);
          else await loadPlan(file, STEP_KINDS);
          for (const w of warnings) out(`warning: ${formatIssue(w)}`);
          out(`${file}: ok${warnings.length ? ` (${warnings.length} warning${warnings.length === 1 ? '' : 's'})` : ''}`);
        } catch (e) {
          bad++;
          err(e instanceof ConfigError ? e.message : `${file}: ${(e as Error).message}`);
        }
      }
      if (bad) process.exitCode = 1;
    });
  config
    .command('schema')
    .description('write station.schema.json and plan.schema.json (generated from the validation schemas)')
    .option('--out <dir>', 'folder', examples)
    .action(async (o: { out: string }) => {
      await mkdir(o.out, { recursive: true });
      for (const [name, schema] of Object.entries(jsonSchemas())) {
        const file = join(o.out, `${name}.schema.json`);
        await writeFile(file, `${JSON.stringify(schema, null, 2)}\n`);
        out(file);
      }
    });
}
