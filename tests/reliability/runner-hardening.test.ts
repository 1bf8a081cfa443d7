// What user code can do to the Python child's protocol and output capture: close the protocol
// fds (the child went deaf: every later job hung), write a forged frame to fd 4 (it completed
// another call), print 80,000 `\r` progress updates (quadratic: 123 s, nothing streamed), and
// print a token where the line limit cuts it (half the token was shown unredacted).
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { PythonEngine } from "../../handler/engine/python-engine.ts";
import type { JobHandler } from "../../handler/worker/types.ts";
import { fn, HEALTHY, newEngine, newHandler, runJob } from "../helpers/engine.ts";
import { within } from "./helpers.ts";

let engine: PythonEngine;
let handler: JobHandler;

beforeAll(async () => {
  engine = newEngine();
  await engine.start();
  handler = newHandler(engine);
});
afterAll(() => engine.stop());

describe("the protocol pipes are out of user code's reach", () => {
  it("user code closing fds 3 and 4 leaves the child answering", async () => {
    const closer = fn("def f():\n    import os\n    for fd in (3, 4):\n        try:\n            os.close(fd)\n        except OSError:\n            pass\n    return 'closed'");
    const { response } = await within(10_000, "the call that closes fds 3 and 4", runJob(handler, closer));
    expect(response).toMatchObject({ success: true, json_result: "closed" });
    const healthy = await within(10_000, "the next job", runJob(handler, HEALTHY));
    expect(healthy.response).toMatchObject({ success: true, json_result: 42 });
  });

  it("a frame forged on fd 4 cannot complete another call", async () => {
    const slow = runJob(handler, fn("import time\ndef f():\n    time.sleep(1.5)\n    return 'real'"));
    const forger = fn(
      "import os, struct, msgpack\ndef f():\n    sent = 0\n    for i in range(1, 500):\n" +
        "        body = msgpack.packb({'t': 'result', 'id': i, 'response': {'success': True, 'json_result_text': '\"forged\"', 'stdout': ''}})\n" +
        "        try:\n            os.write(4, struct.pack('>I', len(body)) + body)\n            sent += 1\n        except OSError:\n            pass\n    return sent",
    );
    const forged = await runJob(handler, forger);
    // fd 4 is /dev/null now (or closed, after the test above): the writes go nowhere.
    expect(forged.response).toMatchObject({ success: true });
    expect((await slow).response).toMatchObject({ success: true, json_result: "real" });
  });
});

describe("output capture", () => {
  it("80,000 `\\r` progress writes take time linear in their size and stream as they come", { timeout: 120_000 }, async () => {
    const started = performance.now();
    const { response, logs } = await within(
      90_000,
      "80,000 carriage-return writes",
      runJob(handler, fn("import sys\ndef f():\n    for i in range(80000):\n        sys.stdout.write(f'\\rprogress {i}')\n    return 'done'")),
    );
    const elapsedMs = performance.now() - started;
    // Lines that queue up while the stream is read are merged into one item, joined by "\n".
    const lines = logs.join("\n").split("\n");
    console.log(`80,000 \\r writes: ${Math.round(elapsedMs)} ms, ${lines.length} live lines`);
    expect(response).toMatchObject({ success: true, json_result: "done" });
    // 123 s before; a few seconds now, more on a loaded machine.
    expect(elapsedMs).toBeLessThan(60_000);
    expect(lines.length).toBe(80_000);
    expect(lines.at(-1)).toBe("progress 79999");
  });

  it("a token that a line limit would cut is redacted before the line is clipped", async () => {
    const token = "hf_cutmarker_0123456789abcdefghij";
    vi.stubEnv("HF_TOKEN", token);
    try {
      const { logs, response } = await runJob(handler, fn(`def f():\n    print('x' * 8180 + '${token}' + 'y' * 100)\n    return 1`));
      expect(response).toMatchObject({ success: true });
      const line = logs.find((l) => l.startsWith("xxxx"))!;
      expect(line.length).toBeLessThanOrEqual(8192 + " [line truncated]".length);
      expect(line).not.toContain("hf_cut");
      expect(line).toContain("[redacted]");
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe("error text", () => {
  it("a token that the error limits would cut is redacted before the error is clipped", async () => {
    const token = "hf_errmarker_0123456789abcdefghij";
    vi.stubEnv("HF_TOKEN", token);
    try {
      // The line limit keeps 250 characters at each end: "ValueError: " and 228 x put the token 10 characters before the first cut.
      const { response } = await runJob(handler, fn(`def f():\n    raise ValueError('x' * 228 + '${token}' + 'y' * 1000)`));
      expect(response).toMatchObject({ success: false, error_type: "ValueError" });
      const error = response.error!;
      expect(error).not.toContain("hf_err");
      expect(error).toContain("ValueError: " + "x".repeat(228) + "[redacted] [... ");
      expect(error).toContain("characters cut");
      for (const line of error.split("\n")) expect(line.length).toBeLessThanOrEqual(500 + "  [... 99999 characters cut ...]".length);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("a token where the child bounds an enormous line for the pipe is never shown", async () => {
    const token = "hf_pipemarker_0123456789abcdefghij";
    vi.stubEnv("HF_TOKEN", token);
    try {
      // The child keeps 32,768 characters at each end of a line: this token straddles that cut.
      const { response } = await runJob(handler, fn(`def f():\n    raise ValueError('x' * 32746 + '${token}' + 'y' * 100000)`));
      expect(response).toMatchObject({ success: false, error_type: "ValueError" });
      expect(response.error).not.toContain("hf_pipe");
      expect(response.error!.length).toBeLessThanOrEqual(8192 + 100);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("an enormous error keeps its two ends within the limit", async () => {
    const { response } = await runJob(handler, fn("def f():\n    raise ValueError('start' + 'z' * 5_000_000 + 'end')"));
    expect(response).toMatchObject({ success: false, error_type: "ValueError" });
    expect(response.error!.length).toBeLessThanOrEqual(8192 + 100);
    expect(response.error).toContain("ValueError: start");
    expect(response.error).toMatch(/characters cut/);
    expect(response.error).toContain("end')");
  });
});

describe("a user's own KeyboardInterrupt", () => {
  it("is reported as the user exception it is, message kept, not as Cancelled", async () => {
    const { response } = await runJob(handler, fn("def f():\n    raise KeyboardInterrupt('stop from user code')"));
    expect(response).toMatchObject({ success: false, error_type: "KeyboardInterrupt" });
    expect(response.error).toContain("stop from user code");
    expect((await runJob(handler, HEALTHY)).response).toMatchObject({ success: true, json_result: 42 });
  });
});
