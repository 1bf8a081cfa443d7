/**
 * The parts of `make image-check` that need no buildah: naming the Dockerfile line of a failed
 * build from buildah's own output (recorded from real failed builds in fixtures/), the
 * deliberate breaks' insertion, and what of a fixture's output must match inside and outside
 * an image. The check itself (scripts/image-check/) runs as `make image-check`.
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { locateBuildFailure } from "../../scripts/image-check/build-failure.ts";
import { insertIntoBuildStage } from "../../scripts/image-check/deliberate-breaks.ts";
import { outputDifferences } from "../../scripts/image-check/fixture-compare.ts";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const recorded = (name: string) => readFileSync(join(here, "fixtures", name), "utf8");

describe("locateBuildFailure", () => {
  it("names the failed RUN's line in a multi-stage file", () => {
    const dockerfile = "FROM node:22-bookworm-slim AS build\nWORKDIR /src\nRUN test -e /nothing\n\nFROM scratch\nCOPY --from=build /src/x /x\n";
    expect(locateBuildFailure(dockerfile, recorded("buildah-run-failure.txt"))).toEqual({ line: 3, step: "RUN test -e /nothing", reason: "exit status 1" });
  });

  it("names the failed COPY's line in a one-stage file (no [stage] prefix)", () => {
    const dockerfile = "# a comment\nFROM node:22-bookworm-slim AS build\n\nWORKDIR /src\nCOPY no-such-path ./\n";
    const failure = locateBuildFailure(dockerfile, recorded("buildah-copy-failure.txt"));
    expect(failure?.line).toBe(5);
    expect(failure?.reason).toMatch(/no such file or directory/);
  });

  it("counts continued lines and comments as the Dockerfile does", () => {
    const dockerfile = "FROM a AS one\nRUN true\n\nFROM b AS two\n# why\nRUN echo x \\\n && echo y\nRUN false\n";
    const output = "[1/2] STEP 1/2: FROM a AS one\n[1/2] STEP 2/2: RUN true\n[2/2] STEP 1/3: FROM b AS two\n[2/2] STEP 2/3: RUN echo x  && echo y\n[2/2] STEP 3/3: RUN false\nError: building at STEP \"RUN false\": exit status 1\n";
    expect(locateBuildFailure(dockerfile, output)?.line).toBe(8);
  });

  it("answers undefined for output that is not a failed step", () => {
    expect(locateBuildFailure("FROM a\n", "Successfully tagged x\n")).toBeUndefined();
  });
});

describe("insertIntoBuildStage", () => {
  it("puts the broken instruction right after the build stage's WORKDIR of each Dockerfile", () => {
    for (const name of ["Dockerfile", "Dockerfile.cpu"]) {
      const text = readFileSync(join(root, name), "utf8");
      const broken = insertIntoBuildStage(text, "RUN false");
      const lines = broken.text.split("\n");
      expect(lines[broken.line - 1]).toBe("RUN false");
      expect(lines[broken.line - 2]).toBe("WORKDIR /src");
      expect(lines.length).toBe(text.split("\n").length + 1);
    }
  });
});

describe("outputDifferences", () => {
  const output = {
    success: true,
    json_result: 115,
    stdout: "",
    instance_id: "Accumulator_1a2b3c4d",
    instance_info: { class_name: "Accumulator", created_at: "2026-01-01T00:00:00Z", last_used: "2026-01-01T00:00:01Z", method_calls: 1 },
    timings: { total_ms: 10 },
    details: { worker: { hostname: "a" } },
  };

  it("ignores timings, worker details, timestamps and generated instance ids", () => {
    const other = {
      ...output,
      instance_id: "Accumulator_99999999",
      instance_info: { ...output.instance_info, created_at: "2027-01-01T00:00:00Z", last_used: "2027-01-01T00:00:00Z" },
      timings: { total_ms: 99 },
      details: { worker: { hostname: "b" } },
    };
    expect(outputDifferences(output, other)).toEqual([]);
  });

  it("names every other difference", () => {
    expect(outputDifferences(output, { ...output, json_result: 116, stdout: "x", instance_id: "mine" })).toEqual(["instance_id", "json_result", "stdout"]);
    expect(outputDifferences(output, undefined)).toEqual(["output"]);
  });
});
