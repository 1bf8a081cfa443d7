/**
 * `.with({ validate: true })` end to end: functions and a class from a module `ferry types`
 * generated, called through the local endpoint server and its real worker. A result (or a
 * streamed value) that does not match its Python annotation fails with the path and the
 * expected type; one that matches comes back unchanged.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, configure, LiveServerless, remote, ResultValidationError } from "../../sdk/index.ts";
import { startLocalServer, type LocalServer } from "../../sdk/local-server/server.ts";
import type { PythonModule } from "../../sdk/python-module.ts";
import { generateTypes } from "../../sdk/python-types/generate.ts";

const PY = `
from dataclasses import dataclass
from typing import Iterator, Optional, TypedDict


class Stats(TypedDict):
    count: int
    mean: float
    tags: list[str]


@dataclass
class Point:
    x: float
    y: float
    label: Optional[str] = None


def good() -> Stats:
    return {"count": 3, "mean": 2.5, "tags": ["a"], "extra": True}


def wrong_type() -> Stats:
    return {"count": "three", "mean": 2.5, "tags": []}


def missing_key() -> Stats:
    return {"count": 3, "tags": []}


def deep() -> list[Stats]:
    return [{"count": 1, "mean": 1.0, "tags": []}, {"count": 2, "mean": 2.0, "tags": ["x", 7]}]


def point() -> Point:
    return Point(1.5, -2.0)


def tokens(n: int) -> Iterator[str]:
    for i in range(n):
        yield i if i == 2 else f"t{i}"


class Account:
    def __init__(self, owner: str):
        self.owner = owner

    def owner_name(self) -> str:
        return self.owner

    def balance(self) -> float:
        return "lots"
`;

let server: LocalServer;
let dir: string;
let checks: PythonModule;
const py = remote(new LiveServerless({ name: "types-validate", workersMax: 1, idleTimeout: 300 }));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ferry-validate-"));
  writeFileSync(join(dir, "checks.py"), PY);
  const report = await generateTypes([dir]);
  expect(report.failures).toEqual([]);
  checks = (await import(pathToFileURL(join(dir, "checks.ferry.js")).href)).default as PythonModule;
  server = await startLocalServer({ stateDir: join(dir, "state"), persistEndpoints: false });
  await configure({ localUrl: server.url, stateDir: join(dir, "state"), quiet: true, onLog: false });
}, 120_000);

afterAll(async () => {
  await configure({ quiet: true });
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("validate: true", () => {
  it("a result that matches its annotation comes back unchanged (extra keys too)", async () => {
    const good = py.fromFile(checks, "good").with({ validate: true });
    expect(await good()).toEqual({ count: 3, mean: 2.5, tags: ["a"], extra: true });
  }, 120_000);

  it("a wrong type names the path, the expected type and what came", async () => {
    const call = py.fromFile(checks, "wrong_type").with({ validate: true })();
    await expect(call).rejects.toBeInstanceOf(ResultValidationError);
    await expect(py.fromFile(checks, "wrong_type").with({ validate: true })()).rejects.toThrow(
      'wrong_type: result.count: expected number | bigint (Python int), got string "three"',
    );
    // Without validate the same call resolves with what Python sent.
    expect(await py.fromFile(checks, "wrong_type")()).toMatchObject({ count: "three" });
  }, 60_000);

  it("a missing key and a nested element are named by their path", async () => {
    await expect(py.fromFile(checks, "missing_key").with({ validate: true })()).rejects.toThrow("missing_key: result.mean: expected number (Python float), got undefined");
    await expect(py.fromFile(checks, "deep").with({ validate: true })()).rejects.toThrow("deep: result[1].tags[1]: expected string (Python str), got number");
  }, 60_000);

  it("a dataclass result arrives as an object of its fields and validates", async () => {
    expect(await py.fromFile(checks, "point").with({ validate: true })()).toEqual({ x: 1.5, y: -2, label: null });
  }, 60_000);

  it("each streamed value is checked against the yield type", async () => {
    const seen: unknown[] = [];
    const stream = py.fromFile(checks, "tokens").with({ validate: true }).stream(4);
    await expect(
      (async () => {
        for await (const token of stream) seen.push(token);
      })(),
    ).rejects.toThrow("tokens: yield[2]: expected string (Python str), got number");
    expect(seen).toEqual(["t0", "t1"]);
    await expect(py.fromFile(checks, "tokens").with({ validate: true })(4)).rejects.toThrow("tokens: result[2]: expected string (Python str), got number");
  }, 60_000);

  it("methods of a class from a generated module are checked too", async () => {
    const account = await py.classFromFile(checks, "Account").with({ validate: true }).create("ada");
    expect(await account.method("owner_name")()).toBe("ada");
    await expect(account.method("balance")()).rejects.toThrow('Account.balance: result: expected number (Python float), got string "lots"');
  }, 60_000);

  it("needs annotations: inline code and unknown names are refused when defined", () => {
    expect(() => py.function("def f():\n    return 1\n", "f").with({ validate: true })).toThrow(ConfigError);
    expect(() => py.function("def f():\n    return 1\n", "f").with({ validate: true })).toThrow(/no annotations to check against/);
    expect(() => py.fromFile(checks, "nope" as "good")).toThrow(/has no function nope \(functions: good, wrong_type, missing_key, deep, point, tokens\)/);
  });
});
