import type { Command } from 'commander';
import { describeFlash, hex } from '../core/chip-families.js';
import { inspectBundle } from '../media/bundle.js';
import { MediaError } from '../media/errors.js';
import { BundleStore } from '../media/store.js';
import { checkBlocksAgainstLedgers, createBundle, keygen, readPublicKeyFiles, signBundle, verifyBundle } from '../media/tooling.js';
import { formatIssue } from '../config/errors.js';
import { parsePlanSource } from '../config/plan.js';
import { YamlSource } from '../config/yaml.js';
import { STEP_KINDS } from '../steps/registry.js';
import { planDependencies, planWarnings } from '../steps/plan-check.js';
import { MANIFEST_FILE } from '../media/bundle.js';
import { parseManifest, parseManifestTemplate, stationBlockRanges } from '../media/manifest.js';
import { describeRange } from '../core/blocks.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

const USED_HELP = "stations' data folders (or ledger.jsonl files): refuse a block that overlaps numbers they used (BLOCK_OVERLAP)";

export interface BundleCommandDeps {
  /** Where the commands print (one call per line). */
  out: (line: string) => void;
  now?: () => Date;
}

/**
 * `pijig bundle keygen|create|sign|verify|inspect|rollback`. keygen, create and sign run on the
 * engineer's machine (sign is the only command that reads a private key); verify and inspect run
 * anywhere; rollback runs on the jig. Failures throw MediaError (its `code` names the refusal);
 * the entry point decides the exit status.
 */
export function registerBundleCommands(program: Command, deps: BundleCommandDeps): Command {
  const { out } = deps;
  const now = deps.now ?? (() => new Date());
  const bundle = program.command('bundle').description('signed image bundles: make, sign, check, roll back');

  bundle
    .command('keygen')
    .description('make an Ed25519 signing key pair (keep the .key on the engineering machine)')
    .requiredOption('--out <dir>', 'folder for <name>.key (mode 0600) and <name>.pub')
    .requiredOption('--name <name>', 'key name, e.g. factory-2025')
    .action(async (o: { out: string; name: string }) => {
      const k = await keygen(o.out, o.name);
      out(`private key: ${k.privateKeyFile} (mode 0600; never copy it to a jig)`);
      out(`public key:  ${k.publicKeyFile}`);
      out(`fingerprint: ${k.fingerprint}`);
      out('station config (media.public_keys):');
      out(`  - name: ${k.name}`);
      out(`    public_key: ${k.publicBase64}`);
      for (const line of k.publicPem.trimEnd().split('\n')) out(line);
    });

  bundle
    .command('create')
    .description('build an unsigned bundle from a manifest template and the build outputs it names (ELF, Intel HEX, S-record, or raw binary with an address)')
    .requiredOption('--manifest <file>', 'manifest template (JSON, no sizes or hashes)')
    .requiredOption('--files <dir>', 'folder holding the files the template names')
    .requiredOption('--out <dir>', 'new bundle folder')
    .option('--used <dirs...>', USED_HELP)
    .action(async (o: { manifest: string; files: string; out: string; used?: string[] }) => {
      if (o.used) await checkBlocksAgainstLedgers(parseManifestTemplate(await readFile(o.manifest, 'utf8'), o.manifest), o.manifest, o.used);
      const r = await createBundle(o.manifest, o.files, o.out, now());
      out(`bundle ${r.dir}: ${r.manifest.product} ${r.manifest.version} for ${r.manifest.target}, ${r.manifest.regions.length} region(s)`);
      out(`bundle id: ${r.bundleId}`);
      out(`memory map of ${r.chip.part} (${describeFlash(r.chip)}):`);
      for (const e of r.memoryMap) {
        out(`  ${e.name.padEnd(14)} ${hex(e.address)}-${hex(e.address + e.size - 1)} ${String(e.size).padStart(8)} B  ${e.units.padEnd(12)} ${e.from}`);
      }
      if (r.releaseProblem) out(`warning: not release-tagged (${r.releaseProblem}); it cannot be signed and no jig will import it`);
    });

  bundle
    .command('sign')
    .description('sign a bundle (checks the manifest, release tag and every file first)')
    .requiredOption('--key <file>', 'private key (.key from keygen)')
    .requiredOption('--bundle <dir>', 'bundle folder')
    .option('--name <name>', 'key name recorded in the signature (default: the key file name)')
    .option('--used <dirs...>', USED_HELP)
    .action(async (o: { key: string; bundle: string; name?: string; used?: string[] }) => {
      if (o.used) {
        const file = join(o.bundle, MANIFEST_FILE);
        await checkBlocksAgainstLedgers(parseManifest(await readFile(file, 'utf8'), file).manifest, file, o.used);
      }
      const r = await signBundle(o.key, o.bundle, o.name);
      out(`signed ${o.bundle} with "${r.signature.keyName}" (${r.signature.keyFingerprint})`);
      out(`bundle id: ${r.bundleId}`);
    });

  bundle
    .command('verify')
    .description('check a bundle as a jig would: signature, release tag, paths, sizes, hashes, regions and plan against the target chip')
    .requiredOption('--bundle <dir>', 'bundle folder')
    .requiredOption('--pubkey <files...>', 'trusted public key file(s)')
    .option('--product <product>', 'also require this product')
    .option('--target <target>', 'also require this target')
    .option('--used <dirs...>', USED_HELP)
    .action(async (o: { bundle: string; pubkey: string[]; product?: string; target?: string; used?: string[] }) => {
      // The plan as the jig loads it (step kinds, params, limits against what each step produces).
      const head = await verifyBundle(o.bundle, await readPublicKeyFiles(o.pubkey), undefined, (text, file) => {
        const source = YamlSource.parse(text, file);
        const plan = parsePlanSource(source, STEP_KINDS);
        return { plan, warnings: planWarnings(plan, source) };
      });
      const m = head.manifest;
      if (o.used) await checkBlocksAgainstLedgers(m, join(o.bundle, MANIFEST_FILE), o.used);
      if (o.product !== undefined && m.product !== o.product) throw new MediaError('WRONG_PRODUCT', `${o.bundle}: product "${m.product}", expected "${o.product}"`, { field: 'product' });
      if (o.target !== undefined && m.target !== o.target) throw new MediaError('WRONG_TARGET', `${o.bundle}: target "${m.target}", expected "${o.target}"`, { field: 'target' });
      out(`OK ${m.product} ${m.version} (${m.release}, build ${m.build}) for ${m.target} (${describeFlash(head.chip)})`);
      out(`signed by "${head.key.name}" (${head.key.fingerprint})`);
      out(`bundle id: ${head.bundleId}`);
      if (head.plan) {
        const { plan, warnings } = head.plan;
        for (const w of warnings) out(`warning: ${formatIssue(w)}`);
        const needs = planDependencies(plan);
        out(`plan "${plan.name}": ${plan.steps.length} step(s); a station running it needs:${needs.length ? '' : ' nothing beyond the DUT relay'}`);
        for (const n of needs) out(`  ${n}`);
      }
    });

  bundle
    .command('inspect')
    .description('show what a bundle holds, without trusting it')
    .requiredOption('--bundle <dir>', 'bundle folder')
    .action(async (o: { bundle: string }) => {
      const r = await inspectBundle(o.bundle);
      const m = r.manifest;
      out(`bundle id: ${r.bundleId}`);
      if (m) {
        out(`product:   ${m.product}  version ${m.version}  release ${m.release}  build ${m.build}`);
        out(`target:    ${m.target}   created ${m.createdAt}`);
        for (const g of m.regions) out(`region:    ${g.name.padEnd(12)} 0x${g.address.toString(16).padStart(8, "0")}  ${String(g.size).padStart(8)} B  ${g.sha256}  ${g.file}${g.source ? ` (from ${g.source.file}, ${g.source.format})` : ""}`);
        out(`plan:      ${m.plan.file}  ${m.plan.sha256}`);
        if (m.orderQuantity !== undefined) out(`order:     ${m.orderQuantity} units`);
        if (m.orderId !== undefined) out(`order id:  ${m.orderId}`);
        for (const [station, block] of Object.entries(m.identity?.stations ?? {})) {
          const r = stationBlockRanges(block);
          out(`block:     ${station}: ${describeRange(r.serial)}, ${describeRange(r.mac)}`);
        }
      }
      if (r.signature) out(`signature: "${r.signature.keyName}" (${r.signature.keyFingerprint}), not verified (use verify)`);
      else out('signature: none');
      if (r.problem) out(`problem:   ${r.problem.code}: ${r.problem.message}`);
    });

  bundle
    .command('rollback')
    .description('on the jig: make the previous bundle active again (verified first)')
    .requiredOption('--data-dir <dir>', 'the station data folder (e.g. /var/lib/pijig)')
    .action(async (o: { dataDir: string }) => {
      const b = await new BundleStore(o.dataDir, now).rollback();
      out(`active: ${b.manifest.product} ${b.manifest.version} (${b.bundleId})`);
      out('restart pijig so the station loads it');
    });

  return bundle;
}
