// Local test mode (`--test_input`, test_input.json, `--test_output`) and the mode decision.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../protocol/logger.ts";
import { parseWorkerArgs } from "../../handler/worker/args.ts";
import { readRunpodEnvironment } from "../../handler/worker/config.ts";
import { decideMode } from "../../handler/worker/modes.ts";
import { startWorker, type JobHandler, type RunpodJob } from "../../handler/worker/start-worker.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ferry-test-mode-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function run(handler: JobHandler, argv: string[], env: NodeJS.ProcessEnv = {}) {
  let shutdowns = 0;
  const done = startWorker({ handler, argv, env, cwd: dir, logger: silentLogger(), handleSignals: false, onShutdown: () => void shutdowns++ });
  return done.then((exit) => ({ ...exit, shutdowns }));
}

describe("test mode", () => {
  it("runs the --test_input job with id local_test, writes --test_output, exits 0", async () => {
    const seen: RunpodJob[] = [];
    const out = join(dir, "out.json");
    const exit = await run(
      async (job) => {
        seen.push(job);
        return { doubled: (job.input as { x: number }).x * 2 };
      },
      ["--test_input", JSON.stringify({ input: { x: 21 } }), "--test_output", out],
    );
    expect(exit).toEqual({ mode: "test", exitCode: 0, shutdowns: 1 });
    expect(seen).toEqual([{ id: "local_test", input: { x: 21 } }]);
    expect(JSON.parse(readFileSync(out, "utf8"))).toEqual({ doubled: 42 });
  });

  it("keeps a given job id and accepts --flag=value", async () => {
    const ids: string[] = [];
    const exit = await run(async (job) => void ids.push(job.id), [`--test_input=${JSON.stringify({ id: "mine", input: null })}`]);
    expect(exit.exitCode).toBe(0);
    expect(ids).toEqual(["mine"]);
  });

  it("exits 1 when the result carries a truthy error, and --test_output has it before it is popped", async () => {
    const out = join(dir, "out.json");
    const exit = await run(async () => ({ success: false, error: "ValueError: no" }), ["--test_input", '{"input": {}}', "--test_output", out]);
    expect(exit.exitCode).toBe(1);
    expect(JSON.parse(readFileSync(out, "utf8"))).toEqual({ success: false, error: "ValueError: no" });
  });

  it("a falsy error is not a failure", async () => {
    const exit = await run(async () => ({ value: 1, error: "" }), ["--test_input", '{"input": {}}']);
    expect(exit.exitCode).toBe(0);
  });

  it("exits 1 when the handler throws; --test_output holds the error payload", async () => {
    const out = join(dir, "out.json");
    const exit = await run(
      async () => {
        throw new RangeError("out of range");
      },
      ["--test_input", '{"input": 1}', "--test_output", out],
    );
    expect(exit.exitCode).toBe(1);
    const written = JSON.parse(readFileSync(out, "utf8")) as { error: string };
    expect(JSON.parse(written.error)).toMatchObject({ error_type: "RangeError", error_message: "out of range" });
  });

  it("exits 1 without running the handler when input is missing or the JSON is bad", async () => {
    let calls = 0;
    const handler: JobHandler = async () => void calls++;
    expect((await run(handler, ["--test_input", '{"id": "x"}'])).exitCode).toBe(1);
    expect((await run(handler, ["--test_input", "{not json"])).exitCode).toBe(1);
    expect((await run(handler, ["--test_input", "[1]"])).exitCode).toBe(1);
    expect(calls).toBe(0);
  });

  it("a generator's return value is the output; without one, the aggregate of yielded values", async () => {
    const out = join(dir, "out.json");
    async function* returning() {
      yield 1;
      yield 2;
      return { success: true, result: "r" };
    }
    expect((await run(returning, ["--test_input", '{"input": {}}', "--test_output", out])).exitCode).toBe(0);
    expect(JSON.parse(readFileSync(out, "utf8"))).toEqual({ success: true, result: "r" });

    async function* plain() {
      yield "a";
      yield { b: 1 };
    }
    expect((await run(plain, ["--test_input", '{"input": {}}', "--test_output", out])).exitCode).toBe(0);
    expect(JSON.parse(readFileSync(out, "utf8"))).toEqual(["a", { b: 1 }]);
  });

  it("reads test_input.json from the working directory when not on RunPod", async () => {
    writeFileSync(join(dir, "test_input.json"), JSON.stringify({ input: { from: "file" } }));
    const inputs: unknown[] = [];
    const exit = await run(async (job) => void inputs.push(job.input), []);
    expect(exit.exitCode).toBe(0);
    expect(exit.mode).toBe("test");
    expect(inputs).toEqual([{ from: "file" }]);
  });

  it("with no mode to run, exits 1 and still calls onShutdown", async () => {
    const exit = await run(async () => 1, []);
    expect(exit).toEqual({ mode: "none", exitCode: 1, shutdowns: 1 });
  });
});

describe("mode decision", () => {
  const decide = (argv: string[], env: NodeJS.ProcessEnv, cwd: string) => decideMode(parseWorkerArgs(argv), readRunpodEnvironment(env), cwd);
  const onRunpod = { RUNPOD_WEBHOOK_GET_JOB: "http://127.0.0.1:1/v2/e/job-take/$RUNPOD_POD_ID" };

  it("--rp_serve_api first, then --test_input, then test_input.json off RunPod, then the worker loop", () => {
    writeFileSync(join(dir, "test_input.json"), '{"input": 1}');
    expect(decide(["--rp_serve_api", "--test_input", "{}"], onRunpod, dir).mode).toBe("api");
    expect(decide(["--test_input", "{}"], onRunpod, dir).mode).toBe("test");
    expect(decide([], {}, dir).mode).toBe("test");
    // On RunPod, a stray test_input.json in the image must not replace the job loop.
    expect(decide([], onRunpod, dir).mode).toBe("worker");
  });

  it("parses the local API flags with RunPod's defaults, binding 127.0.0.1", () => {
    expect(parseWorkerArgs(["--rp_serve_api"])).toMatchObject({ serveApi: true, apiPort: 8000, apiHost: "127.0.0.1" });
    expect(parseWorkerArgs(["--rp_serve_api", "--rp_api_port", "9001", "--rp_api_host", "0.0.0.0", "--rp_log_level", "DEBUG"])).toMatchObject({
      apiPort: 9001,
      apiHost: "0.0.0.0",
      logLevel: "DEBUG",
    });
    expect(() => parseWorkerArgs(["--rp_api_port", "http"])).toThrow(/port/);
    // Flags the caller owns pass through untouched.
    expect(parseWorkerArgs(["--check"]).serveApi).toBe(false);
  });
});
