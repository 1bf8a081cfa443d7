/**
 * The Python execution engine: one persistent Python child (handler/python/runner.py) and the
 * calls in flight on it.
 *
 * The child lives as long as the worker so that imported modules, loaded models and class
 * instances persist between jobs. Calls and their answers travel as frames over fds 3 and 4
 * (python-child.ts). When the child dies, every call on it is answered (never left hanging)
 * and a new child starts at once.
 */
import { ErrorType } from "../../protocol/error-types.ts";
import { EventEmitter } from "node:events";
import type { Logger } from "../../protocol/logger.ts";
import { silentLogger } from "../../protocol/logger.ts";
import { childEnvironment } from "../child-environment.ts";
import { bytesToBase64, deathOutcome, decodeArguments, toOutcome } from "./call-outcomes.ts";
import type { CallOptions, CallOutcome, CancelReason, ChildInfo, EngineJob, EngineOptions, LiveLogLine, RequirementCheck } from "./engine-types.ts";
import { detachLargeBytes, type Frame } from "./frames.ts";
import { describeExit, pythonSourcePath, spawnPythonChild, type Child, type PendingCall } from "./python-child.ts";

export type { CallOptions, CallOutcome, ChildInfo, EngineJob, EngineOptions, LiveLogLine, RequirementCheck } from "./engine-types.ts";
export { pythonSourcePath } from "./python-child.ts";

const RPC_TIMEOUT_MS = 30_000;

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
    return spawnPythonChild({
      python: this.python,
      runnerPath: this.runnerPath,
      env: this.env,
      logger: this.logger,
      startTimeoutMs: this.startTimeoutMs,
      onFrame: (child, frame) => this.onFrame(child, frame),
      onExit: (child, code, signal) => this.onChildExit(child, code, signal),
    });
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
    const id = this.nextId++;
    const outcome = this.pending(child, id, job.serialization_format, options);
    try {
      const { job: framed, attachments } = detachLargeBytes(decoded.job);
      child.send({ t: "call", id, job: framed, attachments: attachments.map((a) => a.byteLength) }, attachments, options.onArgumentsSent);
    } catch (error) {
      // A value MessagePack cannot encode (nesting deeper than its stack) fails this call only.
      const call = child.calls.get(id);
      if (call) this.finish(child, call, { success: false, error_type: ErrorType.DeserializationError, error: `The call could not be sent to Python: ${(error as Error).message}`, stdout: "" });
    }
    return outcome;
  }

  /**
   * A call registered with the child, answered by its result frame, its cancel, its timeout or
   * the child's death. Its closures hold the call's options and id, never its arguments: those
   * are the child's once written, and go when the pipe has taken them.
   */
  private pending(child: Child, id: number, format: EngineJob["serialization_format"], options: CallOptions): Promise<CallOutcome> {
    return new Promise<CallOutcome>((resolve) => {
      // The abort reason says why: a timeout enforced upstream stays a Timeout, not a cancel.
      const onAbort = () => {
        const reason = options.signal?.reason as { name?: unknown; message?: unknown } | undefined;
        const message = typeof reason?.message === "string" && reason.message ? reason.message : "Cancelled by request";
        this.cancel(child, id, reason?.name === "Timeout" ? ErrorType.Timeout : ErrorType.Cancelled, message);
      };
      const call: PendingCall = {
        id,
        format,
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
