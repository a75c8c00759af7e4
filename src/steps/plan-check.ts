import safeRegex from 'safe-regex2';
import { checkPlanAgainstTarget, planIdentityAddresses, hex } from '../core/chip-families.js';
import type { ConfigIssue } from '../config/errors.js';
import type { StationConfig } from '../config/station.js';
import type { YamlSource } from '../config/yaml.js';
import type { StepPlan, StepPlanStep } from './registry.js';
import type { DeviceName } from './step.js';

/**
 * What a plan asks of the station it runs on, checked before any unit: the plan loader
 * (config/plan.ts) already refused what is wrong in the plan alone (unknown kinds, bad params,
 * limits on measurements no step produces, units of another quantity, unknown ${...}).
 */

const DEVICE_TEXT: Record<Exclude<DeviceName, 'lightSensors' | 'dutPower'>, { key: keyof StationConfig; text: string }> = {
  probe: { key: 'probe', text: 'a debug probe (probe)' },
  powerMonitor: { key: 'power_monitor', text: 'an INA219 power monitor (power_monitor)' },
  console: { key: 'console', text: 'a DUT console (console)' },
};

interface Located {
  step: StepPlanStep;
  path: [section: 'steps' | 'teardown', index: number];
}

function located(plan: StepPlan): Located[] {
  return [...plan.steps.map((step, i): Located => ({ step, path: ['steps', i] })), ...plan.teardown.map((step, i): Located => ({ step, path: ['teardown', i] }))];
}

/** The light sensors a plan's led steps look through, by name. */
function sensorsUsed(plan: StepPlan): Map<string, { colour: boolean }> {
  const out = new Map<string, { colour: boolean }>();
  for (const { step } of located(plan)) {
    if (step.kind !== 'led') continue;
    const sensor = (step.params as { sensor: string }).sensor;
    const produced = step.step.produces?.(step.params) ?? [];
    const colour = Object.keys(step.limits).some((name) => produced.find((d) => d.name === name)?.colourSensor !== undefined);
    out.set(sensor, { colour: (out.get(sensor)?.colour ?? false) || colour });
  }
  return out;
}

/**
 * What the plan needs of a station, one line each (what `bundle verify` lists: a jig lacking one
 * of them refuses every unit).
 */
export function planDependencies(plan: StepPlan): string[] {
  const out: string[] = [];
  const needs = new Set(located(plan).flatMap(({ step }) => step.step.needs));
  for (const [name, { text }] of Object.entries(DEVICE_TEXT)) if (needs.has(name as DeviceName)) out.push(text);
  for (const [sensor, { colour }] of sensorsUsed(plan)) out.push(`light sensor "${sensor}"${colour ? ' (a colour sensor: the plan judges its colour)' : ''} (light_sensors)`);
  const identity = planIdentityAddresses({ steps: plan.steps.map(rawStep), teardown: plan.teardown.map(rawStep) });
  if (identity.length) {
    out.push('serial numbers and MACs: the bundle\'s identity block or the station\'s (identity)');
    for (const use of identity) out.push(`a flash page/sector of its own at ${hex(use.address)} for the identity record (media.target)`);
  }
  for (const { step } of located(plan)) {
    const family = (step.params as { family?: unknown }).family;
    if (step.kind === 'lock' && typeof family === 'string') out.push(`chip family ${family} (media.target, probe.family)`);
  }
  return out;
}

function rawStep(s: StepPlanStep): { kind: string; params: unknown } {
  return { kind: s.kind, params: s.params };
}

/**
 * The plan against one station: every device its steps need is wired, every light sensor an led
 * step names exists (a colour sensor where the plan judges colour), and the identity record and
 * lock fit the station's target (media.target, through the chip table). Issues point into the plan.
 */
export function checkPlanAgainstStation(plan: StepPlan, source: YamlSource, station: StationConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const stationFile = station.file;
  for (const { step, path } of located(plan)) {
    for (const need of step.step.needs) {
      if (need === 'dutPower' || need === 'lightSensors') continue;
      const device = DEVICE_TEXT[need];
      if (station[device.key] === undefined) issues.push(source.issue([...path, 'kind'], `step "${step.name}" (${step.kind}) needs ${device.text}; ${stationFile} has none`));
    }
    if (step.kind === 'led') {
      const sensor = (step.params as { sensor: string }).sensor;
      const wired = station.light_sensors.find((s) => s.name === sensor);
      if (!wired) {
        const known = station.light_sensors.map((s) => `"${s.name}"`).join(', ') || 'none';
        issues.push(source.issue([...path, 'params', 'sensor'], `no light sensor "${sensor}" in ${stationFile} (it has ${known})`));
        continue;
      }
      const produced = step.step.produces?.(step.params) ?? [];
      for (const name of Object.keys(step.limits)) {
        if (wired.kind !== 'color' && produced.find((d) => d.name === name)?.colourSensor !== undefined) {
          issues.push(source.issue([...path, 'limits', name], `"${name}" needs a colour sensor; light sensor "${sensor}" in ${stationFile} is a ${wired.kind} sensor`));
        }
      }
    }
  }
  if (station.media) issues.push(...checkPlanAgainstTarget(source, station.media.target));
  return issues;
}

/**
 * Regular expressions whose shape can backtrack catastrophically (nested quantifiers such as
 * `(a+)+`): a warning, since they run off the event loop under a deadline anyway (REGEX_TIMEOUT),
 * but such a plan fails units the firmware did nothing wrong to. safe-regex2 judges the star height.
 */
export function planWarnings(plan: StepPlan, source: YamlSource): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const { step, path } of located(plan)) {
    for (const p of step.step.patterns?.(step.params) ?? []) {
      if (!safeRegex(p.source)) {
        issues.push(source.issue([...path, 'params', p.param], `/${p.source}/ has nested quantifiers and can take exponential time on a line that almost matches: the step fails with REGEX_TIMEOUT; rewrite it without a repeated group of repeats`));
      }
    }
  }
  return issues;
}
