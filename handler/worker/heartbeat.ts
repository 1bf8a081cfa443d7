/**
 * The heartbeat: every RUNPOD_PING_INTERVAL ms, GET the ping URL with the ids of the jobs in
 * progress. Failures are logged, never fatal. The next ping is scheduled after the previous one
 * settles, so a slow server cannot pile pings up.
 */
import type { Logger } from "../../protocol/logger.ts";
import type { RunpodHttp } from "./http.ts";
import { pingUrl } from "./url-templates.ts";

export interface HeartbeatOptions {
  http: RunpodHttp;
  template: string;
  workerId: string;
  intervalMs: number;
  version: string;
  jobIds: () => string[];
  logger: Logger;
}

export interface Heartbeat {
  stop(): Promise<void>;
}

export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  const { http, logger } = options;
  const stopController = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();

  const ping = async () => {
    const url = pingUrl(options.template, options.workerId, options.jobIds(), options.version);
    try {
      const res = await http.get(url, stopController.signal, options.intervalMs * 2);
      if (!res.ok) logger.warn({ status: res.status }, "heartbeat answered with an error");
    } catch (error) {
      if (!stopController.signal.aborted) logger.warn({ detail: error instanceof Error ? error.message : String(error) }, "heartbeat failed");
    }
  };

  const tick = () => {
    inFlight = ping().then(() => {
      if (!stopController.signal.aborted) timer = setTimeout(tick, options.intervalMs);
    });
  };
  tick();

  return {
    async stop() {
      stopController.abort();
      if (timer) clearTimeout(timer);
      await inFlight;
    },
  };
}
