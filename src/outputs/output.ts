import type { UnitRecord } from '../core/record.js';

/** Where an output stands: the last record it holds (seq 0: none), and that record's id when known. */
export interface Position {
  seq: number;
  id?: string;
}

/**
 * A destination of unit records: the USB stick's logs, an MQTT broker, a label printer. The
 * journal follower (follower.ts) hands every record to every output in journal order, at least
 * once; outputs never see a record before it is on the jig's disk, and an output that fails loses
 * nothing: its records wait in the journal.
 */
export interface RecordOutput {
  /** Names the output in logs, status and its cursor file: letters, digits, ".", "_", "-". */
  readonly name: string;
  /**
   * Deliver these records (in order, consecutive). Resolve only once they are durable at the
   * destination (fsync'd on the stick, acknowledged by the broker, printed); reject and the
   * follower delivers the same records again later. A record can be delivered twice (a crash
   * between delivery and the cursor): its `id` lets the destination drop the duplicate.
   */
  write(records: readonly UnitRecord[]): Promise<void>;
  /**
   * Outputs that keep their own cursor at the destination (the stick: a cursor file on it) say
   * where it stands. For the others the follower keeps a durable cursor in the data directory.
   */
  position?(): Promise<Position>;
  /**
   * The destination's position names a record this journal does not have (its logs came from
   * another journal under the same station id): set them aside and start from the first record.
   */
  restart?(): Promise<void>;
  /**
   * Outputs that know when their destination is back (a broker reconnected) call `listener` then:
   * the follower retries at once instead of waiting out its backoff. Returns the unsubscribe.
   */
  onReady?(listener: () => void): () => void;
  /** At most this many records per write (default 500). */
  readonly batchSize?: number;
  /**
   * For outputs that stage records and make them durable in bulk (the stick: an fsync of both
   * files and the cursor every few thousand records). With flush(), write() may only stage, and a
   * record counts as delivered once flush() has resolved after it. The follower calls flush()
   * every `commitEvery` records (default 5000) and at the end of each round.
   */
  flush?(): Promise<void>;
  readonly commitEvery?: number;
}
