// A Ferry endpoint called with RunPod's own npm client (`runpod-sdk`), no Ferry SDK on the calling
// side: any RunPod client can send Ferry's job format (a FunctionRequest) and read its answer.
// Here the endpoint lives on a local server started in this script; against RunPod, drop the
// baseUrl and use your RunPod key and a deployed endpoint's id. `node_modules/.bin/tsx examples/runpod-sdk-client.ts`
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import runpodSdk from "runpod-sdk";
import { startLocalServer } from "../sdk/local-server/server.ts";

// A throwaway state dir keeps this script's endpoint out of the project's .ferry. With an apiKey,
// the server checks it as RunPod does (401 without it).
const stateDir = mkdtempSync(join(tmpdir(), "ferry-runpod-sdk-"));
const server = await startLocalServer({ apiKey: "local-example-key", stateDir });
// What GraphQL's saveEndpoint does (`ferry deploy` sends that): one endpoint, at most one worker.
const endpoint = server.saveEndpoint({
  name: "plain-client",
  template: { name: "plain-client", imageName: "ferry/worker-cpu:0.1.0" },
  instanceIds: ["cpu3c-2-4"],
  workersMax: 1,
});

const runpod = runpodSdk("local-example-key", { baseUrl: server.endpointBaseUrl });
// With serialization_format "json", arguments and the result are plain JSON: no pickles needed.
const output = await runpod.endpoint(endpoint.id)!.runSync({
  input: {
    function_name: "word_lengths",
    function_code: "def word_lengths(text, minimum=1):\n    return {w: len(w) for w in text.split() if len(w) >= minimum}\n",
    args: ["ferry speaks the RunPod protocol"],
    kwargs: { minimum: 4 },
    serialization_format: "json",
  },
});
console.log(`job ${output.id}: ${output.status} in ${output.executionTime} ms`);
console.log("json_result:", output.output.json_result);

await server.close();
rmSync(stateDir, { recursive: true, force: true });
