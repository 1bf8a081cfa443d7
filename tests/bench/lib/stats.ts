/**
 * Sampling and summaries for the benchmark runner. Every number in BENCHMARKS.md comes from
 * these functions: nothing is typed by hand.
 */

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of already sorted samples. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    mean,
  };
}

export interface SampleOptions {
  /** Untimed runs first (JIT, caches, connections). */
  warmup: number;
  /** Timed runs wanted. */
  iterations: number;
  /** Stop early (after at least `minIterations`) once this much time went into timed runs. */
  budgetMs: number;
  minIterations?: number;
}

/** Times `fn` sequentially; returns one duration (ms) per run. */
export async function sample(fn: () => Promise<unknown>, options: SampleOptions): Promise<number[]> {
  for (let i = 0; i < options.warmup; i++) await fn();
  const samples: number[] = [];
  const started = performance.now();
  const min = options.minIterations ?? Math.min(5, options.iterations);
  for (let i = 0; i < options.iterations; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
    if (samples.length >= min && performance.now() - started > options.budgetMs) break;
  }
  return samples;
}

/**
 * Alternates two measurements run by run (a, b, a, b, ...) so that a noisy neighbour hurts
 * both alike: the ratio of the two is what the report leads with.
 */
export async function samplePair(
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
  options: SampleOptions,
): Promise<{ a: number[]; b: number[] }> {
  for (let i = 0; i < options.warmup; i++) {
    await a();
    await b();
  }
  const out = { a: [] as number[], b: [] as number[] };
  const started = performance.now();
  const min = options.minIterations ?? Math.min(5, options.iterations);
  for (let i = 0; i < options.iterations; i++) {
    let t = performance.now();
    await a();
    out.a.push(performance.now() - t);
    t = performance.now();
    await b();
    out.b.push(performance.now() - t);
    if (out.a.length >= min && performance.now() - started > options.budgetMs) break;
  }
  return out;
}

export const MiB = 1024 * 1024;

/** MB/s (MiB per second) for `bytes` moved in `ms`. */
export function mibPerSecond(bytes: number, ms: number): number {
  return bytes / MiB / (ms / 1000);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects when `promise` has not settled within `ms` (the timer never keeps the process alive). */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A readable number: 3 significant digits, no exponent for the sizes that occur here. */
export function fmt(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString("en-US");
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  if (abs === 0) return "0";
  return value.toPrecision(2);
}

/** Calls completed by `inFlight` callers, each calling again at once, during `windowMs`. */
export async function callsPerSecond(
  call: () => Promise<unknown>,
  inFlight: number,
  windowMs: number,
): Promise<{ completed: number; seconds: number; rate: number }> {
  let completed = 0;
  let stop = false;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (!stop) {
        await call();
        completed += 1;
        if (performance.now() - started >= windowMs) stop = true;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { completed, seconds, rate: completed / seconds };
}
