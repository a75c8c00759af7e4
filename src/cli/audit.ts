import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { auditLogs, findStationLogs, type AuditExpectations } from '../records/audit.js';
import { MANIFEST_FILE } from '../media/bundle.js';
import { parseManifest, stationBlockRanges } from '../media/manifest.js';
import { bundleIdOf } from '../media/signing.js';
import { imageHashOf } from '../core/image.js';
import type { CliIo } from './io.js';

/** `pijig audit LOGDIR`: the brand owner's check of the stations' logs (docs/ledger.md). */
export function registerAudit(program: Command, { out, err }: CliIo): void {
  program
    .command('audit <logdir>')
    .description('check the logs of any number of stations (a stick, or folders of pijig/logs/<station>): chains, signed checkpoints, no serial/MAC/chip twice, units per order; non-zero on any finding')
    .option('--bundle <dir>', 'the bundle the units were made with: its order quantity and each station\'s block are checked too')
    .option('--station-key <files...>', 'station public keys (station-key.pub) the checkpoints must be signed with')
    .action(async (logdir: string, o: { bundle?: string; stationKey?: string[] }) => {
      const dirs = await findStationLogs(logdir);
      if (dirs.length === 0) throw new Error(`${logdir}: no station logs (units.jsonl) here, in its folders or under pijig/logs/`);
      const stationKeys = await Promise.all((o.stationKey ?? []).map((f) => readFile(f, 'utf8')));
      let expect: AuditExpectations | undefined;
      if (o.bundle) {
        const file = join(o.bundle, MANIFEST_FILE);
        const { manifest: m, json } = parseManifest(await readFile(file, 'utf8'), file);
        expect = {
          bundleId: bundleIdOf(json),
          order: m.orderId,
          imageHash: imageHashOf(m.regions),
          quantity: m.orderQuantity,
          blocks: Object.fromEntries(Object.entries(m.identity?.stations ?? {}).map(([s, b]) => [s, stationBlockRanges(b)])),
        };
      }
      const r = await auditLogs(dirs, { stationKeys, ...(expect ? { expect } : {}) });
      for (const s of r.stations) out(`station ${s.station}: ${s.records} records${s.checkpoint ? `, signed up to #${s.checkpoint.seq} by ${s.checkpoint.fingerprint}` : ''}`);
      for (const t of r.orders) out(`order ${t.order}: ${t.boards} boards, ${t.flashes} flashes${t.quantity !== undefined ? ` (quantity ${t.quantity})` : ''}`);
      for (const n of r.notes) out(`note: ${n}`);
      for (const f of r.findings) err(`finding: ${f}`);
      out(`stations=${r.stations.length} units=${r.units} boards=${r.boards} findings=${r.findings.length}${r.findings.length ? '' : ' ok'}`);
      if (r.findings.length) process.exitCode = 1;
    });
}
