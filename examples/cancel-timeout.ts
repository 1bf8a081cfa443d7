// Stopping calls: an AbortSignal cancels a call (CancelledError), `timeoutMs` bounds one
// (RemoteTimeoutError). Either way the job is cancelled on the endpoint, which interrupts the
// Python code, so the worker is free again: the last call shows it.
// `node_modules/.bin/tsx examples/cancel-timeout.ts`
import { CancelledError, CpuLiveServerless, RemoteTimeoutError, remote } from "../sdk/index.ts";
import slow from "./py/slow.ferry.js";

const py = remote(new CpuLiveServerless({ name: "examples-cancel", workersMax: 1 }));
// onLog: false keeps the worker's "working..." lines off this console.
const work = py.fromFile(slow, "work").with({ onLog: false });
await work(0); // starts the worker, so the times below are the calls' own
const since = (t: number) => `${((performance.now() - t) / 1000).toFixed(2)}s`;

// 1. An AbortController, as for fetch(): aborting rejects at once and cancels the job.
const controller = new AbortController();
setTimeout(() => controller.abort(new Error("the user pressed Stop")), 1000);
let started = performance.now();
try {
  await work.with({ signal: controller.signal })(30);
} catch (error) {
  if (!(error instanceof CancelledError)) throw error;
  console.log(`CancelledError after ${since(started)}: ${error.message} (reason: ${(error.reason as Error).message})`);
}

// 2. timeoutMs bounds the whole call: queue, installs and execution.
started = performance.now();
try {
  await work.with({ timeoutMs: 1500 })(30);
} catch (error) {
  if (!(error instanceof RemoteTimeoutError)) throw error;
  console.log(`RemoteTimeoutError after ${since(started)}: ${error.message}, enforced by the ${error.enforcedBy}`);
}

// 3. The single worker (workersMax: 1) is not stuck in either 30-second job: this one runs at once.
started = performance.now();
console.log(`healthy call: ${await work(0.5)} in ${since(started)}`);
