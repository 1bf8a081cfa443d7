// NEEDS INTERNET: pip installs from PyPI and the model comes from huggingface.co, so `make examples`
// does not run this one. Run it yourself: `node_modules/.bin/tsx examples/dependencies-and-models.ts`.
//
// `dependencies` are pip requirements checked on the worker before the call and installed when
// missing; `hfModels` are Hugging Face repos downloaded into the worker's cache before the call.
// Both are checked on every call and skipped in milliseconds once satisfied.
// On RunPod (RUNPOD_API_KEY set) this runs on a 24 GB GPU, where Ferry's image already has torch;
// locally it runs on the CPU, and pip puts torch (a large download) into the endpoint's own venv.
import { GpuGroup, LiveServerless, remote } from "../sdk/index.ts";
import tinyGpt2 from "./py/tiny_gpt2.ferry.js";

const gpu = new LiveServerless({ name: "examples-models", gpuIds: [GpuGroup.ADA_24], workersMax: 1 });
const py = remote(gpu, { dependencies: ["transformers>=4.40,<5", "torch"], hfModels: ["sshleifer/tiny-gpt2"] });
const Generator = py.classFromFile(tinyGpt2, "Generator");

// create() is the first call: on a fresh worker it installs and downloads (minutes), then loads.
const started = performance.now();
const model = await Generator.with({ timeoutMs: 20 * 60_000 }).create();
console.log(`create() with installs, download and model load: ${((performance.now() - started) / 1000).toFixed(1)} s`);
// The calls after it find everything in place: installs and download show as a few milliseconds.
for (const prompt of ["The ferry crossed", "Serverless GPUs are"]) {
  const r = await model.generate.call(prompt);
  const t = r.timings;
  console.log(`${JSON.stringify(r.value.text)} on ${r.value.device}`);
  console.log(`  installs ${t.installMs?.toFixed(0)} ms, model download ${t.modelDownloadMs?.toFixed(0)} ms, generate ${t.executeMs?.toFixed(0)} ms`);
}
await model.destroy();
