/**
 * Local test mode (`--test_input '<json>'`, or `test_input.json` off RunPod): run one job
 * through the handler, log what it streams and returns, and answer the exit code RunPod users
 * expect: 1 when the input is unusable or the result carries a truthy `error`, else 0.
 * With `--test_output FILE`, the handler's final output (before `error` is popped) is written
 * there as JSON, for scripts that check results.
 */
import { readFile, writeFile } from "node:fs/promises";
import type { Logger } from "../../protocol/logger.ts";
import { executeJob } from "./run-job.ts";
import { errorBody, jobDoneBody, pythonTruthy, type ErrorOrigin, type JobDoneBody } from "./results.ts";
import type { JobHandler, RunpodJob } from "./types.ts";

const LOCAL_TEST_JOB_ID = "local_test";

export interface TestModeOptions {
  handler: JobHandler;
  source: { kind: "argument"; text: string } | { kind: "file"; path: string };
  testOutput?: string;
  logger: Logger;
  origin: ErrorOrigin;
  signal: AbortSignal;
}

type Loaded = { ok: true; job: RunpodJob } | { ok: false; message: string };

async function loadTestJob(source: TestModeOptions["source"]): Promise<Loaded> {
  const where = source.kind === "argument" ? "--test_input" : source.path;
  let text: string;
  if (source.kind === "argument") text = source.text;
  else {
    try {
      text = await readFile(source.path, "utf8");
    } catch (error) {
      return { ok: false, message: `cannot read ${where}: ${error instanceof Error ? error.message : String(error)}` };
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { ok: false, message: `${where} is not valid JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    return { ok: false, message: `${where} must be a JSON object like {"input": {...}}` };
  }
  const record = parsed as Record<string, unknown>;
  if (!("input" in record)) return { ok: false, message: `${where} has no "input": expected {"input": {...}}` };
  const id = typeof record.id === "string" && record.id !== "" ? record.id : LOCAL_TEST_JOB_ID;
  return { ok: true, job: { ...record, id, input: record.input } };
}

async function writeTestOutput(path: string, value: unknown, logger: Logger): Promise<boolean> {
  try {
    await writeFile(path, `${JSON.stringify(value ?? null, null, 2)}\n`, "utf8");
    return true;
  } catch (error) {
    logger.error({ path, err: error }, "cannot write --test_output");
    return false;
  }
}

/** Runs the test job; resolves with the process exit code. */
export async function runTestMode(options: TestModeOptions): Promise<number> {
  const { logger } = options;
  const loaded = await loadTestJob(options.source);
  if (!loaded.ok) {
    logger.error(loaded.message);
    return 1;
  }
  const job = loaded.job;
  const jobLogger = logger.child({ jobId: job.id });
  jobLogger.info({ source: options.source.kind === "file" ? options.source.path : "--test_input" }, "running the test job");

  const outcome = await executeJob(
    options.handler,
    job,
    { signal: options.signal, logger: jobLogger, workerId: options.origin.workerId },
    { aggregate: true, onYield: (value) => jobLogger.info({ output: value }, "streamed"), onProgress: (output) => jobLogger.info({ output }, "progress") },
  );

  let body: JobDoneBody;
  let written: unknown;
  if (outcome.kind === "returned") {
    body = jobDoneBody(outcome.output);
    written = outcome.output;
  } else {
    body = errorBody(outcome.error, options.origin);
    written = { error: body.error };
  }
  if (options.testOutput !== undefined && !(await writeTestOutput(options.testOutput, written, jobLogger))) return 1;

  if (pythonTruthy(body.error)) {
    jobLogger.error({ result: body }, "test job failed");
    return 1;
  }
  jobLogger.info({ result: body }, "test job result");
  jobLogger.info("local testing complete");
  return 0;
}
