/**
 * Every figure against its floor as one SVG picture (bench-chart.svg beside BENCHMARKS.md):
 * one bar per figure, its length how many times the floor's cost it is (a time over its floor,
 * or a floor's rate over the figure's rate), on a log scale where the floor is the line at 1×.
 * Green: goal met; red: goal not met; grey: no goal. Figures with no floor or not measured are
 * listed under the bars.
 */
import type { Figure } from "./figures.ts";

const WIDTH = 980;
const LABEL_W = 430;
const ROW_H = 22;
const TOP = 56;
const BAR_LEFT = LABEL_W + 20;
const BAR_W = WIDTH - BAR_LEFT - 90;
/** The axis spans 10^MIN_EXP .. 10^MAX_EXP times the floor. */
const MIN_EXP = -1;
const MAX_EXP = 3;

const escapeXml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** Times the floor's cost: above 1 the figure is slower than its floor. */
export function costOverFloor(f: Figure): number | null {
  if (f.status !== "measured" || f.ratio === null || !Number.isFinite(f.ratio) || f.ratio <= 0) return null;
  return f.unit?.endsWith("/s") ? 1 / f.ratio : f.ratio;
}

/** 186×, 3.22×, 0.29×, 0.0042×: enough digits to tell small ratios apart. */
function formatTimes(times: number): string {
  if (times >= 10) return times.toFixed(0);
  if (times >= 0.1) return times.toFixed(2);
  return String(Number(times.toPrecision(2)));
}

function x(times: number): number {
  const exp = Math.min(MAX_EXP, Math.max(MIN_EXP, Math.log10(times)));
  return BAR_LEFT + ((exp - MIN_EXP) / (MAX_EXP - MIN_EXP)) * BAR_W;
}

function color(f: Figure): string {
  if (f.met === true) return "#2e9d57";
  if (f.met === false) return "#d1453b";
  return "#8a94a6";
}

export function renderChart(figures: Figure[], title: string): string {
  const charted = figures.filter((f) => costOverFloor(f) !== null);
  const listed = figures.filter((f) => costOverFloor(f) === null);
  const height = TOP + charted.length * ROW_H + 40 + (listed.length ? 24 + listed.length * 18 : 0);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="16" y="24" font-size="15" font-weight="600">${escapeXml(title)}</text>`);
  out.push(`<text x="16" y="42" fill="#555">Each figure as times its floor's cost (log scale; the floor is 1×). Green: goal met, red: not met, grey: no goal.</text>`);
  const axisBottom = TOP + charted.length * ROW_H;
  for (let exp = MIN_EXP; exp <= MAX_EXP; exp++) {
    const gx = x(10 ** exp);
    out.push(`<line x1="${gx}" y1="${TOP - 6}" x2="${gx}" y2="${axisBottom}" stroke="${exp === 0 ? "#333" : "#ddd"}" stroke-width="${exp === 0 ? 1.5 : 1}"/>`);
    out.push(`<text x="${gx}" y="${axisBottom + 16}" text-anchor="middle" fill="#555">${10 ** exp}×</text>`);
  }
  charted.forEach((f, i) => {
    const times = costOverFloor(f)!;
    const y = TOP + i * ROW_H;
    const from = x(1);
    const to = x(times);
    out.push(`<text x="${LABEL_W}" y="${y + 15}" text-anchor="end">${escapeXml(clip(f.name, 70))}</text>`);
    out.push(
      `<rect x="${Math.min(from, to)}" y="${y + 4}" width="${Math.max(2, Math.abs(to - from))}" height="${ROW_H - 8}" fill="${color(f)}"><title>${escapeXml(
        `${f.name}: ${f.value} ${f.unit} vs floor ${f.floor?.value} ${f.floor?.unit} (${f.floor?.name ?? ""})${f.goal ? `; goal ${f.goal}` : ""}`,
      )}</title></rect>`,
    );
    out.push(`<text x="${Math.max(from, to) + 6}" y="${y + 15}" fill="#333">${formatTimes(times)}×</text>`);
  });
  if (listed.length) {
    let y = axisBottom + 44;
    out.push(`<text x="16" y="${y}" font-weight="600">No floor to chart against, or not measured:</text>`);
    for (const f of listed) {
      y += 18;
      const what = f.status === "measured" ? `${f.value === null ? "—" : Number(f.value.toPrecision(4))} ${f.unit}${f.goal ? ` (goal ${f.goal}, ${f.met ? "met" : f.met === false ? "not met" : "—"})` : ""}` : `not measured: ${f.reason ?? ""}`;
      out.push(`<text x="24" y="${y}" fill="#555">${escapeXml(clip(`${f.name}: ${what}`, 150))}</text>`);
    }
  }
  out.push(`</svg>`);
  return `${out.join("\n")}\n`;
}
