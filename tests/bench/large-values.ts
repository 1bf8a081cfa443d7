/**
 * Figure group 2: a 64 MB Float32Array argument to numpy and back (msgpack format, ext type 1
 * ndarray), MB/s each way, beside a memcpy of the same bytes in Node (Buffer.copy) and a pipe
 * transfer of the same bytes to and from a child process.
 *
 * Each direction is timed end to end as a caller of the handler sees it: encoding in
 * TypeScript, the handler (schema validation), the pipes, decoding in Python, and back.
 */
import { pack, unpack } from "msgpackr";
import { parseFunctionRequest } from "../../protocol/wire.ts";
import type { BenchGroup, Floor } from "./lib/figures.ts";
import { assertSuccess, ferryHandler, runHandlerJob, startEngine } from "./lib/engine-jobs.ts";
import { exited, spawnTracked } from "./lib/processes.ts";
import { fmt, mibPerSecond, MiB, summarize } from "./lib/stats.ts";

interface Codec {
  source: string;
  encodeBase64(value: Float32Array): string;
  decodeBase64(text: string): Float32Array;
}

/** The SDK's codec when it is there; else the ext frame built by hand, as docs/internals.md defines it. */
async function loadCodec(): Promise<Codec> {
  try {
    const sdk = (await import("../../sdk/codec.ts")) as {
      encodeBase64: (v: unknown) => string;
      decodeBase64: (t: string) => unknown;
    };
    return {
      source: "sdk/codec.ts",
      encodeBase64: (v) => sdk.encodeBase64(v),
      decodeBase64: (t) => {
        const value = sdk.decodeBase64(t);
        if (!(value instanceof Float32Array)) throw new Error(`the SDK decoded the result as ${Object.prototype.toString.call(value)}`);
        return value;
      },
    };
  } catch {
    return {
      source: "hand-built ext type 1 frame",
      encodeBase64: (v) => {
        const payload = pack(["<f4", [v.length], new Uint8Array(v.buffer, v.byteOffset, v.byteLength)]);
        const header = Buffer.from([0xc9, 0, 0, 0, 0, 1]);
        header.writeUInt32BE(payload.length, 1);
        return Buffer.concat([header, payload]).toString("base64");
      },
      decodeBase64: (t) => {
        const raw = Buffer.from(t, "base64");
        const [, , data] = unpack(raw.subarray(6)) as [string, number[], Uint8Array];
        return new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
      },
    };
  }
}

/** Bytes written into a pipe to `cat > /dev/null` until it has read them all and exited. */
async function pipeWrite(bytes: Buffer): Promise<number> {
  const child = spawnTracked("sh", ["-c", "cat > /dev/null"], { stdio: ["pipe", "ignore", "ignore"] });
  const done = exited(child);
  await new Promise((resolve) => setTimeout(resolve, 20)); // let it start before the clock does
  const t = performance.now();
  child.stdin!.end(bytes);
  await done;
  return performance.now() - t;
}

/** The same number of bytes read from a pipe that a child fills (`head -c N /dev/zero`), started by a byte on stdin. */
async function pipeRead(size: number): Promise<number> {
  const child = spawnTracked("sh", ["-c", `read x; exec head -c ${size} /dev/zero`], { stdio: ["pipe", "pipe", "ignore"] });
  await new Promise((resolve) => setTimeout(resolve, 20));
  let received = 0;
  const chunks: Buffer[] = [];
  const ended = new Promise<void>((resolve) => child.stdout!.on("end", () => resolve()));
  child.stdout!.on("data", (c: Buffer) => {
    received += c.length;
    chunks.push(c);
  });
  const t = performance.now();
  child.stdin!.end("go\n");
  await ended;
  const ms = performance.now() - t;
  Buffer.concat(chunks); // the bytes end in one buffer, as the engine's frame decoder's do
  await exited(child);
  if (received !== size) throw new Error(`pipe read got ${received} of ${size} bytes`);
  return ms;
}

function memcpy(bytes: Buffer): number {
  const target = Buffer.allocUnsafe(bytes.length);
  const t = performance.now();
  bytes.copy(target);
  return performance.now() - t;
}

export const largeValuesGroup: BenchGroup = {
  key: "large-values",
  title: "Large values: 64 MB Float32Array to numpy and back",
  budgetMs: 60_000,
  figures: [
    { id: "large.to-numpy", name: "64 MB Float32Array argument into numpy (MB/s)", goal: null },
    { id: "large.from-numpy", name: "64 MB numpy array back as a Float32Array (MB/s)", goal: null },
  ],
  async run(ctx) {
    const size = ctx.quick ? 8 * MiB : 64 * MiB;
    const runs = ctx.quick ? 1 : 3;
    const codec = await loadCodec();
    const engine = await startEngine(ctx);
    const handler = ferryHandler(engine);
    const n = size / 4;
    const array = new Float32Array(n);
    for (let i = 0; i < n; i++) array[i] = i % 1000;
    const bytes = Buffer.from(array.buffer);

    const toCode = "def f(a):\n    assert a.dtype.str == '<f4', a.dtype\n    return int(a.nbytes)";
    // The array the child sends back is made once per worker (the top level runs once).
    const fromCode = `import numpy as np\nA = (np.arange(${n}, dtype=np.float32) % 1000)\ndef f():\n    return A`;
    // Where the time goes, measured on the side of each timed run: encoding, the schema check, decoding.
    const parts = { encode: [] as number[], validate: [] as number[], decode: [] as number[] };
    const toNumpy = async () => {
      const t = performance.now();
      const arg = codec.encodeBase64(array);
      const encoded = performance.now();
      const input = { function_name: "f", function_code: toCode, args: [arg], serialization_format: "msgpack" };
      const response = await runHandlerJob(handler, input);
      const ms = performance.now() - t;
      assertSuccess(response, "64 MB argument");
      parts.encode.push(encoded - t);
      const v = performance.now();
      if (!parseFunctionRequest(input).ok) throw new Error("the 64 MB job does not validate");
      parts.validate.push(performance.now() - v);
      return ms;
    };
    const fromNumpy = async () => {
      const t = performance.now();
      const response = await runHandlerJob(handler, { function_name: "f", function_code: fromCode, args: [], serialization_format: "msgpack" });
      assertSuccess(response, "64 MB result");
      const d = performance.now();
      const value = codec.decodeBase64(String(response.result));
      const ms = performance.now() - t;
      parts.decode.push(performance.now() - d);
      if (value.length !== n || value[n - 1] !== (n - 1) % 1000) throw new Error("the array came back changed");
      return ms;
    };

    await fromNumpy(); // warm: numpy imported, the array made
    parts.decode.length = 0;
    const to: number[] = [];
    const from: number[] = [];
    const copies: number[] = [];
    const writes: number[] = [];
    const reads: number[] = [];
    for (let i = 0; i < runs; i++) {
      to.push(await toNumpy());
      from.push(await fromNumpy());
      copies.push(memcpy(bytes));
      writes.push(await pipeWrite(bytes));
      reads.push(await pipeRead(size));
    }
    const rate = (ms: number[]) => summarize(ms.map((m) => mibPerSecond(size, m)));
    const toRate = rate(to);
    const fromRate = rate(from);
    const copyRate = rate(copies);
    const writeRate = rate(writes);
    const readRate = rate(reads);
    const mb = `${size / MiB} MB`;
    const memcpyFloor: Floor = { name: `memcpy of ${mb} in Node (Buffer.copy)`, value: copyRate.max, unit: "MB/s", stats: copyRate };
    const note = `best of ${runs}; codec: ${codec.source}. The wire carries base64 text of the MessagePack document (4/3 of the bytes), inside a MessagePack frame.`;
    ctx.report("large.to-numpy", {
      value: toRate.max,
      unit: "MB/s",
      stats: toRate,
      floor: { name: `pipe transfer of ${mb} into a child (cat > /dev/null)`, value: writeRate.max, unit: "MB/s", stats: writeRate },
      otherFloors: [memcpyFloor],
      note,
      limit:
        `the ${mb} take ${fmt(Math.min(...to))} ms (best) against ${fmt(Math.min(...writes))} ms through a bare pipe. Measured parts (p50): ` +
        `encoding to base64 MessagePack in TypeScript ${fmt(summarize(parts.encode).p50)} ms; the job's schema check ${fmt(summarize(parts.validate).p50)} ms; ` +
        `the rest (${fmt(summarize(to).p50 - summarize(parts.encode).p50)} ms including the check) is the handler and engine: framing, the pipe, base64 + MessagePack decoding in Python.`,
    });
    ctx.report("large.from-numpy", {
      value: fromRate.max,
      unit: "MB/s",
      stats: fromRate,
      floor: { name: `pipe transfer of ${mb} out of a child (head -c from /dev/zero)`, value: readRate.max, unit: "MB/s", stats: readRate },
      otherFloors: [memcpyFloor],
      note,
      limit:
        `the ${mb} take ${fmt(Math.min(...from))} ms (best) against ${fmt(Math.min(...reads))} ms through a bare pipe. Measured parts (p50): ` +
        `decoding the base64 MessagePack result in TypeScript ${fmt(summarize(parts.decode).p50)} ms; the rest (${fmt(summarize(from).p50 - summarize(parts.decode).p50)} ms) ` +
        "is the handler and engine: MessagePack + base64 encoding in Python, the pipe, frame reassembly.",
    });
  },
};
