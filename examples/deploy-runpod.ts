// Deploying ahead of time, checking health, undeploying: what `ferry deploy` / `ferry health` /
// `ferry undeploy` do, from code.
// With RUNPOD_API_KEY set, this provisions a real RunPod Serverless endpoint (a 24 GB GPU pool,
// scaled to zero when idle) through RunPod's GraphQL, runs one call on it and deletes it again.
// Without a key, the same code runs against the local RunPod-compatible server (which is how
// `make examples` runs it, offline). `node_modules/.bin/tsx examples/deploy-runpod.ts`
import { deploy, endpointHealth, GpuGroup, LiveServerless, remote, undeployResource } from "../sdk/index.ts";

const gpu = new LiveServerless({ name: "examples-deploy", gpuIds: [GpuGroup.ADA_24, GpuGroup.AMPERE_24], workersMax: 1, idleTimeout: 5 });
const hello = remote(gpu).function<[], string>(
  `import platform, socket
def hello():
    return f"hello from {socket.gethostname()} (Python {platform.python_version()})"`,
  "hello",
);

// deploy() creates the endpoint, reuses it while its settings are unchanged (their hash is kept in
// .ferry/resources.json) and updates it in place when they change, so a second deploy is a no-op.
for (const round of [1, 2]) {
  for (const d of await deploy([gpu])) console.log(`deploy #${round}: ${d.name} -> endpoint ${d.endpointId} (${d.action})`);
}

// Calls go to the deployed endpoint; the first one waits for a worker to start (a cold start).
console.log("call:", await hello());

const { endpointId, health } = await endpointHealth(gpu.name);
console.log(`health of ${endpointId}: jobs completed ${health.jobs.completed}, workers ready ${health.workers.ready}`);

// Undeploy deletes the endpoint (its workers stop) and forgets it in .ferry/resources.json.
const gone = await undeployResource(gpu.name);
console.log(`undeploy: ${gone.name} (${gone.endpointId}) deleted: ${gone.deleted}`);
