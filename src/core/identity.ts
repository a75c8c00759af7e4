/** The unit's identity: the serial number and MAC the ledger issued to it. */
export interface UnitIdentity {
  serial: string;
  /** "02:00:00:00:00:01" */
  mac: string;
}

export function parseMac(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new RangeError(`MAC "${mac}" is not of the form 02:00:00:00:00:01`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function formatMac(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
