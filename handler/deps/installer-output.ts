/**
 * pip's, uv's and apt's output condensed to the lines a person reads while waiting: what is
 * fetched, installed and set up, retries (one short line each) and errors. Resolver chatter,
 * progress bars, "Reading package lists..." and "Requirement already satisfied" are dropped.
 */

/** Longest condensed line. */
const MAX_LINE_CHARS = 200;

const KEEP: [RegExp, (m: RegExpMatchArray) => string][] = [
  // pip
  [/^Collecting (\S+)/, (m) => `collecting ${m[1]}`],
  [/^\s*Downloading (?:\S*\/)?([^/\s]+\.(?:whl|tar\.gz|zip))(?: \(([^)]+)\))?/, (m) => `downloading ${m[1]}${m[2] ? ` (${m[2]})` : ""}`],
  [/^Installing collected packages: (.*)/, (m) => `installing ${m[1]}`],
  [/^Successfully installed (.*)/, (m) => `Successfully installed ${m[1]}`],
  [/^\s*Building wheel for (\S+)/, (m) => `building wheel for ${m[1]}`],
  [/^WARNING: Retrying \(Retry\(total=(\d+).*?\)\) after (.*)$/, (m) => `retrying (${m[1]} left): ${retryReason(m[2]!)}`],
  [/^(ERROR: .*)/, (m) => m[1]!],
  // uv
  [/^(Resolved \d+ packages? in \S+)/, (m) => m[1]!],
  [/^(Prepared \d+ packages? in \S+)/, (m) => m[1]!],
  [/^(Installed \d+ packages? in \S+)/, (m) => m[1]!],
  [/^ \+ (\S+)/, (m) => `+ ${m[1]}`],
  [/^(error: .*)/, (m) => m[1]!],
  // apt
  [/^Get:\d+ \S+ \S+ (?:\S+ )?(\S+) \S+ (\S+) \[([^\]]+)\]/, (m) => `fetching ${m[1]} ${m[2]} (${m[3]})`],
  [/^Unpacking (\S+)/, (m) => `unpacking ${m[1]}`],
  [/^Setting up (\S+)/, (m) => `setting up ${m[1]}`],
  [/^(E: .*)/, (m) => m[1]!],
];

/**
 * pip's retry warning names the failure deep inside a repr ("connection broken by
 * 'NewConnectionError(... [Errno 111] Connection refused')': /simple/torch/"): the errno text
 * and the path are what a person needs.
 */
function retryReason(text: string): string {
  const errno = text.match(/\[Errno -?\d+\] ([^'")]+)/)?.[1]?.trim();
  const path = text.match(/\)'?: (\/\S*)$/)?.[1];
  const what = errno ?? (/timed? ?out/i.test(text) ? "timed out" : text.split(" by ")[0]!.trim());
  return path ? `${what} (${path})` : what;
}

/** The readable form of one output line, or undefined when the line is noise. */
export function condenseInstallerLine(raw: string): string | undefined {
  const line = raw.replace(/\r/g, "").trimEnd();
  if (!line) return undefined;
  for (const [pattern, render] of KEEP) {
    const match = line.match(pattern);
    if (match) {
      const text = render(match);
      return text.length > MAX_LINE_CHARS ? `${text.slice(0, MAX_LINE_CHARS - 3)}...` : text;
    }
  }
  return undefined;
}
