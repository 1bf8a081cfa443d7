/**
 * The floors large values are measured against, in the same run: a memcpy in Node, and the
 * same bytes through a bare pipe into and out of a child process.
 */
import { exited, spawnTracked } from "./processes.ts";

/** Bytes written into a pipe to `cat > /dev/null` until it has read them all and exited. */
export async function pipeWrite(bytes: Buffer): Promise<number> {
  const child = spawnTracked("sh", ["-c", "cat > /dev/null"], { stdio: ["pipe", "ignore", "ignore"] });
  const done = exited(child);
  // A child stopped by the group's cleanup mid-write must not end the run with EPIPE.
  child.stdin!.on("error", () => undefined);
  await new Promise((resolve) => setTimeout(resolve, 20)); // let it start before the clock does
  const t = performance.now();
  child.stdin!.end(bytes);
  await done;
  return performance.now() - t;
}

/** The same number of bytes read from a pipe that a child fills (`head -c N /dev/zero`), started by a byte on stdin. */
export async function pipeRead(size: number): Promise<number> {
  const child = spawnTracked("sh", ["-c", `read x; exec head -c ${size} /dev/zero`], { stdio: ["pipe", "pipe", "ignore"] });
  await new Promise((resolve) => setTimeout(resolve, 20));
  let received = 0;
  const chunks: Buffer[] = [];
  const ended = new Promise<void>((resolve) => child.stdout!.on("end", () => resolve()));
  child.stdout!.on("data", (c: Buffer) => {
    received += c.length;
    chunks.push(c);
  });
  const t = performance.now();
  child.stdin!.end("go\n");
  await ended;
  const ms = performance.now() - t;
  Buffer.concat(chunks); // the bytes end in one buffer, as the engine's frame decoder's do
  await exited(child);
  if (received !== size) throw new Error(`pipe read got ${received} of ${size} bytes`);
  return ms;
}

export function memcpy(bytes: Buffer): number {
  const target = Buffer.allocUnsafe(bytes.length);
  const t = performance.now();
  bytes.copy(target);
  return performance.now() - t;
}
