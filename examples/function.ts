// A typed Python function with keyword arguments, and what `.call()` reports about the job.
// Runs on the local default (no RUNPOD_API_KEY): `node_modules/.bin/tsx examples/function.ts`.
import { CpuLiveServerless, kwargs, remote } from "../sdk/index.ts";

const py = remote(new CpuLiveServerless({ name: "examples-function" }));

// <Args, Result, Kwargs>: the positional tuple, the return type and the keyword arguments.
// `slugify(42)` or `kwargs({ separatr: "_" })` would not compile.
const slugify = py.fromFile<[title: string], string, { separator?: string; max_length?: number }>(
  new URL("./py/text.py", import.meta.url),
  "slugify",
);

const title = "Ferry: Python functions on serverless GPUs, called from TypeScript";
console.log("positional only:", await slugify(title));
// Keyword arguments go in a trailing kwargs({...}) marker. A plain object would reach Python as a
// positional dict, so the two can never be confused. Keys set to undefined are left out, so
// Python's own default applies.
console.log("with kwargs:    ", await slugify(title, kwargs({ separator: "_", max_length: 24 })));

// .call() resolves with the value and what happened: the RunPod job, the worker that ran it, where
// the time went (queue, installs, the Python call, the round trip) and what the code printed.
const r = await slugify.call(title, kwargs({ max_length: undefined, separator: "." }));
console.log("value:         ", r.value);
console.log("job / worker:  ", r.jobId, "/", r.workerId);
const t = r.timings;
console.log(`timings:        queue ${t.queueMs} ms, execute ${t.executeMs?.toFixed(1)} ms, worker total ${t.totalMs?.toFixed(1)} ms, round trip ${t.roundTripMs.toFixed(1)} ms`);
console.log("stdout:        ", JSON.stringify(r.stdout));
// No shutdown() needed: the local server started in this process lets it exit once its work is done.
