import { describe, it, expect } from 'vitest';
import { fileURLToPath } from 'node:url';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { YamlSource } from '../../src/config/yaml.js';
import { parseStation, stationWarnings } from '../../src/config/station.js';
import { ConfigError } from '../../src/config/errors.js';
import { tempDir } from '../media/helpers.js';

const example = fileURLToPath(new URL('../../jig-config/station.yaml', import.meta.url));

async function withMqtt(section: string): Promise<string> {
  return `${await readFile(example, 'utf8')}\nmqtt:\n${section.replace(/^/gm, '  ')}\n`;
}

function issuesOf(text: string) {
  try {
    parseStation(YamlSource.parse(text, '/etc/pijig/station.yaml'));
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

/** The line starting with `needle` in the appended section (the example above holds a commented-out one). */
const lineOf = (text: string, needle: string) => {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) if (lines[i]!.trimStart().startsWith(needle)) return i + 1;
  return 0;
};

describe('station configuration: mqtt', () => {
  it('takes a broker URL and fills the defaults; files are relative to the station file', async () => {
    const text = await withMqtt('url: mqtts://broker.line1.example:8883\nusername: jig01\npassword_file: secrets/mqtt.password\ntls: { ca: ca.pem, cert: /etc/pijig/jig01.crt, key: /etc/pijig/jig01.key }');
    const config = parseStation(YamlSource.parse(text, '/etc/pijig/station.yaml'));
    expect(config.mqtt).toEqual({
      url: 'mqtts://broker.line1.example:8883',
      topic_prefix: 'pijig',
      username: 'jig01',
      password_file: '/etc/pijig/secrets/mqtt.password',
      tls: { ca: '/etc/pijig/ca.pem', cert: '/etc/pijig/jig01.crt', key: '/etc/pijig/jig01.key' },
      keepalive_s: 30,
      reconnect_ms: 5000,
      connect_timeout_ms: 10_000,
      ack_timeout_ms: 30_000,
      status_interval_ms: 1000,
    });
    expect(parseStation(YamlSource.parse(await readFile(example, 'utf8'), example)).mqtt).toBeUndefined();
  });

  it.each([
    ['http://broker:1883', 'url', /http:\/\/ is not supported: use mqtt:\/\/ or mqtts:\/\//],
    ['broker:1883', 'url', /is not supported|not a URL/],
    ['mqtt://jig:secret@broker', 'url', /no credentials in the URL/],
    ['mqtt://broker/line1', 'url', /no path, query or fragment/],
    ['mqtt://broker:70000', 'url', /not a URL/],
  ])('refuses the url %s with file, line and field', async (url, field, message) => {
    const text = await withMqtt(`url: ${url}`);
    const [issue, ...more] = issuesOf(text);
    expect(more).toEqual([]);
    expect(issue).toMatchObject({ file: '/etc/pijig/station.yaml', path: `mqtt.${field}`, line: lineOf(text, `url: ${url}`), message: expect.stringMatching(message) });
  });

  it('reports every mistake of the section at once, each at its line', async () => {
    const text = await withMqtt('url: mqtt://broker\ntopic_prefix: factory/+/line1\nclient_id: "jig 01"\npassword_file: mqtt.password\ntls: { cert: jig.crt }\nkeepalive_s: 1\nretry: 5');
    const issues = issuesOf(text);
    expect(issues.map((i) => [i.path, i.line])).toEqual(
      expect.arrayContaining([
        ['mqtt.topic_prefix', lineOf(text, 'topic_prefix:')],
        ['mqtt.client_id', lineOf(text, 'client_id:')],
        ['mqtt.keepalive_s', lineOf(text, 'keepalive_s:')],
        ['mqtt.retry', lineOf(text, 'retry:')],
      ]),
    );
    expect(issues.find((i) => i.path === 'mqtt.topic_prefix')!.message).toMatch(/no "\+" or "#"/);
    expect(issues.find((i) => i.path === 'mqtt.retry')!.message).toMatch(/unknown|unrecognized/i);
    // the rules between fields
    const text2 = await withMqtt('url: mqtt://broker\npassword_file: mqtt.password\ntls: { cert: jig.crt }');
    expect(issuesOf(text2).map((i) => [i.path, i.line, i.message])).toEqual([
      ['mqtt.tls', lineOf(text2, 'tls:'), 'tls needs an mqtts:// url'],
      ['mqtt.tls.key', lineOf(text2, 'tls:'), 'a client certificate needs both tls.cert and tls.key'],
      ['mqtt.password_file', lineOf(text2, 'password_file:'), 'password_file needs username'],
    ]);
  });

  it('warns, with file and line, about a file pijig cannot read and a password sent in clear text', async () => {
    const dir = await tempDir('pijig-mqtt-config-');
    const file = join(dir, 'station.yaml');
    await writeFile(join(dir, 'mqtt.password'), 'secret\n');
    const text = await withMqtt('url: mqtt://broker\nusername: jig01\npassword_file: mqtt.password');
    const source = YamlSource.parse(text, file);
    expect(stationWarnings(parseStation(source), source).filter((w) => w.path.startsWith('mqtt'))).toEqual([
      { file, line: lineOf(text, 'url: mqtt://broker'), column: expect.any(Number), path: 'mqtt.url', message: 'the password crosses the network in clear text over mqtt://: use mqtts://' },
    ]);
    const text2 = await withMqtt('url: mqtts://broker\ntls: { ca: missing-ca.pem }');
    const source2 = YamlSource.parse(text2, file);
    expect(stationWarnings(parseStation(source2), source2).filter((w) => w.path.startsWith('mqtt'))).toEqual([
      { file, line: lineOf(text2, 'tls:'), column: expect.any(Number), path: 'mqtt.tls.ca', message: `cannot read ${join(dir, 'missing-ca.pem')} (ENOENT): the MQTT output stays offline, records wait in the journal` },
    ]);
  });
});
