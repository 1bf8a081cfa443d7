/**
 * One worker process as the manager tracks it: spawned in its own process group with a parent
 * pipe on fd 3, its output read line by line, its exit awaited.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { GROUPS } from "./process-groups.ts";

export interface ManagedWorker {
  podId: string;
  name: string;
  endpointId: string;
  child: ChildProcess;
  startedAt: number;
  stopping: boolean;
  exited: boolean;
  exitCode: number | null | undefined;
  signal: NodeJS.Signals | null | undefined;
  /** The last lines the worker wrote (stdout and stderr, in order). */
  output: string[];
  exitPromise: Promise<void>;
  /** Resolves `exitPromise`. */
  markExited: () => void;
  killTimer: NodeJS.Timeout | undefined;
}

/** Starts the worker command; throws when it cannot be spawned at all. */
export function spawnWorkerProcess(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(command, args, {
    cwd,
    env,
    // fd 3: a pipe only this process writes to (never does): the worker exits when it closes.
    stdio: ["ignore", "pipe", "pipe", "pipe"],
    // Its own process group, shared with its Python child: one kill reaches both.
    detached: GROUPS,
  });
}

export function managedWorker(podId: string, name: string, endpointId: string, child: ChildProcess): ManagedWorker {
  let markExited!: () => void;
  const exitPromise = new Promise<void>((resolve) => (markExited = resolve));
  return {
    podId,
    name,
    endpointId,
    child,
    startedAt: Date.now(),
    stopping: false,
    exited: false,
    exitCode: undefined,
    signal: undefined,
    output: [],
    exitPromise,
    markExited,
    killTimer: undefined,
  };
}

/** Keeps the worker's last `keep` lines and hands each line on as it arrives. */
export function readOutputLines(worker: ManagedWorker, keep: number, onLine: (stream: "stdout" | "stderr", line: string) => void): void {
  const pipeLines = (stream: NodeJS.ReadableStream | null, kind: "stdout" | "stderr") => {
    if (!stream) return;
    createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => {
      worker.output.push(line);
      if (worker.output.length > keep) worker.output.splice(0, worker.output.length - keep);
      onLine(kind, line);
    });
  };
  pipeLines(worker.child.stdout, "stdout");
  pipeLines(worker.child.stderr, "stderr");
}

/** Answers a function that runs its argument once the child's pipes have closed (at once if they have). */
export function afterPipesClose(child: ChildProcess): (run: () => void) => void {
  let pipesClosed = false;
  const afterClose: Array<() => void> = [];
  child.once("close", () => {
    pipesClosed = true;
    for (const run of afterClose.splice(0)) run();
  });
  return (run) => (pipesClosed ? run() : void afterClose.push(run));
}
