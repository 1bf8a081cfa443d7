/**
 * Large values, engine only: a Float32Array's MessagePack bytes from the worker into a numpy
 * array in the Python child, and a numpy array back to the worker as bytes, at 1, 64 and 256 MB
 * (so the cost's growth shows), beside a bare pipe and a memcpy of the same bytes in the same
 * run. The bytes are what the worker holds after fetching an argument blob, and what it PUTs
 * to an output place: no base64 on this path.
 */
import { encode } from "../../sdk/codec.ts";
import type { BenchGroup, Floor } from "./lib/figures.ts";
import { memcpy, pipeRead, pipeWrite } from "./lib/copy-floors.ts";
import { startEngine } from "./lib/engine-jobs.ts";
import { fmt, mibPerSecond, MiB, summarize } from "./lib/stats.ts";

const SIZES_MB = [1, 64, 256];
const QUICK_SIZES_MB = [1];
const GOAL = "each way ≥ 30% of the bare pipe floor";

export const largeValuesGroup: BenchGroup = {
  key: "large-values",
  title: "Large values, engine only: Float32Array bytes into numpy and back",
  budgetMs: 90_000,
  quickBudgetMs: 60_000,
  figures: SIZES_MB.flatMap((mb) => [
    { id: `large.engine-in.${mb}mb`, name: `${mb} MB Float32Array: worker to a numpy array in the child (MB/s)`, goal: GOAL },
    { id: `large.engine-out.${mb}mb`, name: `${mb} MB numpy array: child to bytes in the worker (MB/s)`, goal: GOAL },
  ]),
  async run(ctx) {
    const sizes = ctx.quick ? QUICK_SIZES_MB : SIZES_MB;
    if (ctx.quick) for (const mb of SIZES_MB.filter((s) => !sizes.includes(s))) for (const way of ["in", "out"]) ctx.skip(`large.engine-${way}.${mb}mb`, "quick run");
    const engine = await startEngine(ctx);
    const toCode = "def f(a):\n    assert a.dtype.str == '<f4', a.dtype\n    return int(a.nbytes)";
    const fromCode = "import numpy as np\nA = {}\ndef f(n):\n    if n not in A:\n        A.clear()\n        A[n] = np.arange(n, dtype=np.float32) % 1000\n    return A[n]";
    const call = async (code: string, args: unknown[], what: string) => {
      const outcome = await engine.call({ function_name: "f", function_code: code, args, kwargs: {}, constructor_args: [], constructor_kwargs: {}, serialization_format: "msgpack", execution_type: "function" } as never, { valuesAsBytes: true });
      if (!outcome.success) throw new Error(`${what} failed: ${outcome.error}`);
      return outcome;
    };
    for (const mb of sizes) {
      const size = mb * MiB;
      const runs = mb >= 256 ? 2 : mb >= 64 ? 3 : 10;
      const n = size / 4;
      const array = new Float32Array(n);
      for (let i = 0; i < n; i++) array[i] = i % 1000;
      const bytes = Buffer.from(array.buffer);
      const packed = Buffer.from(encode(array));
      const fromArgs = [Buffer.from(encode(n))];
      // Warm-up, one call each way: numpy imported, the array made, and the first transfer of
      // this size (the kernel's socket buffers, the child's first mapping) out of the figures.
      await call(fromCode, fromArgs, "warm-up");
      await call(toCode, [packed], "warm-up");
      const to: number[] = [];
      const from: number[] = [];
      const copies: number[] = [];
      const writes: number[] = [];
      const reads: number[] = [];
      for (let i = 0; i < runs; i++) {
        let t = performance.now();
        await call(toCode, [packed], `${mb} MB argument`);
        to.push(performance.now() - t);
        t = performance.now();
        const outcome = await call(fromCode, fromArgs, `${mb} MB result`);
        from.push(performance.now() - t);
        if ((outcome.result_bytes?.byteLength ?? 0) < size) throw new Error("the result came back short");
        copies.push(memcpy(bytes));
        writes.push(await pipeWrite(bytes));
        reads.push(await pipeRead(size));
      }
      const rate = (ms: number[]) => summarize(ms.map((m) => mibPerSecond(size, m)));
      const [toRate, fromRate, copyRate, writeRate, readRate] = [rate(to), rate(from), rate(copies), rate(writes), rate(reads)];
      const memcpyFloor: Floor = { name: `memcpy of ${mb} MB in Node (Buffer.copy)`, value: copyRate.max, unit: "MB/s", stats: copyRate };
      const note = `best of ${runs}. The value's MessagePack bytes travel beside the frame's document both ways (an attachment): in, read into one buffer (a mapping of its own, on 2 MB pages where the kernel offers them) that numpy.frombuffer makes the array over; out, written from the array's own memory and read by the engine into one buffer of the announced size.`;
      const inRatio = toRate.max / writeRate.max;
      const outRatio = fromRate.max / readRate.max;
      ctx.report(`large.engine-in.${mb}mb`, {
        value: toRate.max,
        unit: "MB/s",
        stats: toRate,
        floor: { name: `pipe transfer of ${mb} MB into a child (cat > /dev/null)`, value: writeRate.max, unit: "MB/s", stats: writeRate },
        otherFloors: [memcpyFloor],
        met: inRatio >= 0.3,
        note,
        limit: `${fmt(Math.min(...to))} ms (best) against ${fmt(Math.min(...writes))} ms through a bare pipe (${fmt(inRatio * 100)}%): the pipe, the attachment read into its buffer in Python, and the array made over it.`,
      });
      ctx.report(`large.engine-out.${mb}mb`, {
        value: fromRate.max,
        unit: "MB/s",
        stats: fromRate,
        floor: { name: `pipe transfer of ${mb} MB out of a child (head -c from /dev/zero)`, value: readRate.max, unit: "MB/s", stats: readRate },
        otherFloors: [memcpyFloor],
        met: outRatio >= 0.3,
        note,
        limit: `${fmt(Math.min(...from))} ms (best) against ${fmt(Math.min(...reads))} ms through a bare pipe (${fmt(outRatio * 100)}%): the pipe, and the attachment copied from the pipe's chunks into its one buffer in Node.`,
      });
    }
  },
};
