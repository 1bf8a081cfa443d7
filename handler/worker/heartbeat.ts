/**
 * The heartbeat: every RUNPOD_PING_INTERVAL ms, GET the ping URL with the ids of the jobs in
 * progress. It runs on a thread of its own, so that the worker's synchronous work (parsing a
 * 100 MB job document, a handler that blocks) cannot stop it and get the worker declared lost;
 * runpod-python pings from a separate process for the same reason.
 *
 * The main thread builds the ping URL whenever the set of jobs changes and hands it over; the
 * thread pings the latest one. Failures are reported back and logged, never fatal. The next
 * ping is scheduled after the previous one settles, so a slow server cannot pile pings up.
 * Stopping ends the thread at once.
 */
import { Worker } from "node:worker_threads";
import type { Logger } from "../../protocol/logger.ts";
import { pingUrl } from "./url-templates.ts";

export interface HeartbeatOptions {
  template: string;
  workerId: string;
  /** Sent raw in `Authorization`, as RunPod's workers do. */
  apiKey: string;
  intervalMs: number;
  version: string;
  logger: Logger;
}

export interface Heartbeat {
  /** The jobs in progress changed: later pings carry these ids. */
  setJobIds(ids: readonly string[]): void;
  stop(): Promise<void>;
}

/** The thread's code: plain JavaScript with only Node's own modules, so it runs from source and from the bundle alike. */
const THREAD_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const http = require("node:http");
const https = require("node:https");
const agents = { "http:": new http.Agent({ keepAlive: true }), "https:": new https.Agent({ keepAlive: true }) };
let url = workerData.url;
let timer;
function ping() {
  return new Promise((resolve) => {
    let target;
    try {
      target = new URL(url);
    } catch (error) {
      parentPort.postMessage({ kind: "error", detail: "invalid ping URL: " + error.message });
      return resolve();
    }
    const client = target.protocol === "https:" ? https : http;
    const req = client.request(target, { method: "GET", headers: workerData.headers, agent: agents[target.protocol] }, (res) => {
      res.resume();
      res.on("end", () => {
        if (res.statusCode < 200 || res.statusCode >= 300) parentPort.postMessage({ kind: "status", status: res.statusCode });
        resolve();
      });
      res.on("error", () => resolve());
    });
    req.setTimeout(workerData.timeoutMs, () => req.destroy(new Error("no answer in " + workerData.timeoutMs + " ms")));
    req.on("error", (error) => {
      parentPort.postMessage({ kind: "error", detail: error.message });
      resolve();
    });
    req.end();
  });
}
async function tick() {
  await ping();
  timer = setTimeout(tick, workerData.intervalMs);
}
parentPort.on("message", (message) => {
  if (typeof message.url === "string") url = message.url;
});
tick();
`;

type ThreadMessage = { kind: "status"; status: number } | { kind: "error"; detail: string };

export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  const { logger } = options;
  const urlFor = (ids: readonly string[]) => pingUrl(options.template, options.workerId, ids, options.version);
  const thread = new Worker(THREAD_SOURCE, {
    eval: true,
    workerData: { url: urlFor([]), headers: { Authorization: options.apiKey }, intervalMs: options.intervalMs, timeoutMs: options.intervalMs * 2 },
  });
  // The heartbeat alone must not keep the worker running.
  thread.unref();
  let stopped: Promise<void> | undefined;
  thread.on("message", (message: ThreadMessage) => {
    if (stopped) return;
    if (message.kind === "status") logger.warn({ status: message.status }, "heartbeat answered with an error");
    else logger.warn({ detail: message.detail }, "heartbeat failed");
  });
  thread.on("error", (error) => logger.error({ err: error.message }, "the heartbeat thread failed"));
  return {
    setJobIds(ids) {
      if (!stopped) thread.postMessage({ url: urlFor(ids) });
    },
    stop() {
      // Ends the thread at once, a ping in flight with it.
      stopped ??= thread.terminate().then(() => undefined);
      return stopped;
    },
  };
}
