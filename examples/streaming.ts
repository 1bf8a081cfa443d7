// A Python generator streamed value by value with `.stream()`, and the worker's log lines delivered
// live to an `onLog` callback while it runs. `node_modules/.bin/tsx examples/streaming.ts`
import { CpuLiveServerless, remote, type RemoteLogLine } from "../sdk/index.ts";
// `def generate(prompt: str, max_tokens: int = 6) -> Iterator[str]`, typed by `ferry types`: a
// plain call returns every value at once (string[]), .stream() yields each string.
import generatePy from "./py/generate.ferry.js";

const py = remote(new CpuLiveServerless({ name: "examples-streaming" }));
const generate = py.fromFile(generatePy, "generate");

const started = performance.now();
const at = () => `+${((performance.now() - started) / 1000).toFixed(2)}s`;

// onLog replaces the default (print on this console) for calls made through this handle: here
// each line is shown with its arrival time, which proves it came while the generator ran. The
// "worker" stream is the worker's own progress (e.g. installs); the rest is the user code's.
const onLog = (log: RemoteLogLine) => {
  if (log.stream !== "worker") console.log(`${at()}  log [${log.stream}] ${log.line}`);
};

let text = "";
for await (const token of generate.with({ onLog }).stream("Once upon a time", 6)) {
  text += token;
  console.log(`${at()}  token ${JSON.stringify(token)}`);
}
console.log(`${at()}  text: ${text.trim()}`);

// Leaving the loop early (break, or a throw) cancels the job on the endpoint.
for await (const token of generate.with({ onLog: false }).stream("Again", 100)) {
  console.log(`${at()}  first token of a long stream: ${JSON.stringify(token)}; break cancels the rest`);
  break;
}
