// A job in the format of RunPod's Python SDK (`@remote` functions, arguments as base64 cloudpickle)
// sent to Ferry's worker unchanged: the worker speaks that protocol too. The worker runs on its own
// here, with its local test API (`--rp_serve_api`, RunPod's flag); deployed, the same job body goes
// to `/runsync` on the endpoint. `node_modules/.bin/tsx examples/python-sdk-job.ts` (after `make build`)
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url)); // the repository: dist/ and .ferry/ are there

// Port 0: the worker picks a free one and says which in its "local API listening on" log line.
const worker = spawn(process.execPath, ["dist/handler.mjs", "--rp_serve_api", "--rp_api_port", "0"], { cwd: root, stdio: ["ignore", "ignore", "pipe"] });
const url = await new Promise<string>((resolve, reject) => {
  let log = "";
  worker.stderr.on("data", (chunk: Buffer) => {
    log += chunk.toString();
    const found = /local API listening on (http:\/\/[\d.:]+)/.exec(log);
    if (found) resolve(found[1]!);
  });
  worker.once("exit", (code) => reject(new Error(`the worker exited (${code}) before listening:\n${log}`)));
});

// What the Python SDK sends: the function's source, and each argument pickled (6 and 7 here;
// `base64.b64encode(cloudpickle.dumps(6))` is "gAVLBi4="). No serialization_format: cloudpickle.
const job = { function_name: "f", function_code: "def f(a, b):\n    return a * b", args: ["gAVLBi4=", "gAVLBy4="] };
const response = await fetch(`${url}/runsync`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ input: job }) });
const { status, output } = (await response.json()) as { status: string; output: { success: boolean; result: string } };
console.log(`${status}: success=${output.success}, result (base64 pickle) = ${output.result}`);

// The result is pickled too; unpickle it with the Python Ferry was set up with (.ferry/python).
const recorded = join(root, ".ferry", "python");
const python = existsSync(recorded) ? readFileSync(recorded, "utf8").trim() : "python3";
const value = execFileSync(python, ["-c", "import base64, pickle, sys; print(pickle.loads(base64.b64decode(sys.argv[1])))", output.result]);
console.log(`unpickled by ${python}: f(6, 7) = ${value.toString().trim()}`);

worker.kill("SIGTERM"); // the worker finishes its jobs in flight, then exits
