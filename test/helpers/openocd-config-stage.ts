import { execa } from 'execa';

/**
 * Runs the real openocd 0.12 through its configuration stage only: the given `-c` arguments, then
 * `shutdown`, which ends openocd before `init` (openocd.c: parse_config_file returns
 * ERROR_COMMAND_CLOSE_CONNECTION and main exits 0 without initialising the adapter). Nothing touches
 * a probe, yet every command is parsed and run: a misspelt command, a bad argument, an unknown
 * transport or a target script that fails to load exits non-zero with an "Error" or Jim trace.
 * Every run has a deadline that ends in SIGKILL.
 */
export async function openocdConfigStage(args: readonly string[], extra: readonly string[] = []): Promise<{ code: number | undefined; output: string }> {
  const r = await execa('openocd', [...args, ...extra.flatMap((c) => ['-c', c]), '-c', 'shutdown'], {
    reject: false,
    all: true,
    stdin: 'ignore',
    timeout: 20_000,
    killSignal: 'SIGKILL',
    forceKillAfterDelay: false,
  });
  return { code: r.exitCode, output: r.all ?? '' };
}

/** The adapters this openocd was built with (`adapter list`). */
export async function openocdAdapters(): Promise<string[]> {
  const r = await openocdConfigStage(['-c', 'adapter list']);
  return [...r.output.matchAll(/^\s*\d+: (\S+)$/gm)].map((m) => m[1]!);
}

/**
 * `help WORDS` in the configuration stage, with the target script loaded through an SWD-capable
 * adapter (cmsis-dap) so that SWD-only scripts load too: openocd's `adapter driver dummy` is
 * JTAG-only and target/stm32l0.cfg fails under JTAG ("newtap: stm32l0.cpu missing IR length").
 * Returns each command's usage line ("stm32l4x option_read bank_id reg_offset").
 */
export async function openocdUsage(script: string, helpTopic: string): Promise<{ code: number | undefined; output: string; usages: string[] }> {
  const r = await openocdConfigStage(['-c', 'source [find interface/cmsis-dap.cfg]', '-c', 'transport select swd', '-c', `source [find ${script}]`], [`help ${helpTopic}`]);
  return { ...r, usages: r.output.split('\n').map((l) => l.trim()).filter((l) => l.length > 0) };
}

/**
 * Whether `command` ("stm32l4x option_read 0 0x20", "read_memory 0x40023c14 32 1") matches a usage
 * line of `help`: same command words, an argument count the usage allows (bracketed words are
 * optional). `read_memory` is shown under the target's name before init ("stm32f1x.cpu read_memory").
 */
export function matchesUsage(usages: readonly string[], command: string, words = 2): { ok: boolean; usage?: string } {
  const parts = command.split(' ');
  const name = parts.slice(0, words).join(' ');
  const args = parts.slice(words);
  const esc = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  for (const line of usages) {
    const m = new RegExp(`^(?:\\S+\\.cpu\\d* )?${esc}(?: (.*))?$`).exec(line);
    if (!m) continue;
    const tokens = usageTokens(m[1] ?? '');
    const required = tokens.filter((t) => !t.startsWith('[')).length;
    const ok = args.length >= required && args.length <= tokens.length;
    return { ok, usage: line };
  }
  return { ok: false };
}

function usageTokens(usage: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of usage) {
    if (ch === '[' || ch === '(') depth++;
    if (ch === ']' || ch === ')') depth--;
    if (ch === ' ' && depth === 0) {
      if (cur) out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}
