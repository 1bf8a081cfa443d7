/**
 * Set-up for users: `ferry doctor` names the Python it would use and why and each miss with its
 * fix; `ferry setup` records a Python that has the runner's modules; the RunPod key is read from
 * RUNPOD_API_KEY, else from `runpod config`'s credentials file, and its source is named.
 * Real interpreters: the recorded runner Python, and a plain venv of it (no msgpack).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runnerPython } from "../../protocol/python-interpreter.ts";
import { findRunpodApiKey } from "../../sdk/credentials.ts";
import { formatDoctor, runDoctor } from "../../sdk/setup/doctor.ts";
import { runSetup } from "../../sdk/setup/setup.ts";
import { resolveTarget } from "../../sdk/target.ts";

const goodPython = runnerPython();
let dir: string;
let bare: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ferry-doctor-"));
  // A Python without msgpack on any machine: a venv that does not see the system's packages.
  execFileSync(goodPython, ["-m", "venv", "--without-pip", join(dir, "bare")]);
  bare = join(dir, "bare", "bin", "python");
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("ferry doctor", () => {
  it("all present: every needed check is ok and the Python's source is named", () => {
    const report = runDoctor({ env: { PATH: process.env.PATH, FERRY_PYTHON: goodPython }, cwd: dir });
    expect(report.ok).toBe(true);
    const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
    expect(byName["python"]).toMatchObject({ status: "ok", detail: expect.stringContaining("from FERRY_PYTHON") });
    expect(byName["runner modules"]).toMatchObject({ status: "ok" });
    expect(byName["node"]).toMatchObject({ status: "ok" });
    expect(byName["worker"]).toMatchObject({ status: "ok" });
    expect(byName["runpod key"]).toMatchObject({ status: "info", detail: expect.stringContaining("calls run on the local default") });
  });

  it("a Python without msgpack: the miss and its fix are on the screen, and ok is false", () => {
    const report = runDoctor({ env: { PATH: process.env.PATH, FERRY_PYTHON: bare }, cwd: dir });
    expect(report.ok).toBe(false);
    const text = formatDoctor(report);
    expect(text).toMatch(/MISS\s+runner modules\s+\S+ has no msgpack, cloudpickle/);
    expect(text).toContain(`fix: ${bare} -m pip install msgpack cloudpickle`);
  });

  it("a FERRY_PYTHON that does not exist is named as such", () => {
    const report = runDoctor({ env: { PATH: process.env.PATH, FERRY_PYTHON: join(dir, "nope") }, cwd: dir });
    expect(report.checks.find((c) => c.name === "python")).toMatchObject({ status: "missing", detail: expect.stringContaining("does not exist") });
  });
});

describe("ferry setup", () => {
  it("skips a python3 on PATH without msgpack and records one that has it", () => {
    const bin = join(dir, "path-bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "python3"), `#!/bin/sh\nexec ${bare} "$@"\n`, { mode: 0o755 });
    const project = join(dir, "project");
    mkdirSync(project);
    let out = "";
    const ok = runSetup({ env: { PATH: bin }, cwd: project, out: (t) => (out += t), allowApt: false });
    if (goodPython === "/usr/bin/python3") {
      expect(ok, out).toBe(true);
      expect(readFileSync(join(project, ".ferry", "python"), "utf8").trim()).toBe("/usr/bin/python3");
      // The worker's choice follows the record.
      expect(runnerPython({}, project)).toBe("/usr/bin/python3");
    } else {
      expect(out).toContain("python3 -m pip install msgpack cloudpickle");
    }
  });

  it("a FERRY_PYTHON without the modules is reported, not overridden", () => {
    let out = "";
    expect(runSetup({ env: { PATH: process.env.PATH, FERRY_PYTHON: bare }, cwd: dir, out: (t) => (out += t), allowApt: false })).toBe(false);
    expect(out).toContain("lacks msgpack or cloudpickle");
  });
});

describe("the RunPod key", () => {
  it("RUNPOD_API_KEY first, else [default] api_key of ~/.runpod/config.toml, and the source is named", () => {
    const home = join(dir, "home");
    mkdirSync(join(home, ".runpod"), { recursive: true });
    expect(findRunpodApiKey({ HOME: home })).toBeUndefined();
    writeFileSync(join(home, ".runpod", "config.toml"), '[default]\napi_key = "rp_from_file"\n');
    expect(findRunpodApiKey({ HOME: home })).toEqual({ apiKey: "rp_from_file", source: `${join(home, ".runpod", "config.toml")} ([default] api_key)` });
    expect(findRunpodApiKey({ HOME: home, RUNPOD_API_KEY: "rp_env" })).toEqual({ apiKey: "rp_env", source: "the RUNPOD_API_KEY environment variable" });
    expect(resolveTarget({ stateDir: dir }, { HOME: home })).toMatchObject({ kind: "runpod", apiKey: "rp_from_file", keySource: expect.stringContaining("config.toml") });
    writeFileSync(join(home, ".runpod", "config.toml"), "not toml [[[");
    expect(findRunpodApiKey({ HOME: home })).toBeUndefined();
  });
});
