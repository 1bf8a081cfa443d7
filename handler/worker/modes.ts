/**
 * Which of the worker's modes this start runs, decided once, in RunPod's order: local API
 * server, then a local test job, then the RunPod job loop.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { WorkerArgs } from "./args.ts";
import type { RunpodEnvironment } from "./config.ts";

export type ModeDecision =
  | { mode: "api" }
  | { mode: "test"; source: { kind: "argument"; text: string } | { kind: "file"; path: string } }
  | { mode: "worker"; getJobUrl: string }
  | { mode: "none"; reason: string };

const TEST_INPUT_FILE = "test_input.json";

export function decideMode(args: WorkerArgs, runpod: RunpodEnvironment, cwd: string): ModeDecision {
  if (args.serveApi) return { mode: "api" };
  if (args.testInput !== undefined) return { mode: "test", source: { kind: "argument", text: args.testInput } };
  if (runpod.getJobUrl === undefined) {
    const path = join(cwd, TEST_INPUT_FILE);
    if (existsSync(path)) return { mode: "test", source: { kind: "file", path } };
    return {
      mode: "none",
      reason:
        "RUNPOD_WEBHOOK_GET_JOB is not set, so this is not a RunPod worker; pass --test_input '<json>', " +
        `put a ${TEST_INPUT_FILE} in ${cwd}, or start the local API with --rp_serve_api`,
    };
  }
  return { mode: "worker", getJobUrl: runpod.getJobUrl };
}
