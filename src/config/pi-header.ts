/**
 * Facts about the Raspberry Pi's header GPIO lines that wiring depends on.
 *
 * Pulls at reset (BCM2835/BCM2711 peripherals datasheets, "Alternative Function Assignments",
 * pull state after reset; the same on the Pi 3/4/Zero 2 W): BCM 0-8 pull up, 9-27 pull down.
 * They hold until something sets them (the kernel, on a line request with a bias flag), so while
 * the Pi boots, and for as long as sysfs GPIO (which cannot set bias) is used, an input reads
 * its reset pull when nothing drives it, and an output pin drives its load through the pull.
 */
export type Pull = 'up' | 'down';

export function resetPull(line: number): Pull | undefined {
  if (!Number.isInteger(line) || line < 0 || line > 27) return undefined;
  return line <= 8 ? 'up' : 'down';
}
