/**
 * Just enough of the Dockerfile and .dockerignore grammars for the image tests: instructions
 * with line continuations and comments, build stages, COPY/ADD with their flags, and Docker's
 * ignore-file matching (last matching pattern wins, `!` lets a path back in, a path is left
 * out when it or a parent directory is).
 */

export interface Instruction {
  keyword: string;
  /** The text after the keyword, continuations joined. */
  args: string;
  line: number;
}

export interface CopyInstruction {
  keyword: "COPY" | "ADD";
  flags: Record<string, string | true>;
  sources: string[];
  destination: string;
  line: number;
}

export interface Stage {
  /** FROM's image reference with the global ARG defaults substituted. */
  image: string;
  name: string | null;
  /** Line of the stage's FROM. */
  fromLine: number;
  instructions: Instruction[];
  copies: CopyInstruction[];
  workdir: string | null;
}

export interface ParsedDockerfile {
  globalArgs: Record<string, string>;
  stages: Stage[];
}

export function parseInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  let pending: string[] = [];
  let startLine = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? "";
    const trimmed = raw.trim();
    // Comment lines are dropped, also in the middle of a continued instruction.
    if (trimmed.startsWith("#")) continue;
    if (pending.length === 0) {
      if (trimmed === "") continue;
      startLine = i + 1;
    }
    if (trimmed.endsWith("\\")) {
      pending.push(trimmed.slice(0, -1).trim());
      continue;
    }
    pending.push(trimmed);
    const joined = pending.filter((p) => p !== "").join(" ");
    pending = [];
    const match = /^(\S+)\s*(.*)$/.exec(joined);
    if (match) out.push({ keyword: (match[1] ?? "").toUpperCase(), args: match[2] ?? "", line: startLine });
  }
  return out;
}

function substitute(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, a?: string, b?: string) => vars[(a ?? b) as string] ?? whole);
}

function parseCopy(instruction: Instruction): CopyInstruction {
  const words = instruction.args.split(/\s+/).filter((w) => w !== "");
  const flags: Record<string, string | true> = {};
  while (words[0]?.startsWith("--")) {
    const word = words.shift() as string;
    const eq = word.indexOf("=");
    if (eq === -1) flags[word.slice(2)] = true;
    else flags[word.slice(2, eq)] = word.slice(eq + 1);
  }
  const rest = words.join(" ");
  const paths = rest.startsWith("[") ? (JSON.parse(rest) as string[]) : words;
  return {
    keyword: instruction.keyword as "COPY" | "ADD",
    flags,
    sources: paths.slice(0, -1),
    destination: paths[paths.length - 1] ?? "",
    line: instruction.line,
  };
}

export function parseDockerfile(text: string): ParsedDockerfile {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const instruction of parseInstructions(text)) {
    const current = stages[stages.length - 1];
    if (instruction.keyword === "ARG" && !current) {
      const [name, value] = instruction.args.split("=", 2);
      if (name) globalArgs[name.trim()] = (value ?? "").trim();
      continue;
    }
    if (instruction.keyword === "FROM") {
      const words = instruction.args.split(/\s+/).filter((w) => !w.startsWith("--platform"));
      const asAt = words.findIndex((w) => w.toUpperCase() === "AS");
      stages.push({
        image: substitute(words[0] ?? "", globalArgs),
        name: asAt >= 0 ? (words[asAt + 1] ?? null) : null,
        fromLine: instruction.line,
        instructions: [],
        copies: [],
        workdir: null,
      });
      continue;
    }
    if (!current) continue;
    current.instructions.push(instruction);
    if (instruction.keyword === "WORKDIR") current.workdir = instruction.args.trim();
    if (instruction.keyword === "COPY" || instruction.keyword === "ADD") current.copies.push(parseCopy(instruction));
  }
  return { globalArgs, stages };
}

interface IgnoreRule {
  negate: boolean;
  regex: RegExp;
}

function patternToRegex(pattern: string): RegExp {
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === "*" && pattern[i + 1] === "*") {
      // `**/` matches any number of directories, none included.
      if (pattern[i + 2] === "/") {
        out += "(?:.*/)?";
        i += 2;
      } else {
        out += ".*";
        i += 1;
      }
    } else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else out += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

export function parseDockerignore(text: string): IgnoreRule[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const negate = l.startsWith("!");
      const body = (negate ? l.slice(1) : l).trim().replace(/^\/+/, "").replace(/\/+$/, "");
      return { negate, regex: patternToRegex(body) };
    });
}

/** Whether the build context leaves out `path` (relative to the context, `/`-separated). */
export function isIgnored(rules: IgnoreRule[], path: string): boolean {
  const clean = path.replace(/^\.\//, "").replace(/\/+$/, "");
  const parts = clean.split("/");
  let ignored = false;
  for (const rule of rules) {
    // A pattern matches the path itself or any directory above it.
    let hit = false;
    for (let n = 1; n <= parts.length && !hit; n++) hit = rule.regex.test(parts.slice(0, n).join("/"));
    if (hit) ignored = !rule.negate;
  }
  return ignored;
}
