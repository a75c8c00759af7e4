import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { vi } from 'vitest';

export interface Received {
  topic: string;
  text: string;
  retain: boolean;
}

/**
 * A line's consumer: a real mqtt.js client subscribed at QoS 1. `clean: false` with a fixed
 * client id is a persistent session: the broker keeps its messages while it is away (and, with
 * persistence, across a broker restart).
 */
export class Subscriber {
  readonly received: Received[] = [];

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => this.received.push({ topic, text: payload.toString('utf8'), retain: packet.retain }));
    client.on('error', () => {}); // the broker going away is part of the tests
  }

  static async connect(url: string, filter: string, options: IClientOptions = {}): Promise<Subscriber> {
    const client = connect(url, { protocolVersion: 4, reconnectPeriod: 100, connectTimeout: 5000, ...options });
    const sub = new Subscriber(client);
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync(filter, { qos: 1 });
    return sub;
  }

  on(topic: string): Received[] {
    return this.received.filter((m) => m.topic === topic);
  }

  /** Wait until `condition` holds for what was received (generous: the machine may be loaded). */
  async until(condition: (received: Received[]) => boolean, what: string, timeout = 60_000): Promise<void> {
    await vi.waitFor(
      () => {
        if (!condition(this.received)) throw new Error(`waiting for ${what}: ${this.received.length} messages so far`);
      },
      { timeout, interval: 20 },
    );
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Wait until `condition` holds (generous: the machine may be loaded). */
export async function until(condition: () => boolean, what: string, timeout = 60_000): Promise<void> {
  await vi.waitFor(
    () => {
      if (!condition()) throw new Error(`waiting for ${what}`);
    },
    { timeout, interval: 10 },
  );
}
