/**
 * The Python execution engine: one persistent Python child (handler/python/runner.py) and the
 * calls in flight on it.
 *
 * The child lives as long as the worker so that imported modules, loaded models and class
 * instances persist between jobs. Calls and their answers travel as frames over fds 3 and 4;
 * the child's stdout and stderr are logged as the worker's own output, and the last stderr
 * lines are kept to explain a death. When the child dies, every call on it is answered
 * (never left hanging) and a new child starts at once.
 *
 * The child is started with node:child_process rather than the logged subprocess utility:
 * that utility is for commands that run to an end, while this process needs two extra duplex
 * pipes and lives for the worker's lifetime.
 */
import { ErrorType } from "../../protocol/error-types.ts";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { EventEmitter } from "node:events";
import type { Writable, Readable } from "node:stream";
import type { Logger } from "../../protocol/logger.ts";
import { silentLogger } from "../../protocol/logger.ts";
import { childEnvironment } from "../child-environment.ts";
import type { FunctionRequest, FunctionResponse } from "../../protocol/wire.ts";
import { detachLargeBytes, encodeFrame, FrameDecoder, type Frame } from "./frames.ts";

/** The error type a cancelled call ends with. */
type CancelReason = typeof ErrorType.Timeout | typeof ErrorType.Cancelled;

export interface EngineOptions {
  /** Interpreter that runs the child. */
  python: string;
  runnerPath?: string;
  /** Environment of the child; the worker's API keys are removed from it. */
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** After a cancel or timeout, how long the call gets to stop before the child is killed. */
  cancelGraceMs?: number;
  startTimeoutMs?: number;
}

export interface ChildInfo {
  pid: number;
  python: string;
  executable: string;
  cloudpickle: boolean;
}

export interface LiveLogLine {
  stream: "stdout" | "stderr" | "log";
  line: string;
}

export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  onLog?: (line: LiveLogLine) => void;
  /** A yielded value, encoded like `result` (base64 text, or the JSON value itself for json). */
  onValue?: (value: unknown, index: number) => void;
  /**
   * Encoded values (the result, yielded values) stay the child's bytes instead of becoming
   * base64 text: the result arrives in `result_bytes`, and `onValue` gets a Uint8Array.
   */
  valuesAsBytes?: boolean;
}

export type CallOutcome = FunctionResponse & { error_traceback?: string; result_bytes?: Uint8Array };

export interface RequirementCheck {
  requirement: string;
  name: string | null;
  installed_version: string | null;
  satisfied: boolean;
  marker_applies: boolean;
  error?: string;
}

/** The part of a FunctionRequest the child needs. */
export type EngineJob = Pick<
  FunctionRequest,
  | "execution_type"
  | "function_name"
  | "function_code"
  | "class_name"
  | "class_code"
  | "method_name"
  | "instance_id"
  | "create_new_instance"
  | "args"
  | "kwargs"
  | "constructor_args"
  | "constructor_kwargs"
  | "serialization_format"
  | "modules"
  | "return_aggregate_stream"
> &
  Partial<Pick<FunctionRequest, "code_file">>;

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
const RPC_TIMEOUT_MS = 30_000;

interface PendingCall {
  id: number;
  format: EngineJob["serialization_format"];
  resolve: (outcome: CallOutcome) => void;
  options: CallOptions;
  cancel?: { reason: CancelReason; message: string };
  timers: NodeJS.Timeout[];
  detach: () => void;
}

interface PendingRpc {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

class Child {
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

  /** A frame, then the attachments it lists (each written from its own buffer, uncopied). */
  send(frame: Frame, attachments: Uint8Array[] = []): void {
    if (!this.alive) return;
    // A write to a child that just died fails with EPIPE; its calls are answered by the exit path.
    this.input.write(encodeFrame(frame), () => undefined);
    for (const bytes of attachments) this.input.write(bytes, () => undefined);
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

export class PythonEngine extends EventEmitter {
  readonly python: string;
  private readonly runnerPath: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly logger: Logger;
  private readonly cancelGraceMs: number;
  private readonly startTimeoutMs: number;
  private child?: Child;
  private nextId = 1;
  private stopping = false;

  constructor(options: EngineOptions) {
    super();
    this.python = options.python;
    this.runnerPath = options.runnerPath ?? pythonSourcePath("runner.py");
    this.env = childEnvironment(options.env ?? process.env);
    this.logger = options.logger ?? silentLogger();
    this.cancelGraceMs = options.cancelGraceMs ?? Number(process.env.FERRY_CANCEL_GRACE_MS ?? 3000);
    this.startTimeoutMs = options.startTimeoutMs ?? 60_000;
  }

  /** Starts the child (if none is running) and waits until it answers. */
  async start(): Promise<ChildInfo> {
    this.stopping = false;
    return this.liveChild().ready;
  }

  get childInfo(): ChildInfo | undefined {
    return this.child?.info;
  }

  private liveChild(): Child {
    if (this.child?.alive) return this.child;
    this.child = this.spawnChild();
    return this.child;
  }

  private spawnChild(): Child {
    const proc = spawn(this.python, ["-u", this.runnerPath], {
      stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"],
      env: {
        ...this.env,
        PYTHONUNBUFFERED: "1",
        FERRY_IN_FD: "3",
        FERRY_OUT_FD: "4",
        // glibc raises its mmap threshold after each large free, up to 32 MB, and then keeps
        // freed multi-MB argument buffers in the heap instead of returning them to the system:
        // a fixed threshold at the blob threshold (1 MB) gives a finished call's memory back.
        MALLOC_MMAP_THRESHOLD_: this.env.MALLOC_MMAP_THRESHOLD_ ?? "1048576",
      },
      // Its own process group: a kill reaches whatever user code started (`sleep 60 &`, a
      // daemon), and the runner takes that group down when the worker's pipe closes.
      detached: GROUPS,
    });
    const child = new Child(proc);
    trackGroup(proc.pid);
    const decoder = new FrameDecoder();
    const startTimer = setTimeout(() => {
      child.setFailed(new Error(`the Python runner did not start within ${this.startTimeoutMs} ms`));
      child.kill();
    }, this.startTimeoutMs);
    child.ready.then(
      () => clearTimeout(startTimer),
      () => clearTimeout(startTimer),
    );

    child.output.on("data", (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch (error) {
        this.logger.error({ err: error }, "unreadable frame from the Python child; restarting it");
        child.killedByWorker = true;
        child.kill();
        return;
      }
      try {
        for (const frame of frames) this.onFrame(child, frame);
      } catch (error) {
        // A frame that cannot be handled (bad JSON text, a throwing callback) must not end the
        // worker: the child is replaced like after an unreadable frame, and its calls answered.
        this.logger.error({ err: (error as Error).message }, "a frame from the Python child could not be handled; restarting it");
        child.killedByWorker = true;
        child.kill();
      }
    });
    forEachLine(proc.stdout, (line) => this.logger.info({ stream: "python-stdout" }, line));
    forEachLine(proc.stderr, (line) => {
      child.rememberStderr(line);
      this.logger.info({ stream: "python-stderr" }, line);
    });
    // A child that dies with data unread resets its pipes; the "close" handler answers its calls,
    // so the resets themselves are only logged (unhandled, they would end the worker).
    for (const stream of [proc.stdio[3], proc.stdio[4], proc.stdout, proc.stderr]) {
      stream?.on("error", (error: Error) => this.logger.debug({ err: error.message }, "Python child pipe error"));
    }
    proc.on("error", (error) => {
      this.logger.error({ err: error, python: this.python }, "could not start the Python child");
      child.setFailed(new Error(`could not start ${this.python}: ${error.message}`));
    });
    // The child is dead when it exits, not when its pipes close: a process it started may hold
    // them open for as long as it likes. Its group is killed at once, the pipes get a moment to
    // deliver what the child wrote before it exited, and then its calls are answered.
    let answered = false;
    const answer = (code: number | null, signal: NodeJS.Signals | null) => {
      if (answered) return;
      answered = true;
      clearTimeout(drainTimer);
      this.onChildExit(child, code, signal);
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

  private onFrame(child: Child, frame: Frame): void {
    switch (frame.t) {
      case "ready": {
        const info: ChildInfo = {
          pid: Number(frame.pid),
          python: String(frame.python),
          executable: String(frame.executable),
          cloudpickle: Boolean(frame.cloudpickle),
        };
        this.logger.info({ pid: info.pid, python: info.python, executable: info.executable }, "Python child ready");
        child.setReady(info);
        return;
      }
      case "log": {
        const call = child.calls.get(Number(frame.id));
        call?.options.onLog?.({ stream: frame.stream as LiveLogLine["stream"], line: String(frame.line) });
        return;
      }
      case "yield": {
        const call = child.calls.get(Number(frame.id));
        if (!call) return;
        // json values travel as JSON text (exactly what json.dumps accepted); the others as bytes.
        const bytes = frame.value instanceof Uint8Array && !call.options.valuesAsBytes;
        const value = call.format === "json" ? JSON.parse(String(frame.value)) : bytes ? bytesToBase64(frame.value as Uint8Array) : frame.value;
        call.options.onValue?.(value, Number(frame.index));
        return;
      }
      case "result": {
        const call = child.calls.get(Number(frame.id));
        if (!call) return;
        this.finish(child, call, toOutcome(frame.response as Record<string, unknown>, call.options.valuesAsBytes === true));
        return;
      }
      case "reply": {
        const rpc = child.rpcs.get(Number(frame.id));
        if (!rpc) return;
        child.rpcs.delete(Number(frame.id));
        if (frame.ok) rpc.resolve(frame.value);
        else rpc.reject(new Error(String(frame.error)));
        return;
      }
      default:
        this.logger.warn({ frame: frame.t }, "unknown frame from the Python child");
    }
  }

  private finish(child: Child, call: PendingCall, outcome: CallOutcome): void {
    child.calls.delete(call.id);
    for (const timer of call.timers) clearTimeout(timer);
    call.detach();
    call.resolve(outcome);
  }

  private onChildExit(child: Child, code: number | null, signal: NodeJS.Signals | null): void {
    child.alive = false;
    child.setFailed(new Error(describeExit(code, signal, child.stderrTail)));
    const expected = this.stopping && child.calls.size === 0;
    if (!expected) {
      this.logger.warn({ code, signal, callsLost: child.calls.size }, "the Python child exited");
    }
    for (const call of [...child.calls.values()]) {
      this.finish(child, call, deathOutcome(call, code, signal, child, this.cancelGraceMs));
    }
    for (const rpc of child.rpcs.values()) rpc.reject(new Error(describeExit(code, signal, child.stderrTail)));
    child.rpcs.clear();
    this.emit("child-exit", { code, signal, expected });
    // Only a child that was working is replaced at once: one that could not start would fail again.
    if (!this.stopping && this.child === child && child.info) {
      // Start the replacement now, so the next job does not pay for it.
      this.child = this.spawnChild();
      this.child.ready.catch((error: Error) => this.logger.error({ err: error.message }, "the replacement Python child failed to start"));
    }
  }

  /** Runs one call. Never rejects: every failure comes back as an outcome with success false. */
  async call(job: EngineJob, options: CallOptions = {}): Promise<CallOutcome> {
    let child: Child;
    try {
      child = this.liveChild();
      await child.ready;
    } catch (error) {
      return { success: false, error_type: ErrorType.WorkerProcessDied, error: `The Python process is not available: ${(error as Error).message}`, stdout: "" };
    }
    if (options.signal?.aborted) return { success: false, error_type: ErrorType.Cancelled, error: "Cancelled before it started", stdout: "" };
    const decoded = decodeArguments(job);
    if ("error" in decoded) return { success: false, error_type: ErrorType.DeserializationError, error: decoded.error, stdout: "" };
    const childJob = decoded.job;
    const id = this.nextId++;
    return new Promise<CallOutcome>((resolve) => {
      // The abort reason says why: a timeout enforced upstream stays a Timeout, not a cancel.
      const onAbort = () => {
        const reason = options.signal?.reason as { name?: unknown; message?: unknown } | undefined;
        const message = typeof reason?.message === "string" && reason.message ? reason.message : "Cancelled by request";
        this.cancel(child, id, reason?.name === "Timeout" ? ErrorType.Timeout : ErrorType.Cancelled, message);
      };
      const call: PendingCall = {
        id,
        format: job.serialization_format,
        resolve,
        options,
        timers: [],
        detach: () => options.signal?.removeEventListener("abort", onAbort),
      };
      child.calls.set(id, call);
      options.signal?.addEventListener("abort", onAbort, { once: true });
      if (options.timeoutMs !== undefined) {
        const timeoutMs = options.timeoutMs;
        call.timers.push(setTimeout(() => this.cancel(child, id, ErrorType.Timeout, `Timed out after ${timeoutMs} ms`), timeoutMs));
      }
      try {
        const { job: framed, attachments } = detachLargeBytes(childJob);
        child.send({ t: "call", id, job: framed, attachments: attachments.map((a) => a.byteLength) }, attachments);
      } catch (error) {
        // A value MessagePack cannot encode (nesting deeper than its stack) fails this call only.
        this.finish(child, call, { success: false, error_type: ErrorType.DeserializationError, error: `The call could not be sent to Python: ${(error as Error).message}`, stdout: "" });
      }
    });
  }

  /** Interrupts a call; if it has not answered after the grace period, the child is replaced. */
  private cancel(child: Child, id: number, reason: CancelReason, message: string): void {
    const call = child.calls.get(id);
    if (!call || call.cancel) return;
    call.cancel = { reason, message };
    child.send({ t: "cancel", id, reason, message });
    call.timers.push(
      setTimeout(() => {
        if (!child.calls.has(id) || !child.alive) return;
        this.logger.warn({ callId: id, graceMs: this.cancelGraceMs }, "call did not stop after its interrupt; replacing the Python child");
        child.killedByWorker = true;
        child.kill();
      }, this.cancelGraceMs),
    );
  }

  /**
   * A request the child answers on its event loop. Bounded in time: async user code that blocks
   * the loop would otherwise hold every request (a dependency check, a GPU memory report) forever.
   */
  private async rpc<T>(method: string, params: Record<string, unknown> = {}, timeoutMs = RPC_TIMEOUT_MS): Promise<T> {
    const child = this.liveChild();
    await child.ready;
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.rpcs.delete(id);
        reject(new Error(`the Python child did not answer ${method} within ${timeoutMs} ms (is user code blocking its event loop?)`));
      }, timeoutMs);
      const settle = <A>(fn: (a: A) => void) => (a: A) => {
        clearTimeout(timer);
        fn(a);
      };
      child.rpcs.set(id, { resolve: settle(resolve as (value: unknown) => void), reject: settle(reject) });
      child.send({ t: "rpc", id, method, params });
    });
  }

  checkRequirements(requirements: string[]): Promise<RequirementCheck[]> {
    return this.rpc("check_requirements", { requirements });
  }

  async invalidateImportCaches(): Promise<void> {
    await this.rpc("invalidate_import_caches");
  }

  /** GPU memory as torch in the child sees it (`source: null` when torch is not loaded). */
  gpuMemory(): Promise<Record<string, unknown>> {
    return this.rpc("gpu_memory");
  }

  /** One frame to the child and back, with no user code: the floor that benchmarks compare calls against. */
  echo<T extends Record<string, unknown>>(params: T): Promise<T> {
    return this.rpc("echo", params);
  }

  ping(): Promise<{ pong: boolean; calls: number; instances: number }> {
    return this.rpc("ping");
  }

  /** Kills the child at once (its calls answer WorkerProcessDied); a new one starts. */
  restartChild(reason: string): void {
    const child = this.child;
    if (!child?.alive) return;
    this.logger.warn({ reason }, "restarting the Python child");
    child.killedByWorker = true;
    child.kill();
  }

  /** Stops the child: closes its input so it exits on its own, then kills it if it lingers. */
  async stop(timeoutMs = 5_000): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child?.alive) return;
    const exited = new Promise<void>((resolve) => child.process.once("exit", () => resolve()));
    child.input.end();
    const timer = setTimeout(() => child.kill(), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}

function toOutcome(response: Record<string, unknown>, valuesAsBytes: boolean): CallOutcome {
  const { json_result_text, ...rest } = response;
  const outcome = rest as unknown as CallOutcome;
  if (typeof json_result_text === "string") outcome.json_result = JSON.parse(json_result_text);
  if (rest.result instanceof Uint8Array) {
    if (valuesAsBytes) {
      outcome.result_bytes = rest.result;
      delete outcome.result;
    } else outcome.result = bytesToBase64(rest.result);
  }
  return outcome;
}

/*
 * Serialized values are base64 text on the wire (the job is JSON) but bytes between the worker
 * and its child: Node's native base64 is several times faster than Python's, and a 64 MB array
 * then crosses the pipe once, as bytes, instead of as 89 MB of text to transcode.
 */

function bytesToBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** Strict base64: Node's decoder skips characters it does not know, which shows as a length mismatch. */
function fromBase64(text: string): Buffer | undefined {
  if (text.length % 4 !== 0) return undefined;
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const bytes = Buffer.from(text, "base64");
  return bytes.length === (text.length / 4) * 3 - padding ? bytes : undefined;
}

type DecodedJob = { job: Record<string, unknown> } | { error: string };

/** The job as the child gets it: each cloudpickle / msgpack argument as bytes. */
function decodeArguments(job: EngineJob): DecodedJob {
  if (job.serialization_format === "json") return { job: job as unknown as Record<string, unknown> };
  let error: string | undefined;
  const bytes = (item: unknown, path: string): unknown => {
    if (typeof item !== "string") return item; // the child explains what it expected
    const decoded = fromBase64(item);
    if (!decoded) error ??= `${path}: not valid base64`;
    return decoded ?? item;
  };
  const list = (items: unknown[], field: string) => items.map((item, i) => bytes(item, `${field}[${i}]`));
  const map = (values: Record<string, unknown>, field: string) =>
    Object.fromEntries(Object.entries(values).map(([key, item]) => [key, bytes(item, `${field}.${key}`)]));
  const out = {
    ...job,
    args: list(job.args, "args"),
    kwargs: map(job.kwargs, "kwargs"),
    constructor_args: list(job.constructor_args, "constructor_args"),
    constructor_kwargs: map(job.constructor_kwargs, "constructor_kwargs"),
  };
  return error ? { error } : { job: out };
}

function describeExit(code: number | null, signal: NodeJS.Signals | null, stderrTail: string[]): string {
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  const lines = stderrTail.filter((l) => l.trim());
  // faulthandler's report starts with "Fatal Python error: <signal name>"; from there it explains the crash.
  const fatal = lines.findLastIndex((l) => l.startsWith("Fatal Python error"));
  const tail = fatal >= 0 ? lines.slice(fatal, fatal + 16) : lines.slice(-12);
  return tail.length ? `the Python process ${how}. Last lines of its stderr:\n${tail.join("\n")}` : `the Python process ${how}`;
}

function deathOutcome(call: PendingCall, code: number | null, signal: NodeJS.Signals | null, child: Child, graceMs: number): CallOutcome {
  const lost = "Class instances held by this worker were lost; a new Python process has started.";
  if (call.cancel) {
    return {
      success: false,
      error_type: call.cancel.reason,
      error: `${call.cancel.message}. The call did not stop within ${graceMs} ms of its interrupt, so the Python process was replaced. ${lost}`,
      stdout: "",
      details: { instances_lost: true, child_killed: true },
    };
  }
  let hint = "";
  if (signal === "SIGKILL" && !child.killedByWorker) {
    hint = " SIGKILL from outside the worker usually means the kernel's out-of-memory killer: the process used more memory than the machine allows.";
  } else if (signal === "SIGSEGV" || signal === "SIGABRT" || signal === "SIGBUS") {
    hint = " A crash signal usually comes from native code (a C extension, a driver).";
  }
  return {
    success: false,
    error_type: ErrorType.WorkerProcessDied,
    error: `The Python process died while running this call: ${describeExit(code, signal, child.stderrTail)}${hint ? `\n${hint.trim()}` : ""}\n${lost}`,
    stdout: "",
    details: { exit_code: code, signal, instances_lost: true, stderr_tail: child.stderrTail.slice(-12) },
  };
}
