// The benchmark chart: each figure's bar is its cost over its floor (rates inverted), coloured
// by its goal; figures without a floor or not measured are listed, not drawn.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { costOverFloor, renderChart } from "../bench/lib/chart.ts";
import { measuredFigure, unmeasuredFigure } from "../bench/lib/figures.ts";
import { writeReport, type RunReport } from "../bench/lib/report.ts";

const latency = measuredFigure("g", { id: "a", name: "call latency", goal: "p50 ≤ 2 ms" }, { value: 6, unit: "ms", floor: { name: "bare", value: 2, unit: "ms" }, met: false });
const rate = measuredFigure("g", { id: "b", name: "calls per second", goal: null }, { value: 50, unit: "calls/s", floor: { name: "raw", value: 200, unit: "calls/s" } });
const noFloor = measuredFigure("g", { id: "c", name: "memory <growth>", goal: null }, { value: 3, unit: "MiB" });
const missing = unmeasuredFigure("g", { id: "d", name: "gpu figure", goal: "fast" }, "not-measured", "no GPU here");

describe("bench chart", () => {
  it("measures each figure as times its floor's cost", () => {
    expect(costOverFloor(latency)).toBe(3);
    expect(costOverFloor(rate)).toBe(4);
    expect(costOverFloor(noFloor)).toBeNull();
    expect(costOverFloor(missing)).toBeNull();
  });

  it("draws a bar per figure with a floor, coloured by its goal, and lists the rest escaped", () => {
    const svg = renderChart([latency, rate, noFloor, missing], "run");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<rect x=/g)).toHaveLength(2);
    expect(svg).toContain('fill="#d1453b"'); // the unmet goal
    expect(svg).toContain("3.00×");
    expect(svg).toContain("4.00×");
    const tiny = measuredFigure("g", { id: "e", name: "memoized", goal: null }, { value: 0.05, unit: "ms", floor: { name: "f", value: 12, unit: "ms" } });
    expect(renderChart([tiny], "run")).toContain("0.0042×");
    expect(svg).toContain("memory &lt;growth&gt;: 3 MiB");
    expect(svg).toContain("gpu figure: not measured: no GPU here");
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
  });

  it("is written beside BENCHMARKS.md, which links it", () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-chart-"));
    try {
      const report: RunReport = {
        generatedAt: "2026-01-01T00:00:00Z",
        mode: "quick",
        durationMs: 1,
        machine: { cores: 2, cpuModel: "cpu", memoryMiB: 1, platform: "linux", node: "20", python: "3.11", pythonPath: "python", gpu: null, loadAverageAtStart: [0, 0, 0] },
        groupsSkipped: [],
        figures: [latency, rate],
      };
      writeReport(report, join(dir, "BENCHMARKS.md"), join(dir, "bench-results.json"));
      expect(readFileSync(join(dir, "BENCHMARKS.md"), "utf8")).toContain("![Every figure as times its floor's cost](bench-chart.svg)");
      expect(readFileSync(join(dir, "bench-chart.svg"), "utf8")).toContain("call latency");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
