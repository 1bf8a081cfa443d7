/**
 * The worker's memory measured on the real thing: remote() on the local default, its worker
 * process (the built bundle) and that worker's Python child. A 64 MB round trip peaks well
 * under 5x the value in the two together (2.5-3.4x measured; 5.9x before), and many 5 MB calls leave them where they were.
 * Bounds are generous for a loaded machine; each fails on a worker that keeps copies of the
 * values it moved (9x the value at the peak, tens of MB after the calls).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { LiveServerless, remote } from "../../sdk/index.ts";
import { useLocalSdk } from "../helpers/local-sdk.ts";

const MiB = 1024 * 1024;
const PY = "def nbytes(x):\n    return int(x.nbytes)\n\ndef echo(x):\n    return x\n";
const local = useLocalSdk("ferry-worker-memory-");

/** A process's resident (VmRSS) or peak resident (VmHWM) memory in MiB. */
function memoryMiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? 0) / 1024;
}

const seenWorkers = new Set<number>();

/** The worker (Node) that started last, one no earlier test measured, and its Python child. */
function newestWorker(): { node: number; python: number } {
  const node = local.server().workers().find((w) => w.pid !== undefined && !seenWorkers.has(w.pid))?.pid;
  if (!node) throw new Error("the worker's pid is not known");
  seenWorkers.add(node);
  const children = readFileSync(`/proc/${node}/task/${node}/children`, "utf8").trim().split(/\s+/).map(Number);
  const python = children.find((pid) => /python/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8")));
  if (!python) throw new Error("the worker's Python child was not found");
  return { node, python };
}

it("a 64 MB round trip: the worker and its child together peak under 5x the value", async () => {
  const py = remote(new LiveServerless({ name: "memory-peak", workersMax: 1 }));
  const echo = py.function<[x: Float32Array], Float32Array>(PY, "echo");
  await echo(new Float32Array(4));
  const { node, python } = newestWorker();
  const idle = memoryMiB(node, "VmRSS") + memoryMiB(python, "VmRSS");
  const x = new Float32Array((64 * MiB) / 4).fill(3);
  const y = await echo(x);
  expect(y.length).toBe(x.length);
  expect(y[y.length - 1]).toBe(3);
  const peak = memoryMiB(node, "VmHWM") + memoryMiB(python, "VmHWM");
  console.log(`worker + child: idle ${idle.toFixed(1)} MB, peak ${peak.toFixed(1)} MB (${((peak - idle) / 64).toFixed(2)}x of 64 MB)`);
  // The goal is 3x at 256 MB; at 64 MB the start-up peak and fixed buffers weigh more, and the bound leaves room for load.
  expect((peak - idle) / 64).toBeLessThan(5);
}, 180_000);

it("200 calls with a 5 MB argument leave the worker and its child near where they were", async () => {
  const py = remote(new LiveServerless({ name: "memory-calls", workersMax: 1 }));
  const nbytes = py.function<[x: Float32Array], number>(PY, "nbytes");
  const five = new Float32Array((5 * MiB) / 4);
  // Warm with small calls only (the call path compiled): what 5 MB values add is measured.
  for (let i = 0; i < 20; i++) await nbytes(new Float32Array(4));
  const { node, python } = newestWorker();
  const idle = { node: memoryMiB(node, "VmRSS"), python: memoryMiB(python, "VmRSS") };
  for (let i = 0; i < 200; i++) expect(await nbytes(five)).toBe(5 * MiB);
  const after = { node: memoryMiB(node, "VmRSS"), python: memoryMiB(python, "VmRSS") };
  console.log(`after 200 calls of 5 MB: worker ${idle.node.toFixed(1)} -> ${after.node.toFixed(1)} MB, child ${idle.python.toFixed(1)} -> ${after.python.toFixed(1)} MB`);
  // Left to V8's schedule, dead buffers settled the worker about 65 MB higher, and glibc's
  // default mmap threshold kept freed buffers in its heap; what remains (about 3 MB on a quiet
  // machine) is the heap growing to its working size and the read buffers between collections.
  expect(after.node - idle.node).toBeLessThan(25);
  expect(after.python - idle.python).toBeLessThan(10);
}, 300_000);
