// The first call from your own project (after `npm install ferry`, the import reads
// `from "ferry"`): a Python function defined inline, called like an async function. On the local
// default when no RunPod key is set. `node_modules/.bin/tsx examples/first-call.ts`
import { CpuLiveServerless, remote } from "../sdk/index.ts";
const py = remote(new CpuLiveServerless({ name: "first-call" }));
const add = py.function<[a: number, b: number], number>("def add(a, b):\n    return a + b\n", "add");
console.log(await add(2, 3)); // 5
