import { describe, it, expect } from 'vitest';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { YamlSource } from '../../src/config/yaml.js';
import { parseStation, loadStation } from '../../src/config/station.js';
import { ConfigError } from '../../src/config/errors.js';

const example = fileURLToPath(new URL('../../jig-config/station.yaml', import.meta.url));

async function exampleText(): Promise<string> {
  return readFile(example, 'utf8');
}

function issuesOf(text: string, file = 'station.yaml') {
  try {
    parseStation(YamlSource.parse(text, file));
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

describe('station configuration', () => {
  it('loads the shipped example', async () => {
    const config = await loadStation(example);
    expect(config.station_id).toBe('line1-jig01');
    expect(config.gpio.inputs.start).toEqual({ line: 17, active_low: true, debounce_ms: 20, bias: 'pull-up' });
    expect(config.display).toEqual({ controller: 'ssd1306', address: 0x3c });
    expect(config.planFile).toMatch(/jig-config\/plan\.yaml$/);
  });

  it('reports a wrong type with file, line and field', async () => {
    const text = (await exampleText()).replace('start:      { line: 17,', 'start:      { line: "seventeen",');
    const issues = issuesOf(text);
    expect(issues).toHaveLength(1);
    const line = text.split('\n').findIndex((l) => l.includes('"seventeen"')) + 1;
    expect(issues[0]).toMatchObject({ file: 'station.yaml', line, path: 'gpio.inputs.start.line' });
    expect(issues[0]!.message).toMatch(/whole BCM GPIO number/);
  });

  it('reports an unknown pin', async () => {
    const text = (await exampleText()).replace('buzzer:      { line: 26 }', 'buzzer:      { line: 40 }');
    const [issue] = issuesOf(text);
    expect(issue).toMatchObject({ path: 'gpio.outputs.buzzer.line' });
    expect(issue!.message).toMatch(/unknown pin/);
    expect(issue!.line).toBe(text.split('\n').findIndex((l) => l.includes('line: 40')) + 1);
  });

  it('reports a missing field', async () => {
    const text = (await exampleText()).replace(/^ {4}abort:.*\n/m, '');
    const [issue] = issuesOf(text);
    expect(issue!.path).toBe('gpio.inputs.abort');
    expect(issue!.line).toBe(text.split('\n').findIndex((l) => l.includes('inputs:')) + 2); // the `start:` entry inside inputs
  });

  it('reports every error at once, each with its own line', async () => {
    const text = (await exampleText())
      .replace('line: 17,', 'line: 1.5,')
      .replace('address: 0x40', 'address: 0x90')
      .replace('baud: 115200', 'baud: fast')
      .replace('station_id: line1-jig01', 'station_id: "line 1/jig"');
    const issues = issuesOf(text);
    expect(issues.map((i) => i.path).sort()).toEqual(['console.baud', 'gpio.inputs.start.line', 'power_monitor.address', 'station_id']);
    expect(new Set(issues.map((i) => i.line)).size).toBe(4);
    const err = new ConfigError(issues);
    expect(err.message).toContain('4 configuration errors');
    expect(err.message).toMatch(/station\.yaml:\d+:\d+: console\.baud: /);
  });

  it('refuses a GPIO line wired to two functions and an I2C address used twice', async () => {
    const text = (await exampleText()).replace('light_red:   { line: 13 }', 'light_red:   { line: 25 }').replace('address: 0x29', 'address: 0x3c');
    const issues = issuesOf(text);
    expect(issues.map((i) => i.path).sort()).toEqual(['gpio.outputs.light_red.line', 'light_sensors[1].address']);
    expect(issues.find((i) => i.path.startsWith('gpio'))!.message).toMatch(/GPIO 25 is already used by gpio\.outputs\.light_green/);
  });

  it('refuses unknown fields (typos) and reports YAML syntax errors with a line', async () => {
    const typo = issuesOf((await exampleText()).replace('debounce_ms: 20', 'debounce: 20'));
    expect(typo[0]!.path).toBe('gpio.inputs.start.debounce');
    expect(typo[0]!.message).toBe('unknown key "debounce"');
    const syntax = issuesOf('station_id: a\ngpio: [unclosed\n');
    expect(syntax[0]!.line).toBeGreaterThan(0);
    expect(syntax[0]!.message).toMatch(/^YAML/);
  });

  it('names the file when it cannot be read', async () => {
    await expect(loadStation('/nonexistent/station.yaml')).rejects.toThrow(/\/nonexistent\/station\.yaml: cannot read/);
  });
});

describe('the label section', () => {
  const base = `station_id: s1
gpio:
  inputs: { start: { line: 17 }, abort: { line: 27 }, lid_closed: { line: 22 } }
  outputs: { dut_power: { line: 24 } }
display: {}
`;
  it('takes usb or tcp, and names the file, line and field of a mistake', () => {
    expect(parseStation(YamlSource.parse(`${base}label:\n  connection: { tcp: "10.0.0.50:9100" }\n`, 'station.yaml')).label).toMatchObject({ printer: 'zpl', dpi: 203, qr: '${unit.serial}', print: 'pass' });
    expect(parseStation(YamlSource.parse(`${base}label:\n  connection: { usb: /dev/usb/lp0 }\n`, 'station.yaml')).label?.connection).toEqual({ usb: '/dev/usb/lp0' });
    const issues = issuesOf(`${base}label:\n  connection: { tcp: "printer" }\n  qr: "https://x/\${unit.sn}"\n  fields: [serial, serial]\n`);
    expect(issues).toEqual([
      expect.objectContaining({ file: 'station.yaml', line: 7, path: 'label.connection.tcp', message: expect.stringMatching(/host:port/) }),
      expect.objectContaining({ line: 8, path: 'label.qr', message: expect.stringMatching(/unknown variable \$\{unit.sn\}/) }),
      expect.objectContaining({ line: 9, path: 'label.fields', message: 'field "serial" is listed twice' }),
    ]);
  });
});
