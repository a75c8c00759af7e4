import type { Command } from 'commander';
import { join } from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { identityBlockOf, parseStation, stationWarnings, type StationConfig } from '../config/station.js';
import { exists } from '../util/fs.js';
import { BlockError } from '../core/blocks.js';
import { LEDGER_FILE } from '../records/books.js';
import { Ledger } from '../records/ledger.js';
import { parsePlanSource } from '../config/plan.js';
import { YamlSource } from '../config/yaml.js';
import { ConfigError, formatIssue, type ConfigIssue } from '../config/errors.js';
import { jsonSchemas } from '../config/json-schema.js';
import { STEP_KINDS } from '../steps/registry.js';
import { checkPlanAgainstStation, planWarnings } from '../steps/plan-check.js';
import type { CliIo } from './io.js';

/** `pijig config check|schema`. */
export function registerConfig(program: Command, { out, err }: CliIo, examples: string): void {
  const config = program.command('config').description('check configuration files, write JSON Schemas for editors');
  config
    .command('check <files...>')
    .description('validate station and plan files (a file with station_id is a station); plans are also checked against the stations given with them')
    .action(async (files: string[]) => {
      let bad = 0;
      const stations: StationConfig[] = [];
      const plans: { file: string; source: YamlSource }[] = [];
      const fail = (file: string, e: unknown): void => {
        bad++;
        err(e instanceof ConfigError ? e.message : `${file}: ${(e as Error).message}`);
      };
      const ok = (file: string, warnings: readonly ConfigIssue[]): void => {
        for (const w of warnings) out(`warning: ${formatIssue(w)}`);
        out(`${file}: ok${warnings.length ? ` (${warnings.length} warning${warnings.length === 1 ? '' : 's'})` : ''}`);
      };
      for (const file of files) {
        try {
          const source = await YamlSource.load(file);
          const value = source.value as Record<string, unknown> | null;
          if (value && typeof value === 'object' && 'station_id' in value) {
            const station = parseStation(source);
            await checkStationBlock(station);
            stations.push(station);
            ok(file, stationWarnings(station, source));
          } else plans.push({ file, source });
        } catch (e) {
          fail(file, e);
        }
      }
      for (const { file, source } of plans) {
        try {
          const plan = parsePlanSource(source, STEP_KINDS);
          const issues = stations.flatMap((station) => checkPlanAgainstStation(plan, source, station));
          if (issues.length) throw new ConfigError(issues);
          ok(file, planWarnings(plan, source));
        } catch (e) {
          fail(file, e);
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

/** The station config's identity block against the numbers its data directory's ledger has used (BLOCK_OVERLAP). */
async function checkStationBlock(station: StationConfig): Promise<void> {
  const path = join(station.dataDir, LEDGER_FILE);
  if (!(await exists(path))) return;
  const ledger = await Ledger.open(path, { readOnly: true });
  const c = station.identity;
  const where = `${station.file}: identity`;
  try {
    const block = identityBlockOf(c);
    ledger.checkBlock(block.serial, `${where} (serial)`);
    ledger.checkBlock(block.mac, `${where} (mac_first)`);
  } catch (e) {
    if (e instanceof BlockError) throw new Error(`${e.code}: ${e.message} (ledger ${path})`, { cause: e });
    throw e;
  }
}
