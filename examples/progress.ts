// What a call is doing, phase by phase: an `onProgress` callback receives each typed event (queued,
// waiting for a worker, installing, running, done with its timings) instead of the console's live
// status line. `node_modules/.bin/tsx examples/progress.ts`
import { CpuLiveServerless, remote, shutdown } from "../sdk/index.ts";
import slow from "./py/slow.ferry.js";

const py = remote(new CpuLiveServerless({ name: "examples-progress" }), { dependencies: ["msgpack"] });

const work = py.fromFile(slow, "work").with({
  onProgress: (e) => console.log(`${e.elapsedMs.toFixed(0).padStart(6)} ms  ${e.phase}`),
  onLog: false,
});
console.log(await work(0.5));
await shutdown();
