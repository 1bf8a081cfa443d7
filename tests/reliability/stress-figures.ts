// Writes the figures of a `make stress` load run into README.md and docs/reliability.md,
// between their `<!-- stress:begin -->` / `<!-- stress:end -->` markers.
import { readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";

const BEGIN = "<!-- stress:begin -->";
const END = "<!-- stress:end -->";

function cell(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.replace(/\|/g, "\\|");
}

export function stressTable(figures: Record<string, unknown>, date = new Date()): string {
  const rows = Object.entries(figures).map(([key, value]) => `| ${key.replace(/_/g, " ")} | ${cell(value)} |`);
  return [
    `Last \`make stress\` load run: ${date.toISOString().slice(0, 10)}, ${cpus().length} cores, Node ${process.version}.`,
    "",
    "| figure | value |",
    "|---|---|",
    ...rows,
  ].join("\n");
}

export function writeStressFigures(figures: Record<string, unknown>, files = ["README.md", "docs/reliability.md"]): void {
  const table = stressTable(figures);
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    const begin = text.indexOf(BEGIN);
    const end = text.indexOf(END);
    if (begin < 0 || end < begin) continue;
    writeFileSync(file, `${text.slice(0, begin)}${BEGIN}\n${table}\n${text.slice(end)}`);
  }
}
