/**
 * Worker processes of each endpoint: real `node dist/handler.mjs` processes (or an injected
 * command) given RunPod's environment, between `workersMin` and `workersMax` of them, more when
 * jobs queue up and fewer after `idleTimeout` seconds idle. Their output is kept per worker and
 * handed on line by line; a process that dies has its jobs re-queued through the sessions.
 *
 * Each worker leads its own process group (spawned detached), which holds its Python child and
 * anything else it starts in its group: a kill is sent to the whole group, so nothing the worker
 * started outlives it. Being detached, workers no longer get the terminal's Ctrl-C or hang-up,
 * so the process hooks below stop them when the server's process ends.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Logger } from "../../protocol/logger.ts";
import { envProblems } from "../../protocol/request-rules.ts";
import type { EndpointConfig, EndpointRegistry } from "./endpoint-registry.ts";
import type { JobStore } from "./job-store.ts";
import { startFailureError } from "./start-failure.ts";
import { runpodWorkerVariables, type IssuedWorker, type WorkerIdentities } from "./worker-identity.ts";
import type { WorkerSessions, WorkerState } from "./worker-sessions.ts";

export interface WorkerOutputLine {
  endpointId: string;
  endpointName: string;
  worker: string;
  podId: string;
  stream: "stdout" | "stderr";
  line: string;
}

export interface WorkerInfo {
  podId: string;
  name: string;
  endpointId: string;
  pid: number | undefined;
  state: WorkerState | "stopping" | "exited";
  startedAt: number;
  exitCode: number | null | undefined;
  signal: NodeJS.Signals | null | undefined;
  /** The last lines the worker wrote (stdout and stderr, in order). */
  output: string[];
}

export interface WorkerManagerOptions {
  registry: EndpointRegistry;
  store: JobStore;
  sessions: WorkerSessions;
  logger: Logger;
  workerCommand: readonly string[];
  /** The server's base URL as workers reach it, e.g. http://127.0.0.1:8765. */
  serverUrl: () => string;
  /** Absolute; each endpoint's venv is `<stateDir>/endpoints/<id>/venv`. */
  stateDir: string;
  /** Issues each started worker its pod id and key (RUNPOD_POD_ID, RUNPOD_AI_API_KEY). */
  identities: WorkerIdentities;
  pingIntervalMs: number;
  cwd: string;
  /** The environment workers start from, read at each start (so a corrected FERRY_PYTHON reaches the next worker). */
  baseEnv: () => NodeJS.ProcessEnv;
  outputLines?: number;
  onOutput?: (line: WorkerOutputLine) => void;
  /** How long a stopped worker may take to finish its jobs before it is killed. */
  stopGraceMs?: number;
}

interface ManagedWorker {
  podId: string;
  name: string;
  endpointId: string;
  child: ChildProcess;
  startedAt: number;
  stopping: boolean;
  exited: boolean;
  exitCode: number | null | undefined;
  signal: NodeJS.Signals | null | undefined;
  output: string[];
  exitPromise: Promise<void>;
  killTimer: NodeJS.Timeout | undefined;
}

/** Variables describing a RunPod identity: the server sets its own, never the user's shell's. */
const RUNPOD_IDENTITY_VARS = [
  "RUNPOD_API_KEY",
  "RUNPOD_AI_API_KEY",
  "RUNPOD_WEBHOOK_GET_JOB",
  "RUNPOD_WEBHOOK_POST_OUTPUT",
  "RUNPOD_WEBHOOK_POST_STREAM",
  "RUNPOD_WEBHOOK_PING",
  "RUNPOD_POD_ID",
  "RUNPOD_ENDPOINT_ID",
  "RUNPOD_PING_INTERVAL",
  "RUNPOD_POD_HOSTNAME",
];

const MAX_START_BACKOFF_MS = 30_000;

/** Process groups exist on POSIX only; elsewhere a worker is spawned and killed as one process. */
const GROUPS = process.platform !== "win32";

/**
 * Sends `signal` to the worker's process group (or to the worker alone where there are no
 * groups). A group already gone (ESRCH) is fine; anything else is returned for the caller to log.
 */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): Error | undefined {
  const pid = child.pid;
  if (pid === undefined) return undefined;
  if (!GROUPS) {
    child.kill(signal);
    return undefined;
  }
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") return err as Error;
  }
  return undefined;
}

/**
 * Managers with workers, and the process hooks that kill their groups when this process ends.
 * One set of hooks for all managers, so that "is anyone else handling this signal" is answered
 * about the embedding program, not about other managers.
 */
const activeManagers = new Set<WorkerManager>();
const HANGUP_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

function killAllManagedGroups(): void {
  for (const manager of activeManagers) manager.killAll();
}

/**
 * A signal that would end this process by its default action (nobody else listens) would leave
 * the detached workers running: kill them, then let the signal do what it would have done.
 * When the program handles the signal itself, it decides; if it then exits, the exit hook runs.
 */
function onProcessSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  killAllManagedGroups();
  removeProcessHooks();
  process.kill(process.pid, signal);
}

let hooksInstalled = false;
function installProcessHooks(): void {
  if (hooksInstalled || !GROUPS) return;
  hooksInstalled = true;
  process.on("exit", killAllManagedGroups);
  for (const signal of HANGUP_SIGNALS) process.on(signal, onProcessSignal);
}

function removeProcessHooks(): void {
  if (!hooksInstalled) return;
  hooksInstalled = false;
  process.off("exit", killAllManagedGroups);
  for (const signal of HANGUP_SIGNALS) process.off(signal, onProcessSignal);
}

function detachWorker(child: ChildProcess): void {
  child.unref();
  (child.stdout as { unref?: () => void } | null)?.unref?.();
  (child.stderr as { unref?: () => void } | null)?.unref?.();
  (child.stdio[3] as { unref?: () => void } | null)?.unref?.();
}

export class WorkerManager {
  private readonly workers = new Map<string, ManagedWorker>();
  private readonly exited: ManagedWorker[] = [];
  private readonly sequence = new Map<string, number>();
  private readonly startFailures = new Map<string, { count: number; until: number }>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly scheduled = new Set<string>();
  private closed = false;
  /** Set by `unref()`: worker processes no longer keep the embedding process alive. */
  private detached = false;
  private readonly outputLines: number;
  private readonly stopGraceMs: number;

  constructor(private readonly options: WorkerManagerOptions) {
    this.outputLines = options.outputLines ?? 500;
    this.stopGraceMs = options.stopGraceMs ?? 10_000;
    options.store.onChange((endpointId) => this.schedule(endpointId));
    options.registry.onChange((change) => {
      if (change.kind === "deleted") {
        const endpointId = change.endpoint.id;
        options.store.dropEndpoint(endpointId);
        const workers = [...this.workers.values()].filter((w) => w.endpointId === endpointId);
        for (const worker of workers) if (!worker.stopping && !worker.exited) this.stop(worker, "endpoint deleted");
        // The endpoint's folder (its venv) goes once no worker of it can still be using it.
        void Promise.all(workers.map((w) => w.exitPromise)).then(() =>
          rmSync(join(this.options.stateDir, "endpoints", endpointId), { recursive: true, force: true }),
        );
        return;
      }
      if (change.kind === "updated" && change.previous && workerSetupChanged(change.previous, change.endpoint)) {
        // New env or template: current workers finish what they hold and make way for new ones.
        for (const worker of this.liveWorkers(change.endpoint.id)) this.stop(worker, "endpoint template changed");
      }
      this.schedule(change.endpoint.id);
    });
  }

  /**
   * Lets the embedding process exit while workers run (the SDK's in-process server): worker
   * processes and their pipes stop counting as work. The process hooks kill their groups when
   * the process exits or dies of a signal it does not handle.
   */
  unref(): void {
    if (this.detached) return;
    this.detached = true;
    for (const worker of this.workers.values()) detachWorker(worker.child);
  }

  /** Kills every worker's process group now, without a grace period (second Ctrl-C, exit). */
  killAll(): void {
    for (const worker of this.workers.values()) {
      if (worker.exited) continue;
      worker.stopping = true;
      if (worker.killTimer) clearTimeout(worker.killTimer);
      this.signalGroup(worker, "SIGKILL");
    }
  }

  /** Starts what each known endpoint needs (its `workersMin`). */
  start(): void {
    for (const endpoint of this.options.registry.list()) this.schedule(endpoint.id);
  }

  list(endpointId?: string): WorkerInfo[] {
    const all = [...this.exited, ...this.workers.values()];
    return all
      .filter((w) => endpointId === undefined || w.endpointId === endpointId)
      .map((w) => {
        const session = this.options.sessions.get(w.podId);
        const state: WorkerInfo["state"] = w.exited ? "exited" : w.stopping ? "stopping" : session ? this.options.sessions.state(session) : "initializing";
        return {
          podId: w.podId,
          name: w.name,
          endpointId: w.endpointId,
          pid: w.child.pid,
          state,
          startedAt: w.startedAt,
          exitCode: w.exitCode,
          signal: w.signal,
          output: [...w.output],
        };
      });
  }

  /** Stops a worker gracefully (it finishes its jobs), e.g. when it asked for `stopPod`. */
  stopWorker(podId: string, reason: string): void {
    const worker = this.workers.get(podId);
    if (worker) this.stop(worker, reason);
  }

  /**
   * Stops a worker declared lost (it stopped pinging); its jobs were already released. It gets
   * the same SIGTERM and grace period as any stop, so that it can end what it started in other
   * process groups (pip and apt installs), and then its group is killed. One already stopping
   * keeps the deadline it has.
   */
  killWorker(podId: string, reason = "lost"): void {
    const worker = this.workers.get(podId);
    if (worker && !worker.stopping) this.stop(worker, reason);
  }

  async close(graceMs = 5000): Promise<void> {
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    const all = [...this.workers.values()];
    // Whoever awaits close() must be kept alive until the workers are gone, unref'd or not.
    for (const worker of all) worker.child.ref();
    for (const worker of all) this.stop(worker, "server closing", graceMs);
    await Promise.all(all.map((w) => w.exitPromise));
    activeManagers.delete(this);
    if (activeManagers.size === 0) removeProcessHooks();
  }

  // ---------------------------------------------------------------------------------------

  private liveWorkers(endpointId: string): ManagedWorker[] {
    return [...this.workers.values()].filter((w) => w.endpointId === endpointId && !w.stopping && !w.exited);
  }

  /** Coalesces the many job events of one tick into one scaling decision per endpoint. */
  private schedule(endpointId: string): void {
    if (this.closed || this.scheduled.has(endpointId)) return;
    this.scheduled.add(endpointId);
    setImmediate(() => {
      this.scheduled.delete(endpointId);
      if (!this.closed) this.reconcile(endpointId);
    });
  }

  private reconcile(endpointId: string): void {
    const endpoint = this.options.registry.get(endpointId);
    const pendingTimer = this.timers.get(endpointId);
    if (pendingTimer) {
      clearTimeout(pendingTimer);
      this.timers.delete(endpointId);
    }
    if (!endpoint) return;
    const now = Date.now();
    const counts = this.options.store.counts(endpointId);
    const perWorker = endpoint.scalerType === "REQUEST_COUNT" ? Math.max(1, endpoint.scalerValue) : 1;
    const wanted = Math.ceil((counts.inQueue + counts.inProgress) / perWorker);
    const desired = Math.min(endpoint.workersMax, Math.max(endpoint.workersMin, wanted));
    const live = this.liveWorkers(endpointId);
    let nextCheck = Infinity;

    if (live.length < desired) {
      const failures = this.startFailures.get(endpointId);
      if (failures && failures.until > now) {
        nextCheck = failures.until;
      } else {
        for (let i = live.length; i < desired; i++) this.spawnWorker(endpoint);
      }
    } else if (live.length > desired) {
      let surplus = live.length - Math.max(endpoint.workersMin, desired);
      const idleMs = endpoint.idleTimeout * 1000;
      for (const worker of live) {
        if (surplus <= 0) break;
        const session = this.options.sessions.get(worker.podId);
        if (!session || session.firstContactAt === undefined) continue;
        const idleSince = this.options.store.workerIdleSince(worker.podId);
        if (idleSince === undefined) continue;
        if (idleSince + idleMs <= now) {
          this.stop(worker, `idle for ${endpoint.idleTimeout} s`);
          surplus--;
        } else {
          nextCheck = Math.min(nextCheck, idleSince + idleMs);
        }
      }
    }
    if (nextCheck !== Infinity) {
      const timer = setTimeout(() => {
        this.timers.delete(endpointId);
        this.reconcile(endpointId);
      }, Math.max(10, nextCheck - now + 5));
      timer.unref();
      this.timers.set(endpointId, timer);
    }
  }

  private workerEnv(endpoint: EndpointConfig, worker: IssuedWorker): NodeJS.ProcessEnv {
    const base: NodeJS.ProcessEnv = { ...this.options.baseEnv() };
    for (const name of RUNPOD_IDENTITY_VARS) delete base[name];
    const templateEnv = Object.fromEntries(endpoint.template.env.map((e) => [e.key, e.value]));
    const endpointDir = join(this.options.stateDir, "endpoints", endpoint.id);
    return {
      ...base,
      ...templateEnv,
      ...runpodWorkerVariables(this.options.serverUrl(), worker, this.options.pingIntervalMs),
      RUNPOD_POD_HOSTNAME: hostname(),
      FERRY_VENV: join(endpointDir, "venv"),
      FERRY_PARENT_PIPE_FD: "3",
    };
  }

  private spawnWorker(endpoint: EndpointConfig): void {
    const seq = (this.sequence.get(endpoint.id) ?? 0) + 1;
    this.sequence.set(endpoint.id, seq);
    const identity = this.options.identities.issue(endpoint.id);
    const podId = identity.podId;
    const name = `worker-${seq}`;
    mkdirSync(join(this.options.stateDir, "endpoints", endpoint.id), { recursive: true });
    const [command, ...args] = this.options.workerCommand;
    if (!command) throw new Error("workerCommand is empty");
    // An endpoint saved before the request rules existed can hold a value no process can
    // receive: its start fails like any other failed start (logged, retried with backoff).
    const refused = envProblems(Object.fromEntries(endpoint.template.env.map((e) => [e.key, e.value])))[0];
    let child: ChildProcess;
    try {
      if (refused) throw new Error(`its ${refused.where} is refused: ${refused.reason}`);
      child = spawn(command, args, {
        cwd: this.options.cwd,
        env: this.workerEnv(endpoint, identity),
        // fd 3: a pipe only this process writes to (never does): the worker exits when it closes.
        stdio: ["ignore", "pipe", "pipe", "pipe"],
        // Its own process group, shared with its Python child: one kill reaches both.
        detached: GROUPS,
      });
    } catch (err) {
      this.options.logger.error({ endpointId: endpoint.id, worker: name, err: (err as Error).message }, "worker could not start");
      this.startFailed(endpoint, name, `could not start (${(err as Error).message})`, []);
      this.schedule(endpoint.id);
      return;
    }
    this.options.sessions.register(podId, endpoint.id, name);
    activeManagers.add(this);
    installProcessHooks();
    let resolveExit!: () => void;
    const worker: ManagedWorker = {
      podId,
      name,
      endpointId: endpoint.id,
      child,
      startedAt: Date.now(),
      stopping: false,
      exited: false,
      exitCode: undefined,
      signal: undefined,
      output: [],
      exitPromise: new Promise((resolve) => (resolveExit = resolve)),
      killTimer: undefined,
    };
    this.workers.set(podId, worker);
    if (this.detached) detachWorker(child);
    this.options.logger.info({ endpointId: endpoint.id, worker: name, podId, pid: child.pid }, "worker started");

    const pipeLines = (stream: NodeJS.ReadableStream | null, kind: "stdout" | "stderr") => {
      if (!stream) return;
      createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => {
        worker.output.push(line);
        if (worker.output.length > this.outputLines) worker.output.splice(0, worker.output.length - this.outputLines);
        this.options.onOutput?.({ endpointId: endpoint.id, endpointName: endpoint.name, worker: name, podId, stream: kind, line });
      });
    };
    pipeLines(child.stdout, "stdout");
    pipeLines(child.stderr, "stderr");

    let pipesClosed = false;
    const afterClose: Array<() => void> = [];
    child.once("close", () => {
      pipesClosed = true;
      for (const run of afterClose.splice(0)) run();
    });
    const whenClosed = (run: () => void) => (pipesClosed ? run() : afterClose.push(run));

    let finished = false;
    const onGone = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (finished) return;
      finished = true;
      worker.exited = true;
      worker.exitCode = code;
      worker.signal = signal;
      if (worker.killTimer) clearTimeout(worker.killTimer);
      // Whatever the worker left in its group (a Python child still reading its pipe) goes too.
      if (!spawnError) this.signalGroup(worker, "SIGKILL");
      this.workers.delete(podId);
      this.exited.push(worker);
      if (this.exited.length > 50) this.exited.shift();
      const session = this.options.sessions.get(podId);
      const contacted = session?.firstContactAt !== undefined;
      const how = spawnError ? `could not start (${spawnError.message})` : signal ? `was killed by ${signal}` : `exited with code ${code}`;
      this.options.sessions.lost(podId, how, { processGone: true, expected: worker.stopping });
      this.options.identities.revoke(podId);
      const startFailure = !worker.stopping && !contacted;
      if (!worker.stopping) {
        const level = contacted ? "warn" : "error";
        this.options.logger[level](
          { endpointId: endpoint.id, worker: name, podId, code, signal, lastOutput: worker.output.slice(-20).join("\n") },
          `worker ${how}`,
        );
        // Its last words (the reason) are read once its pipes close, which follows the exit; the
        // endpoint is reconsidered only after its queued jobs are failed, or no new worker would
        // be started for jobs that are about to fail.
        if (startFailure) {
          const decide = () => {
            this.startFailed(endpoint, name, how, worker.output);
            this.schedule(endpoint.id);
          };
          if (spawnError) decide();
          else whenClosed(decide);
        }
      } else {
        this.options.logger.info({ endpointId: endpoint.id, worker: name, podId, code, signal }, "worker stopped");
      }
      if (contacted) this.startFailures.delete(endpoint.id);
      resolveExit();
      if (!startFailure) this.schedule(endpoint.id);
    };
    child.on("exit", (code, signal) => onGone(code, signal));
    child.on("error", (err) => {
      if (child.pid === undefined) onGone(null, null, err);
    });
  }

  /**
   * A worker died before it took a job. While no worker of the endpoint has reached the server,
   * nothing would run its queued jobs: they fail now, with the worker's output and the fix,
   * rather than wait through restarts. With no jobs left waiting, restarts back off instead.
   */
  private startFailed(endpoint: EndpointConfig, worker: string, how: string, output: readonly string[]): void {
    const othersReady = this.liveWorkers(endpoint.id).some((w) => this.options.sessions.get(w.podId)?.firstContactAt !== undefined);
    const failed = othersReady ? 0 : this.options.store.failQueued(endpoint.id, startFailureError({ endpointName: endpoint.name || endpoint.id, worker, how, output }));
    if (failed === 0) this.noteStartFailure(endpoint.id);
  }

  private noteStartFailure(endpointId: string): void {
    const previous = this.startFailures.get(endpointId)?.count ?? 0;
    const count = previous + 1;
    const delayMs = Math.min(MAX_START_BACKOFF_MS, 500 * 2 ** (count - 1));
    this.startFailures.set(endpointId, { count, until: Date.now() + delayMs });
  }

  private stop(worker: ManagedWorker, reason: string, graceMs = this.stopGraceMs): void {
    if (worker.exited) return;
    if (!worker.stopping) {
      worker.stopping = true;
      this.options.sessions.drain(worker.podId);
      this.options.logger.info({ endpointId: worker.endpointId, worker: worker.name, podId: worker.podId, reason }, "stopping worker");
      // SIGTERM to the worker alone: it stops gracefully and stops its Python child itself once
      // its jobs are done. The Python runner does not handle SIGTERM, so a group-wide SIGTERM
      // would kill it in the middle of the jobs the grace period is for.
      worker.child.kill("SIGTERM");
    }
    if (worker.killTimer) clearTimeout(worker.killTimer);
    worker.killTimer = setTimeout(() => this.signalGroup(worker, "SIGKILL"), graceMs);
    worker.killTimer.unref();
  }

  private signalGroup(worker: ManagedWorker, signal: NodeJS.Signals): void {
    const err = signalGroup(worker.child, signal);
    if (err) this.options.logger.warn({ err, endpointId: worker.endpointId, worker: worker.name, podId: worker.podId, signal }, "could not signal the worker's process group");
  }
}

function workerSetupChanged(previous: EndpointConfig, next: EndpointConfig): boolean {
  return JSON.stringify(previous.template.env) !== JSON.stringify(next.template.env) || previous.templateId !== next.templateId;
}
