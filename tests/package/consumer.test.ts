/**
 * Ferry as a user gets it: `npm pack`, the tarball installed into a fresh project of its own
 * (npm fetches Ferry's dependencies from the registry), a strict NodeNext tsconfig with
 * `skipLibCheck: false`, zero tsc errors, and the compiled program run by plain `node` making
 * real calls on the local default (a function, a class method, a streamed generator, a
 * RemoteError, a function typed by `npx ferry types` from the project's own annotated Python) and
 * exiting by itself. The CLI runs from that project's node_modules. A typed misuse (a wrong
 * argument type, a misspelt option, a wrong argument to the generated signature) does not compile.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = resolve(".");
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");
let work: string;
let project: string;

const STRICT = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    exactOptionalPropertyTypes: true,
    noPropertyAccessFromIndexSignature: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: false,
    types: ["node"],
  },
};

const STATS_PY = `def scale(values: list[float], factor: float = 2.0) -> list[float]:
    return [v * factor for v in values]
`;

const APP = `import { CpuLiveServerless, remote, RemoteError } from "ferry";
import stats from "./stats.ferry.js";

const py = remote(new CpuLiveServerless({ name: "consumer", workersMax: 1 }));
const add = py.function<[a: number, b: number], number>("def add(a, b):\\n    return a + b\\n", "add");
console.log("function", await add(2, 3));

interface CounterApi {
  incr(by: number): number;
}
const Counter = py.class<CounterApi, [start: number]>("class Counter:\\n    def __init__(self, start):\\n        self.n = start\\n    def incr(self, by):\\n        self.n += by\\n        return self.n\\n", "Counter");
const counter = await Counter.create(10);
await counter.incr(1);
console.log("method", await counter.incr(2));

const count = py.function<[n: number], number[]>("def count(n):\\n    for i in range(n):\\n        yield i\\n", "count");
const seen: number[] = [];
for await (const value of count.stream(3)) seen.push(value);
console.log("stream", seen.join(","));

const boom = py.function<[], never>("def boom():\\n    raise ValueError('bad input')\\n", "boom");
try {
  await boom();
} catch (err) {
  if (err instanceof RemoteError) console.log("error", err.errorType, err.message);
}

const scale = py.fromFile(stats, "scale");
const scaled: number[] = await scale([1, 2], 3);
console.log("typed", scaled.join(","));
`;

const MISUSE = `import { CpuLiveServerless, remote } from "ferry";
import stats from "./stats.ferry.js";
const py = remote(new CpuLiveServerless({ name: "misuse", workerMax: 1 }));
const add = py.function<[a: number, b: number], number>("def add(a, b):\\n    return a + b\\n", "add");
await add("2", 3);
await py.fromFile(stats, "scale")(["1"]);
`;

async function npx(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return run("npx", ["--no-install", ...args], { cwd: project, env, timeout: 120_000 });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "ferry-consumer-"));
  project = join(work, "app");
  mkdirSync(project);
  // The whole package (the suite's global setup builds only the worker), then the tarball.
  await run(process.execPath, ["scripts/build-package.mjs", "--quiet", "--no-docs"], { cwd: ROOT, timeout: 300_000 });
  await run("npm", ["pack", "--ignore-scripts", "--pack-destination", work], { cwd: ROOT, timeout: 120_000 });
  const tarball = join(work, readdirSync(work).find((f) => f.endsWith(".tgz"))!);
  const typesNode = (JSON.parse(readFileSync(join(ROOT, "node_modules/@types/node/package.json"), "utf8")) as { version: string }).version;
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2));
  writeFileSync(join(project, "tsconfig.json"), JSON.stringify({ ...STRICT, include: ["app.ts"] }, null, 2));
  writeFileSync(join(project, "tsconfig.misuse.json"), JSON.stringify({ ...STRICT, compilerOptions: { ...STRICT.compilerOptions, noEmit: true }, include: ["misuse.ts"] }, null, 2));
  writeFileSync(join(project, "app.ts"), APP);
  writeFileSync(join(project, "misuse.ts"), MISUSE);
  writeFileSync(join(project, "stats.py"), STATS_PY);
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball, `@types/node@${typesNode}`], { cwd: project, timeout: 300_000 });
  // The project's own Python typed by the installed CLI: stats.ferry.d.ts + stats.ferry.js beside it.
  await npx(["ferry", "types", "stats.py"]);
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("a fresh TypeScript project that installs the packed tarball", () => {
  it("ships built JavaScript, declarations and the worker, and no sources or tests", () => {
    const pkg = join(project, "node_modules", "ferry");
    const files = readdirSync(pkg, { recursive: true }).map(String);
    for (const f of ["dist/sdk/index.js", "dist/sdk/index.d.ts", "dist/sdk/index.js.map", "dist/sdk/cli/main.js", "dist/handler.mjs", "dist/python/runner.py", "dist/python/ferry_runner/main.py", "dist/python/ferry_runner/values.py", "dist/python/_ferry_requirements.py", "dist/sdk/python-types/read_annotations.py"]) expect(files).toContain(f);
    expect(files.some((f) => f.startsWith("tests/") || f.startsWith("sdk/") || f.endsWith(".ts") && !f.endsWith(".d.ts"))).toBe(false);
  });

  it("tsc with a strict NodeNext tsconfig and skipLibCheck false: zero errors", async () => {
    const { stdout } = await run(process.execPath, [TSC, "-p", "tsconfig.json"], { cwd: project, timeout: 300_000 }).catch((e: { stdout?: string }) => {
      throw new Error(`tsc failed:\n${e.stdout ?? String(e)}`);
    });
    expect(stdout).toBe("");
  }, 300_000);

  it("a wrong argument type and a misspelt option do not compile", async () => {
    const failed = await run(process.execPath, [TSC, "-p", "tsconfig.misuse.json"], { cwd: project, timeout: 300_000 }).then(
      () => undefined,
      (e: { stdout?: string }) => e.stdout ?? "",
    );
    expect(failed, "misuse.ts compiled").toBeDefined();
    expect(failed).toMatch(/misuse\.ts\(3,\d+\): error TS2561: .*'workerMax'.*'workersMax'/);
    expect(failed).toMatch(/misuse\.ts\(5,\d+\): error TS2345: [\s\S]*Type 'string' is not assignable to type 'number'/);
    expect(failed).toMatch(/misuse\.ts\(6,\d+\): error TS23(22|45): [\s\S]*Type 'string' is not assignable to type 'number'/);
  }, 300_000);

  it("npx ferry --version, setup, doctor and ls --json run from the project", async () => {
    const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
    expect((await npx(["ferry", "--version"])).stdout.trim()).toBe(version);
    const env = { ...process.env };
    delete env.FERRY_PYTHON;
    delete env.RUNPOD_API_KEY;
    // setup records a Python with the runner's modules in the project's .ferry/python.
    const setup = await npx(["ferry", "setup", "--no-apt"], env);
    expect(setup.stdout).toMatch(/the runner's Python is \S+/);
    const doctor = await npx(["ferry", "doctor"], env);
    expect(doctor.stdout).toContain(join(project, "node_modules", "ferry", "dist", "handler.mjs"));
    expect(doctor.stdout).toContain("The local default has what it needs.");
    const ls = JSON.parse((await npx(["ferry", "ls", "--json"], env)).stdout) as { target: string; endpoints: unknown[] };
    expect(ls).toEqual({ target: "local", endpoints: [] });
  }, 300_000);

  it("the compiled program, run by plain node, makes real calls on the local default and exits by itself", async () => {
    const env = { ...process.env };
    delete env.FERRY_PYTHON;
    delete env.RUNPOD_API_KEY;
    const { stdout } = await run(process.execPath, ["app.js"], { cwd: project, env, timeout: 240_000 });
    expect(stdout.trim().split("\n")).toEqual(["function 5", "method 13", "stream 0,1,2", "error ValueError bad input", "typed 3,6"]);
  }, 300_000);
});
