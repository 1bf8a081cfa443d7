/**
 * A caller of its own for the large-values bench: a process that starts its own local server,
 * as a user's program does, and times 64 MB each way through remote(). The group runs it with
 * the glibc settings Ferry's workers get (protocol/malloc-env.ts), which only the environment a
 * process starts with can give, to show what a caller's own memory costs.
 *
 *   node --import tsx tests/bench/lib/large-value-caller.ts <MB> <runs>
 *
 * Prints one JSON line: { intoMs: number[], backMs: number[] }.
 */
import { startBenchServer } from "./bench-server.ts";
import type { GroupContext } from "./figures.ts";
import { LARGE_VALUE_PY as PY } from "./large-value-code.ts";

const mb = Number(process.argv[2] ?? 64);
const runs = Number(process.argv[3] ?? 3);
const cleanups: (() => unknown)[] = [];
const ctx = { cleanup: (fn: () => unknown) => cleanups.push(fn), log: () => undefined } as unknown as GroupContext;


const sdk = await import("../../../sdk/index.ts");
const { server, stateDir } = await startBenchServer(ctx, "ferry-bench-caller-");
await sdk.configure({ localUrl: server.url, stateDir, quiet: true, onLog: false, onProgress: false });
const py = sdk.remote(new sdk.LiveServerless({ name: "bench-large-caller", workersMax: 1, idleTimeout: 600 }));
const nbytes = py.function<[x: Float32Array], number>(PY, "nbytes");
const make = py.function<[n: number], Float32Array>(PY, "make");
const n = (mb * 1024 * 1024) / 4;
const array = new Float32Array(n);
for (let i = 0; i < n; i++) array[i] = i % 1000;
await nbytes(array); // warm-up both ways, untimed
await make(n);
const intoMs: number[] = [];
const backMs: number[] = [];
for (let i = 0; i < runs; i++) {
  let t = performance.now();
  if ((await nbytes(array)) !== n * 4) throw new Error("the argument arrived short");
  intoMs.push(performance.now() - t);
  t = performance.now();
  const value = await make(n);
  backMs.push(performance.now() - t);
  if (value.length !== n || value[n - 1] !== (n - 1) % 1000) throw new Error("the result came back changed");
}
await sdk.shutdown();
for (const fn of cleanups.reverse()) await fn();
process.stdout.write(`${JSON.stringify({ intoMs, backMs })}\n`);
process.exit(0);
