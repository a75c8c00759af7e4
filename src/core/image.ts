import { createHash } from 'node:crypto';

/** The image the station flashes: the regions of the active bundle (see media/bundle.ts). */
export interface ImageRegion {
  /** e.g. "bootloader", "application". */
  name: string;
  /** Absolute path of the region's binary on the jig. */
  file: string;
  /** Flash address the region is written at. */
  address: number;
  /** sha256 of the file, hex. */
  sha256: string;
  size: number;
}

export interface ActiveImage {
  /** Bundle id (sha256 of the signed manifest), or "unsigned-sim" for the virtual jig's demo. */
  bundleId: string;
  product: string;
  version: string;
  target: string;
  regions: ImageRegion[];
  /** sha256 over the regions in order (address, size, sha256 of each): the hash flashes are counted by. */
  imageHash: string;
}

/**
 * The image hash: sha256 over one line per region, in manifest order, of
 * "<address as 8 lower-case hex digits>:<size in decimal>:<sha256 hex>\n". It names what is
 * flashed independently of which bundle (plan, release notes) carried it.
 */
export function imageHashOf(regions: readonly Pick<ImageRegion, 'address' | 'size' | 'sha256'>[]): string {
  const h = createHash('sha256');
  for (const r of regions) h.update(`${r.address.toString(16).padStart(8, '0')}:${r.size}:${r.sha256}\n`);
  return h.digest('hex');
}
