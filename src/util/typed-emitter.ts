import { EventEmitter } from 'node:events';

/** EventEmitter with an event map: `TypedEmitter<{ state: [from: S, to: S] }>`. */
export class TypedEmitter<Events extends Record<string, unknown[]>> {
  private readonly emitter = new EventEmitter();

  constructor() {
    // Every output (OLED, control socket clients, the live terminal) listens; none is a leak.
    this.emitter.setMaxListeners(100);
  }

  /** Listeners may be async: a listener returns nothing the emitter waits for. */
  on<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => unknown): () => void {
    this.emitter.on(event, listener as (...args: unknown[]) => void);
    return () => this.emitter.off(event, listener as (...args: unknown[]) => void);
  }

  once<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => unknown): void {
    this.emitter.once(event, listener as (...args: unknown[]) => void);
  }

  /**
   * Listeners run alone: one that throws, or whose promise rejects, is reported on
   * 'listener-error' and does not stop the others (nor becomes an unhandled rejection).
   */
  protected emit<K extends keyof Events & string>(event: K, ...args: Events[K]): void {
    for (const listener of this.emitter.listeners(event)) {
      try {
        const result = (listener as (...a: unknown[]) => unknown)(...args);
        if (result instanceof Promise) result.catch((err: unknown) => this.listenerFailed(event, err));
      } catch (err) {
        this.listenerFailed(event, err);
      }
    }
  }

  private listenerFailed(event: string, err: unknown): void {
    if (event !== 'listener-error') this.emitter.emit('listener-error', event, err);
  }
}
