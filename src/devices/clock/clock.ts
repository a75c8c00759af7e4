/**
 * Whether the system clock is synchronised (NTP), so a record can say if its timestamps can be
 * trusted. A Pi has no real-time clock: until systemd-timesyncd reaches a server, the time is the
 * last one saved at shutdown.
 *
 * Contract: `synchronized()` never throws; `undefined` means it cannot be told (no timesyncd, no
 * timedatectl). `source` names what was asked, for selftest and status.
 */
export interface ClockSync {
  readonly source: string;
  synchronized(): Promise<boolean | undefined>;
}
