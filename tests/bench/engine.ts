/**
 * Figure group 1 (issues 2 and 6): a warm no-op Python call through the engine, schema
 * validation included, beside a bare MessagePack echo over the same pipes; the same through
 * Ferry's handler; and streaming from a tight Python generator beside pipelined echoes.
 */
import type { EngineJob } from "../../handler/engine/python-engine.ts";
import { parseFunctionRequest } from "../../protocol/wire.ts";
import type { BenchGroup } from "./lib/figures.ts";
import { assertSuccess, ferryHandler, jsonJob, NOOP_JOB, runHandlerJob, startEngine } from "./lib/engine-jobs.ts";
import { fmt, sample, samplePair, summarize } from "./lib/stats.ts";

const GOAL_3X = "p50 ≤ 3× the echo floor";

export const engineGroup: BenchGroup = {
  key: "engine",
  title: "Engine: warm no-op call vs MessagePack echo; streaming",
  budgetMs: 45_000,
  figures: [
    { id: "engine.call", name: "Warm no-op call: parseFunctionRequest + PythonEngine.call", goal: GOAL_3X },
    { id: "engine.handler", name: "Warm no-op job through Ferry's handler (createFerryHandler)", goal: GOAL_3X },
    { id: "engine.stream", name: "Streaming: values/s from a Python generator to the handler", goal: null },
  ],
  async run(ctx) {
    const engine = await startEngine(ctx);
    const handler = ferryHandler(engine);
    const iterations = ctx.quick ? 100 : 2_000;
    const budgetMs = ctx.quick ? 1_500 : 12_000;

    const echo = () => engine.echo({ x: 1 });
    const call = async () => {
      const parsed = parseFunctionRequest(NOOP_JOB);
      if (!parsed.ok) throw new Error(parsed.error);
      const outcome = await engine.call(parsed.request as unknown as EngineJob);
      assertSuccess(outcome, "no-op call");
    };
    const viaHandler = async () => assertSuccess(await runHandlerJob(handler, NOOP_JOB), "no-op job");

    // Each figure is paired run by run with its own echo samples, so both see the same noise.
    const callPair = await samplePair(call, echo, { warmup: 50, iterations, budgetMs });
    const validate = await sample(
      async () => {
        if (!parseFunctionRequest(NOOP_JOB).ok) throw new Error("invalid");
      },
      { warmup: 200, iterations: ctx.quick ? 500 : 5_000, budgetMs: 500 },
    );
    const callStats = summarize(callPair.a);
    const echoStats = summarize(callPair.b);
    const validateStats = summarize(validate);
    const floor = { name: "bare MessagePack echo over the same pipes (engine.echo)", value: echoStats.p50, unit: "ms", stats: echoStats };
    const callRatio = callStats.p50 / echoStats.p50;
    ctx.report("engine.call", {
      value: callStats.p50,
      unit: "ms",
      stats: callStats,
      floor,
      met: callRatio <= 3,
      limit:
        `of the ${fmt(callStats.p50)} ms, schema validation takes ${fmt(validateStats.p50 * 1000)} µs (p50); the remaining ` +
        `${fmt(callStats.p50 - echoStats.p50 - validateStats.p50)} ms over the echo is the child's call path (decoding the job, ` +
        "capturing stdout/stderr/logging, running the function in a worker thread and encoding the response).",
    });

    const handlerPair = await samplePair(viaHandler, echo, { warmup: 50, iterations, budgetMs });
    const handlerStats = summarize(handlerPair.a);
    const echo2 = summarize(handlerPair.b);
    const handlerRatio = handlerStats.p50 / echo2.p50;
    ctx.report("engine.handler", {
      value: handlerStats.p50,
      unit: "ms",
      stats: handlerStats,
      floor: { ...floor, value: echo2.p50, stats: echo2 },
      met: handlerRatio <= 3,
      limit:
        `the handler adds ${fmt(handlerStats.p50 - callStats.p50)} ms (p50) over the bare engine call: the async generator and its stream ` +
        "queue, the response's timings and details, and redacting secrets from the response.",
    });

    // Streaming: a tight generator, values counted as they reach the handler's stream.
    const n = ctx.quick ? 2_000 : 20_000;
    const gen = jsonJob("def f(n):\n    for i in range(n):\n        yield i", [n]);
    const streamOnce = async () => {
      let values = 0;
      const t = performance.now();
      const response = await runHandlerJob(handler, gen, { onValue: () => (values += 1) });
      const ms = performance.now() - t;
      assertSuccess(response, "generator job");
      if (values !== n) throw new Error(`the generator yielded ${values} values to the handler, expected ${n}`);
      return (n / ms) * 1000;
    };
    const pipelinedEcho = async () => {
      const t = performance.now();
      await Promise.all(Array.from({ length: n }, (_, i) => engine.echo({ i })));
      return (n / (performance.now() - t)) * 1000;
    };
    await streamOnce();
    await pipelinedEcho();
    const rates: number[] = [];
    const echoRates: number[] = [];
    for (let i = 0; i < (ctx.quick ? 1 : 3); i++) {
      rates.push(await streamOnce());
      echoRates.push(await pipelinedEcho());
    }
    const rate = summarize(rates);
    const echoRate = summarize(echoRates);
    ctx.report("engine.stream", {
      value: rate.max,
      unit: "values/s",
      stats: rate,
      floor: { name: `${n} echo frames in flight at once (one frame each way per value)`, value: echoRate.max, unit: "frames/s", stats: echoRate },
      note: `best of ${rates.length} runs of ${n} values (each value is one yield frame from the child, one stream item in the handler).`,
    });
  },
};
