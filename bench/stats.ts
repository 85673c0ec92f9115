// Summary statistics for repeated benchmark samples: median and the min–max spread.
// Pure functions over arrays of numbers; an empty array has no summary (undefined).

export interface Summary {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarize(samples: readonly number[]): Summary | undefined {
  if (samples.length === 0) return undefined;
  return { median: median(samples), min: Math.min(...samples), max: Math.max(...samples), samples: [...samples] };
}
