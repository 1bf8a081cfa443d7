/**
 * The fake Hugging Face hub (tests/helpers/fake-hf-hub.ts) in a process of its own, so that
 * serving the bytes does not share an event loop with the download being measured.
 *
 *   node --import tsx tests/bench/lib/hub-process.ts <total MiB> <files>
 *
 * Prints one JSON line ({ url, repo, files: [{ path, size, plainUrl }] }) when it listens, and
 * exits when its stdin closes.
 */
import { startFakeHfHub } from "../../helpers/fake-hf-hub.ts";

const totalMiB = Number(process.argv[2] ?? 200);
const count = Number(process.argv[3] ?? 4);
const repo = "ferry-bench/model-200mb";
const hub = await startFakeHfHub();
const perFile = Math.floor((totalMiB * 1024 * 1024) / count);
const files: Record<string, Buffer> = { "config.json": Buffer.from(JSON.stringify({ model_type: "bench", hidden_size: 8 })) };
for (let i = 0; i < count; i++) {
  const content = Buffer.allocUnsafe(perFile);
  for (let j = 0; j < perFile; j += 4) content.writeUInt32LE((j * 2654435761 + i) >>> 0, j);
  files[`model-${String(i + 1).padStart(5, "0")}-of-${String(count).padStart(5, "0")}.safetensors`] = content;
}
hub.addRepo(repo, files);
const listing = Object.entries(files).map(([path, content]) => ({ path, size: content.length, plainUrl: hub.plainUrl(repo, path) }));
process.stdout.write(`${JSON.stringify({ url: hub.url, repo, files: listing })}\n`);
process.stdin.resume();
process.stdin.on("end", () => {
  void hub.close().then(() => process.exit(0));
});
process.stdin.on("error", () => process.exit(0));
