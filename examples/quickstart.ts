// `make demo`: Ferry's main job on the local default. No RunPod key is needed: the SDK starts a
// local RunPod-compatible server in this process, and real worker processes run the Python.
import { CpuLiveServerless, RemoteError, remote, shutdown } from "../sdk/index.ts";
// `ferry types` generated this from the annotations of py/quickstart.py: the calls below are typed
// from the Python itself, with no generics written here.
import quickstart from "./py/quickstart.ferry.js";

const cpu = new CpuLiveServerless({ name: "quickstart" });
const py = remote(cpu, { dependencies: ["numpy>=1.20", "msgpack"] });
const rows: [string, string][] = [];
const time = async <T>(label: string, run: () => Promise<T>): Promise<T> => {
  const started = performance.now();
  try {
    return await run();
  } finally {
    rows.push([label, `${(performance.now() - started).toFixed(0)} ms`]);
  }
};

// 1. A Python function, called with typed arguments. Its dependencies are already installed on
//    the worker, so they are checked and skipped in milliseconds.
const describe = py.fromFile(quickstart, "describe");
const first = await time("function (first call: worker start)", () => describe.call([1, 2, 3, 4], 10));
console.log("describe ->", first.value, `| dependencies checked in ${first.timings.installMs?.toFixed(1)} ms`);
await time("function (warm)", () => describe([5, 6, 7]));

// 2. A stateful class: the slow constructor runs once, then calls are fast.
const Embedder = py.classFromFile(quickstart, "Embedder");
const model = await time("class: create (slow __init__)", () => Embedder.create(4));
for (const text of ["ferry", "boat", "river"]) {
  const vector = await time(`class: embed("${text}")`, () => model.embed(text));
  console.log(`embed("${text}") ->`, vector);
}

// 3. A generator, streamed value by value; the worker's live log lines print as they happen.
await time("generator: 3 values streamed", async () => {
  for await (const value of py.fromFile(quickstart, "countdown").stream(3)) console.log("streamed value:", value);
});

// 4. A Python exception arrives as a typed RemoteError with the Python traceback.
try {
  await time("exception (RemoteError)", () => py.fromFile(quickstart, "divide")(1, 0));
} catch (error) {
  if (!(error instanceof RemoteError)) throw error;
  console.log(`RemoteError: ${error.errorType}: ${error.message}\n${error.traceback}`);
}

console.log("\nCall                                   Time");
for (const [label, ms] of rows) console.log(`${label.padEnd(38)} ${ms.padStart(7)}`);
console.log("\nOn RunPod: set RUNPOD_API_KEY and use LiveServerless({ gpuIds: [GpuGroup.ADA_24] }); the same code runs there.");
await shutdown();
