/** Where the simulated DUT's remote_bitbang server listens. */
export type SimDutEndpoint = { port: number; host?: string } | { path: string };

/**
 * openocd 0.12 arguments that connect to the simulated STM32F103 (adapter and target only; the
 * caller adds its own `-c` commands, e.g. disabling the gdb/tcl/telnet servers and `program`).
 *   - remote_bitbang is JTAG only in 0.12; with `port 0` its `host` is a unix socket path.
 *   - WORKAREASIZE 0: no RAM work area, so openocd programs flash one half-word at a time and
 *     verifies by reading back (the simulated core executes no flash loader). It prints three
 *     "working area" warnings about that.
 *   - `adapter speed` (set to 1000 by stm32f1x.cfg) means nothing to remote_bitbang.
 */
export function simDutOpenocdArgs(endpoint: SimDutEndpoint): string[] {
  const adapter =
    'path' in endpoint
      ? ['remote_bitbang port 0', `remote_bitbang host ${tclWord(endpoint.path)}`]
      : [`remote_bitbang host ${tclWord(endpoint.host ?? '127.0.0.1')}`, `remote_bitbang port ${endpoint.port}`];
  return [
    '-c', 'adapter driver remote_bitbang',
    ...adapter.flatMap((command) => ['-c', command]),
    '-c', 'set WORKAREASIZE 0',
    '-c', 'source [find target/stm32f1x.cfg]',
  ];
}

/** A Tcl word that stays one word whatever the path holds. */
function tclWord(text: string): string {
  if (/^[\w./:-]+$/.test(text)) return text;
  if (/[{}\\]/.test(text)) throw new RangeError(`cannot quote ${JSON.stringify(text)} for openocd`);
  return `{${text}}`;
}
