import { z } from 'zod';
import { join } from 'node:path';
import { HistoryIndex } from '../records/history.js';
import { summarize, type UnitSummary } from './summary.js';
import type { Station, StationStatus } from '../station/station.js';
import type { OperatorPanel } from '../operator/panel.js';
import type { Screen } from '../operator/screens.js';
import { renderScreen } from '../operator/render.js';
import type { OutputStatus } from '../outputs/follower.js';
import type { MqttStatus } from '../outputs/mqtt.js';
import { ControlServer, type CommandHandler, type CommandTable, type ControlLimits } from './server.js';
import { oledRows } from './oled-text.js';
import { runSelftest, type CheckResult, type SelftestTarget } from './selftest.js';
import { PROTOCOL_VERSION } from './protocol.js';

export interface ControlDeps {
  /** The act socket; the read-only one is `readSocket` (default status.sock beside it; null: none). */
  socket: string;
  readSocket?: string | null;
  actGid?: number;
  limits?: Partial<ControlLimits>;
  stationId: string;
  version: string;
  station: Station;
  panel: OperatorPanel;
  /** The glass the OLED has (the watch view draws what the panel draws). */
  glass: { width: number; height: number };
  dataDir: string;
  outputs: () => OutputStatus[];
  /** The MQTT output's connection and backlog, when the station publishes to a broker. */
  mqtt?: () => MqttStatus | undefined;
  devices: () => { name: string; ok: boolean }[];
  clock: () => { synchronized: boolean | undefined; source: string; checkedAt?: string };
  scanner: () => { description: string; ok: boolean; detail?: string } | undefined;
  selftest: () => SelftestTarget;
  log: (message: string) => void;
  /** Reprint a unit's label on the service's own printer (the station has a `label` section). */
  reprintLabel?: (serial: string, user: string) => Promise<unknown>;
  /** The virtual jig's own commands (lid, buttons, scanner), on the act socket. */
  extraCommands?: CommandTable;
  now?: () => Date;
}

export { summarize, type UnitSummary } from './summary.js';

/** `pijig status --json`: everything the engineer asks first. */
export interface StatusSnapshot extends Omit<StationStatus, 'last' | 'cycle'> {
  station: string;
  version: string;
  protocol: number;
  /** What the OLED shows, and its picture as braille rows (oled-text.ts). */
  screen: Screen | undefined;
  oled: string[];
  cycle?: StationStatus['cycle'] & { elapsedMs: number };
  order?: { quantity: number; flashed: number; remaining: number };
  last?: UnitSummary;
  devices: { name: string; ok: boolean }[];
  scanner?: { description: string; ok: boolean; detail?: string };
  clock: { synchronized: boolean | undefined; source: string; checkedAt?: string };
  outputs: OutputStatus[];
  mqtt?: MqttStatus;
  uptimeS: number;
  startedAt: string;
  pid: number;
  controlClients: number;
}

export interface ControlService {
  server: ControlServer;
  status(): StatusSnapshot;
  close(): Promise<void>;
}

const resultSchema = z.enum(['PASS', 'FAIL', 'ERROR', 'ABORTED']);

/**
 * The control socket of a running station (docs/control.md): status, watch, history, unit,
 * run-step, selftest. It listens to the station and the panel like the OLED does and only reads
 * from them, except run-step and selftest, which are `act` commands.
 */
export async function startControl(deps: ControlDeps): Promise<ControlService> {
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const oledOf = (screen: Screen | undefined): string[] => (screen ? oledRows(renderScreen(screen, deps.glass)) : []);
  const indexes = new Map<string, Promise<HistoryIndex>>();
  const indexOf = async (file: string): Promise<HistoryIndex> => {
    let p = indexes.get(file);
    if (!p) {
      p = HistoryIndex.open(join(deps.dataDir, file));
      indexes.set(file, p);
      p.catch(() => indexes.delete(file));
    }
    const index = await p;
    await index.refresh();
    return index;
  };
  // Built now, in the background: the first `history` does not pay for 100k records.
  void indexOf('units.jsonl').catch((err: Error) => deps.log(`control: history index: ${err.message}`));

  let server: ControlServer;
  const status = (): StatusSnapshot => {
    const s = deps.station.status();
    const { last, cycle, ...rest } = s;
    const job = s.job;
    const scanner = deps.scanner();
    const mqtt = deps.mqtt?.();
    return {
      station: deps.stationId,
      version: deps.version,
      protocol: PROTOCOL_VERSION,
      ...rest,
      screen: deps.panel.screen,
      oled: oledOf(deps.panel.screen),
      ...(cycle ? { cycle: { ...cycle, elapsedMs: now().getTime() - new Date(cycle.startedAt).getTime() } } : {}),
      ...(job?.orderQuantity !== undefined ? { order: { quantity: job.orderQuantity, flashed: job.flashed ?? 0, remaining: Math.max(0, job.orderQuantity - (job.flashed ?? 0)) } } : {}),
      ...(last ? { last: summarize(last) } : {}),
      devices: deps.devices(),
      ...(scanner ? { scanner } : {}),
      clock: deps.clock(),
      outputs: deps.outputs(),
      ...(mqtt ? { mqtt } : {}),
      uptimeS: Math.round((now().getTime() - startedAt.getTime()) / 1000),
      startedAt: startedAt.toISOString(),
      pid: process.pid,
      controlClients: server?.clientCount ?? 0,
    };
  };

  const historyArgs = z.strictObject({
    last: z.int().min(1).max(100_000).optional(),
    serial: z.string().min(1).max(200).optional(),
    uid: z.string().min(1).max(200).optional(),
    result: resultSchema.optional(),
    since: z.number().optional().describe('ms since the epoch'),
    engineering: z.boolean().optional(),
    full: z.boolean().optional(),
  });

  const commands: Record<string, CommandHandler<never>> = {
    status: handler({ access: 'read', args: z.strictObject({}), run: async () => status() }),

    watch: handler({
      access: 'read',
      args: z.strictObject({}),
      run: async (_args, ctx) => {
        const { station, panel } = deps;
        ctx.event('status', status());
        let stepIndex = -1;
        const offs = [
          // a step starting (progress is drawn on the OLED; only the start is an event)
          station.on('progress', (p) => {
            if (p.fraction === 0 && p.index !== stepIndex) ctx.event('started', { index: p.index, count: p.count, step: p.step });
            stepIndex = p.index;
          }),
          station.on('state', (_from, to) => to === 'running' && (stepIndex = -1)),
          panel.on('screen', (screen) => ctx.event('screen', { screen, oled: oledOf(screen) })),
          station.on('state', (from, to, event) => ctx.event('state', { from, to, event })),
          station.on('step', (r) => ctx.event('step', r)),
          station.on('record', (r) => ctx.event('record', summarize(r))),
          station.on('fault', (f) => ctx.event('fault', f)),
          station.on('refused', (r) => ctx.event('refused', r)),
          station.on('scanned', (label) => ctx.event('scanned', { label })),
          station.on('engineering', (phase, step, record) => ctx.event('engineering', { phase, step, ...(record ? { record: summarize(record) } : {}) })),
          station.on('log', (message) => ctx.event('log', { message })),
        ];
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
        for (const off of offs) off();
        return null;
      },
    }),

    history: handler({
      access: 'read',
      args: historyArgs,
      run: async (a) => {
        const index = await indexOf(a.engineering ? 'engineering.jsonl' : 'units.jsonl');
        const entries = index.query({
          last: a.last ?? 20,
          ...(a.serial !== undefined ? { serial: a.serial } : {}),
          ...(a.uid !== undefined ? { uid: a.uid } : {}),
          ...(a.result !== undefined ? { result: a.result } : {}),
          ...(a.since !== undefined ? { sinceMs: a.since } : {}),
        });
        const records = await index.records(entries);
        return { total: index.size, units: a.full ? records : records.map(summarize) };
      },
    }),

    unit: handler({
      access: 'read',
      args: z.strictObject({ board: z.string().min(1).max(200), engineering: z.boolean().optional() }),
      run: async (a) => {
        const index = await indexOf(a.engineering ? 'engineering.jsonl' : 'units.jsonl');
        return { records: await index.records(index.query({ board: a.board })) };
      },
    }),

    'run-step': handler({
      access: 'act',
      args: z.strictObject({ step: z.string().min(1).max(100), params: z.record(z.string(), z.unknown()).optional(), allocateIdentity: z.boolean().optional() }),
      run: async (a, ctx) => {
        const onGone = () => deps.station.abortEngineering('the engineer\'s connection closed');
        ctx.signal.addEventListener('abort', onGone, { once: true });
        try {
          deps.log(`engineering run of "${a.step}" asked for over the control socket`);
          const record = await deps.station.runEngineering(
            { step: a.step, ...(a.params ? { params: a.params } : {}), ...(a.allocateIdentity ? { allocateIdentity: true } : {}) },
            { progress: (p) => ctx.event('progress', p), step: (r) => ctx.event('step', r) },
          );
          return record;
        } finally {
          ctx.signal.removeEventListener('abort', onGone);
        }
      },
    }),

    selftest: handler({
      access: 'act',
      args: z.strictObject({}),
      run: async (): Promise<{ ok: boolean; checks: CheckResult[] }> => {
        const checks = await runSelftest(deps.selftest());
        return { ok: checks.every((c) => c.ok), checks };
      },
    }),

    label: handler({
      access: 'act',
      // `user` is who the engineer's CLI says runs it: only members of the act socket's group get here
      args: z.strictObject({ serial: z.string().min(1).max(100), user: z.string().min(1).max(100) }),
      run: async (a) => {
        if (!deps.reprintLabel) throw Object.assign(new Error(`station ${deps.stationId} has no label printer (no label section in its config)`), { code: 'NO_PRINTER' });
        const printed = await deps.reprintLabel(a.serial, a.user);
        deps.log(`label of ${a.serial} reprinted for ${a.user} over the control socket`);
        return printed;
      },
    }),

    ...(deps.extraCommands ?? {}),
  };

  server = new ControlServer({
    socket: deps.socket,
    ...(deps.readSocket !== undefined ? { readSocket: deps.readSocket } : {}),
    ...(deps.actGid !== undefined ? { actGid: deps.actGid } : {}),
    ...(deps.limits ? { limits: deps.limits } : {}),
    hello: { station: deps.stationId, version: deps.version },
    commands,
    log: deps.log,
  });
  await server.listen();
  return {
    server,
    status,
    close: () => server.close(),
  };
}

/** Type the handler's args from its schema, then erase it into the table. */
export function handler<S extends z.ZodType>(h: { access: 'read' | 'act'; args: S; run(args: z.output<S>, ctx: Parameters<CommandHandler['run']>[1]): Promise<unknown> }): CommandHandler<never> {
  return h as unknown as CommandHandler<never>;
}
