/** One printed benchmark figure. Each area contributes a module exporting `run(): Promise<BenchFigure[]>`. */
export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
  /** How it was measured, printed beside the figure. */
  method: string;
}

export function formatFigure(f: BenchFigure): string {
  const v = Number.isInteger(f.value) ? String(f.value) : f.value.toFixed(f.value < 10 ? 3 : 1);
  return `${f.name.padEnd(52)} ${v.padStart(10)} ${f.unit.padEnd(6)}  ${f.method}`;
}
