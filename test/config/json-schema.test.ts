import { describe, it, expect } from 'vitest';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { jsonSchemas } from '../../src/config/json-schema.js';

describe('JSON Schemas for editors', () => {
  it('the committed jig-config/*.schema.json are what the zod schemas generate (run `pijig config schema`)', async () => {
    for (const [name, schema] of Object.entries(jsonSchemas())) {
      const committed = JSON.parse(await readFile(fileURLToPath(new URL(`../../jig-config/${name}.schema.json`, import.meta.url)), 'utf8'));
      expect(committed, `${name}.schema.json is stale`).toEqual(JSON.parse(JSON.stringify(schema)));
    }
  });

  it('describes the wiring an editor completes', () => {
    const station = jsonSchemas().station as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(station.properties)).toEqual(expect.arrayContaining(['station_id', 'gpio', 'display', 'probe', 'media']));
    expect(station.required).toEqual(expect.arrayContaining(['station_id', 'gpio', 'display']));
  });
});
