/**
 * Worker processes of each endpoint: real `node dist/handler.mjs` processes (or an injected
 * command) given RunPod's environment, between `workersMin` and `workersMax` of them, more when
 * jobs queue up and fewer after `idleTimeout` seconds idle. Their output is kept per worker and
 * handed on line by line; a process that dies has its jobs re-queued through the sessions.
 *
 * Each worker leads its own process group, so a kill reaches everything it started; the process
 * hooks of `process-groups.ts` kill the groups when the server's process ends. How many workers
 * an endpoint wants is `worker-scaling.ts`; how a worker process is started and read is
 * `worker-process.ts`.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { LocalBlobFolder } from "../../protocol/blob-ref.ts";
import type { Logger } from "../../protocol/logger.ts";
import { envProblems } from "../../protocol/request-rules.ts";
import type { EndpointConfig, EndpointRegistry } from "./endpoint-registry.ts";
import type { JobStore } from "./job-store.ts";
import { startFailureError } from "./start-failure.ts";
import { detachWorker, signalGroup, unwatchGroups, watchGroups } from "./process-groups.ts";
import { StartBackoff } from "./start-backoff.ts";
import { workerEnv, workerSetupChanged } from "./worker-env.ts";
import { afterPipesClose, managedWorker, readOutputLines, spawnWorkerProcess, type ManagedWorker } from "./worker-process.ts";
import type { WorkerIdentities } from "./worker-identity.ts";
import { planScaling } from "./worker-scaling.ts";
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
  /** The blob folder and its URLs' prefix, which workers reach directly (handler/blobs/blob-transfers.ts). */
  blobFolder: () => LocalBlobFolder;
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

export class WorkerManager {
  private readonly workers = new Map<string, ManagedWorker>();
  private readonly exited: ManagedWorker[] = [];
  private readonly sequence = new Map<string, number>();
  private readonly startBackoff = new StartBackoff();
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
    unwatchGroups(this);
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
    const { start, stop, nextCheck } = planScaling({
      endpoint,
      counts: this.options.store.counts(endpointId),
      live: this.liveWorkers(endpointId),
      startsBlockedUntil: this.startBackoff.blockedUntil(endpointId, now),
      idleSince: (worker) => {
        const session = this.options.sessions.get(worker.podId);
        if (!session || session.firstContactAt === undefined) return undefined;
        return this.options.store.workerIdleSince(worker.podId);
      },
      now,
    });
    for (let i = 0; i < start; i++) this.spawnWorker(endpoint);
    for (const worker of stop) this.stop(worker, `idle for ${endpoint.idleTimeout} s`);
    if (nextCheck !== Infinity) {
      const timer = setTimeout(() => {
        this.timers.delete(endpointId);
        this.reconcile(endpointId);
      }, Math.max(10, nextCheck - now + 5));
      timer.unref();
      this.timers.set(endpointId, timer);
    }
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
      const env = workerEnv(endpoint, identity, {
        baseEnv: this.options.baseEnv(),
        serverUrl: this.options.serverUrl(),
        endpointDir: join(this.options.stateDir, "endpoints", endpoint.id),
        pingIntervalMs: this.options.pingIntervalMs,
        blobFolder: this.options.blobFolder(),
      });
      child = spawnWorkerProcess(command, args, this.options.cwd, env);
    } catch (err) {
      this.options.logger.error({ endpointId: endpoint.id, worker: name, err: (err as Error).message }, "worker could not start");
      this.startFailed(endpoint, name, `could not start (${(err as Error).message})`, []);
      this.schedule(endpoint.id);
      return;
    }
    this.options.sessions.register(podId, endpoint.id, name);
    watchGroups(this);
    const worker = managedWorker(podId, name, endpoint.id, child);
    this.workers.set(podId, worker);
    if (this.detached) detachWorker(child);
    this.options.logger.info({ endpointId: endpoint.id, worker: name, podId, pid: child.pid }, "worker started");

    readOutputLines(worker, this.outputLines, (stream, line) =>
      this.options.onOutput?.({ endpointId: endpoint.id, endpointName: endpoint.name, worker: name, podId, stream, line }),
    );
    const whenClosed = afterPipesClose(child);

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
      if (contacted) this.startBackoff.clear(endpoint.id);
      worker.markExited();
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
    if (failed === 0) this.startBackoff.noteFailure(endpoint.id);
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
