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
