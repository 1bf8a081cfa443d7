// A stateful Python class: constructed once on a worker, then called many times; the state (here a
// word count) stays on that worker between calls. `node_modules/.bin/tsx examples/class.ts`
import { CpuLiveServerless, remote } from "../sdk/index.ts";

// The TypeScript view of the class: its methods (each becomes async) and its constructor's arguments.
interface WordCounterApi {
  add(text: string): number;
  top(n: number): { documents: number; top: [word: string, count: number][] };
}
const py = remote(new CpuLiveServerless({ name: "examples-class", workersMax: 1 }));
const WordCounter = py.classFromFile<WordCounterApi, [stopwords: string[]]>(new URL("./py/word_counter.py", import.meta.url), "WordCounter");

// create() runs __init__ now, so a failing constructor surfaces here and not on the first method.
let started = performance.now();
const counter = await WordCounter.create(["the", "a", "of", "on"]);
console.log(`created ${counter.instanceId} in ${(performance.now() - started).toFixed(0)} ms`);

// Each call goes to the worker that holds the instance: fast, and it sees the earlier calls' state.
for (const text of ["The ferry crosses the river", "A ferry of the river Thames", "Ferry runs Python on a GPU"]) {
  started = performance.now();
  const distinct = await counter.add(text);
  console.log(`add(${JSON.stringify(text)}) -> ${distinct} distinct words (${(performance.now() - started).toFixed(0)} ms)`);
}
// .call() on a method also says how the instance fared: how many calls it has had (create() counts
// one, __repr__) and whether this call had to build it again on a worker that did not hold it.
const top = await counter.top.call(3);
console.log("top(3) ->", JSON.stringify(top.value), `| method calls on the worker: ${top.instance?.methodCalls}, rebuilt: ${top.instance?.rebuilt}, rebuilds so far: ${counter.rebuilds}`);

// destroy() frees the instance on the worker; the handle refuses further calls.
await counter.destroy();
console.log("destroyed:", counter.destroyed);
