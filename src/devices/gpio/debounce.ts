/**
 * Debounce of one input: a raw level change is accepted once the line has held the new level for
 * `ms` milliseconds; bounces shorter than that never reach the listener. With ms = 0 every change
 * passes at once. Timers come from the global clock so tests drive it with fake timers.
 */
export class Debouncer {
  private stable: boolean;
  private pending: boolean;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    initial: boolean,
    private readonly ms: number,
    private readonly onStable: (level: boolean) => void,
  ) {
    this.stable = initial;
    this.pending = initial;
  }

  get level(): boolean {
    return this.stable;
  }

  feed(raw: boolean): void {
    this.pending = raw;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (raw === this.stable) return;
    if (this.ms <= 0) return this.commit();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.commit();
    }, this.ms);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private commit(): void {
    if (this.pending === this.stable) return;
    this.stable = this.pending;
    this.onStable(this.stable);
  }
}
