/**
 * Writes docs/mqtt/{units,status,events}.schema.json from the zod schemas of what pijig publishes
 * (src/outputs/mqtt-messages.ts): `npx tsx scripts/mqtt-schemas.ts`. A test fails when they are stale.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { mqttJsonSchemas } from '../src/outputs/mqtt-messages.js';

for (const [name, schema] of Object.entries(mqttJsonSchemas())) {
  const file = fileURLToPath(new URL(`../docs/mqtt/${name}.schema.json`, import.meta.url));
  await writeFile(file, `${JSON.stringify(schema, null, 2)}\n`);
  process.stdout.write(`${file}\n`);
}
