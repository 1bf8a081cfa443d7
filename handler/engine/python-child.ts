/**
 * The Python child process: started in its own process group with the protocol pipes as fds 3
 * and 4, its frames decoded as they arrive, its stdout and stderr logged (the last stderr lines
 * kept to explain a death), and its exit reported once its pipes have delivered what it wrote.
 *
 * The child is started with node:child_process rather than the logged subprocess utility:
 * that utility is for commands that run to an end, while this process needs two extra duplex
 * pipes and lives for the worker's lifetime.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Writable, Readable } from "node:stream";
import type { Logger } from "../../protocol/logger.ts";
import { largeValueMallocEnv } from "../../protocol/malloc-env.ts";
import type { CallOptions, CallOutcome, CancelReason, ChildInfo, EngineJob } from "./engine-types.ts";
import { encodeFrame, FrameDecoder, type Frame } from "./frames.ts";

const STDERR_TAIL_LINES = 30;
/** After the child exits, how long its pipes may still deliver what it wrote. */
const EXIT_DRAIN_MS = 1_000;
/** Process groups exist on POSIX only. */
const GROUPS = process.platform !== "win32";

/**
 * Groups of children still alive. Being their own groups, they would outlive a worker that
 * exits without stopping them; on exit, they go too (a killed worker closes the child's pipe,
 * and the runner then ends its group itself).
 */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function trackGroup(pid: number | undefined): void {
  if (!GROUPS || pid === undefined) return;
  liveGroups.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const group of liveGroups) {
      try {
        process.kill(-group, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  });
}

function untrackGroup(pid: number | undefined): void {
  if (pid !== undefined) liveGroups.delete(pid);
}

export interface PendingCall {
  id: number;
  format: EngineJob["serialization_format"];
  resolve: (outcome: CallOutcome) => void;
  options: CallOptions;
  cancel?: { reason: CancelReason; message: string };
  timers: NodeJS.Timeout[];
  detach: () => void;
}

export interface PendingRpc {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export class Child {
  readonly process: ChildProcess;
  readonly calls = new Map<number, PendingCall>();
  readonly rpcs = new Map<number, PendingRpc>();
  readonly stderrTail: string[] = [];
  readonly ready: Promise<ChildInfo>;
  info?: ChildInfo;
  alive = true;
  /** Set when the worker killed it on purpose (a call that did not stop). */
  killedByWorker = false;
  private markReady!: (info: ChildInfo) => void;
  private failReady!: (error: Error) => void;

  constructor(process: ChildProcess) {
    this.process = process;
    this.ready = new Promise((resolve, reject) => {
      this.markReady = resolve;
      this.failReady = reject;
    });
    this.ready.catch(() => undefined);
  }

  get input(): Writable {
    return this.process.stdio[3] as Writable;
  }

  get output(): Readable {
    return this.process.stdio[4] as Readable;
  }

  setReady(info: ChildInfo): void {
    this.info = info;
    this.markReady(info);
  }

  setFailed(error: Error): void {
    this.failReady(error);
  }

  /**
   * A frame, then the attachments it lists (each written from its own buffer, uncopied);
   * `onWritten` once the pipe has taken all of them (or failed to).
   */
  send(frame: Frame, attachments: Uint8Array[] = [], onWritten?: () => void): void {
    if (!this.alive) return;
    // A write to a child that just died fails with EPIPE; its calls are answered by the exit path.
    const last = attachments.length;
    this.input.write(encodeFrame(frame), last === 0 ? () => onWritten?.() : () => undefined);
    attachments.forEach((bytes, i) => this.input.write(bytes, i === last - 1 ? () => onWritten?.() : () => undefined));
  }

  /** SIGKILL to the child's whole process group (where there are groups), so nothing it started stays. */
  kill(): void {
    const pid = this.process.pid;
    if (pid === undefined) return;
    try {
      if (GROUPS) process.kill(-pid, "SIGKILL");
      else this.process.kill("SIGKILL");
    } catch {
      // The group is already gone.
    }
  }

  rememberStderr(line: string): void {
    this.stderrTail.push(line);
    if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
  }
}

/** A file of Ferry's Python side. Bundled: dist/python/ beside dist/handler.mjs. From source: handler/python/. */
export function pythonSourcePath(file: string): string {
  const candidates = [new URL(`./python/${file}`, import.meta.url), new URL(`../python/${file}`, import.meta.url)];
  for (const candidate of candidates) {
    const path = fileURLToPath(candidate);
    if (existsSync(path)) return path;
  }
  throw new Error(`Ferry's Python file python/${file} was not found beside the worker`);
}

function forEachLine(stream: Readable | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let partial = "";
  stream.setEncoding("utf8");
  stream.on("data", (text: string) => {
    const lines = (partial + text).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  });
  stream.on("end", () => {
    if (partial) onLine(partial);
    partial = "";
  });
}

export interface ChildSpec {
  python: string;
  runnerPath: string;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  startTimeoutMs: number;
  /** Each frame the child sends; one that throws gets the child replaced. */
  onFrame: (child: Child, frame: Frame) => void;
  /** The child exited, and its pipes delivered what it wrote (or had a moment to). */
  onExit: (child: Child, code: number | null, signal: NodeJS.Signals | null) => void;
}

export function spawnPythonChild(spec: ChildSpec): Child {
  const proc = spawn(spec.python, ["-u", spec.runnerPath], {
    stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"],
    env: {
      ...spec.env,
      PYTHONUNBUFFERED: "1",
      FERRY_IN_FD: "3",
      FERRY_OUT_FD: "4",
      ...largeValueMallocEnv(spec.env),
    },
    // Its own process group: a kill reaches whatever user code started (`sleep 60 &`, a
    // daemon), and the runner takes that group down when the worker's pipe closes.
    detached: GROUPS,
  });
  const child = new Child(proc);
  trackGroup(proc.pid);
  const decoder = new FrameDecoder();
  const startTimer = setTimeout(() => {
    child.setFailed(new Error(`the Python runner did not start within ${spec.startTimeoutMs} ms`));
    child.kill();
  }, spec.startTimeoutMs);
  child.ready.then(
    () => clearTimeout(startTimer),
    () => clearTimeout(startTimer),
  );

  child.output.on("data", (chunk: Buffer) => {
    let frames: Frame[];
    try {
      frames = decoder.push(chunk);
    } catch (error) {
      spec.logger.error({ err: error }, "unreadable frame from the Python child; restarting it");
      child.killedByWorker = true;
      child.kill();
      return;
    }
    try {
      for (const frame of frames) spec.onFrame(child, frame);
    } catch (error) {
      // A frame that cannot be handled (bad JSON text, a throwing callback) must not end the
      // worker: the child is replaced like after an unreadable frame, and its calls answered.
      spec.logger.error({ err: (error as Error).message }, "a frame from the Python child could not be handled; restarting it");
      child.killedByWorker = true;
      child.kill();
    }
  });
  forEachLine(proc.stdout, (line) => spec.logger.info({ stream: "python-stdout" }, line));
  forEachLine(proc.stderr, (line) => {
    child.rememberStderr(line);
    spec.logger.info({ stream: "python-stderr" }, line);
  });
  // A child that dies with data unread resets its pipes; the "close" handler answers its calls,
  // so the resets themselves are only logged (unhandled, they would end the worker).
  for (const stream of [proc.stdio[3], proc.stdio[4], proc.stdout, proc.stderr]) {
    stream?.on("error", (error: Error) => spec.logger.debug({ err: error.message }, "Python child pipe error"));
  }
  proc.on("error", (error) => {
    spec.logger.error({ err: error, python: spec.python }, "could not start the Python child");
    child.setFailed(new Error(`could not start ${spec.python}: ${error.message}`));
  });
  // The child is dead when it exits, not when its pipes close: a process it started may hold
  // them open for as long as it likes. Its group is killed at once, the pipes get a moment to
  // deliver what the child wrote before it exited, and then its calls are answered.
  let answered = false;
  const answer = (code: number | null, signal: NodeJS.Signals | null) => {
    if (answered) return;
    answered = true;
    clearTimeout(drainTimer);
    spec.onExit(child, code, signal);
  };
  let drainTimer: NodeJS.Timeout | undefined;
  proc.on("exit", (code, signal) => {
    untrackGroup(proc.pid);
    child.kill();
    drainTimer = setTimeout(() => {
      for (const stream of [proc.stdio[3], proc.stdio[4], proc.stdout, proc.stderr]) stream?.destroy();
      answer(code, signal);
    }, EXIT_DRAIN_MS);
    drainTimer.unref();
  });
  proc.on("close", (code, signal) => answer(code, signal));
  return child;
}

export function describeExit(code: number | null, signal: NodeJS.Signals | null, stderrTail: string[]): string {
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  const lines = stderrTail.filter((l) => l.trim());
  // faulthandler's report starts with "Fatal Python error: <signal name>"; from there it explains the crash.
  const fatal = lines.findLastIndex((l) => l.startsWith("Fatal Python error"));
  const tail = fatal >= 0 ? lines.slice(fatal, fatal + 16) : lines.slice(-12);
  return tail.length ? `the Python process ${how}. Last lines of its stderr:\n${tail.join("\n")}` : `the Python process ${how}`;
}
