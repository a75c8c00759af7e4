/** The debug probe (openocd). Owned by the flashing work; may grow. */
export interface ProbeSession {
  /** Run openocd commands in this session; resolves with their output. */
  run(commands: string[], opts: { timeoutMs: number; signal: AbortSignal }): Promise<string>;
  close(): Promise<void>;
}

export interface DebugProbe {
  /** Start one openocd session for this unit. */
  open(signal: AbortSignal): Promise<ProbeSession>;
}
