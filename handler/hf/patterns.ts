/**
 * include / exclude file patterns with the meaning Python's huggingface_hub gives
 * `allow_patterns` / `ignore_patterns`: `fnmatch` on the repo-relative path (so `*` also
 * matches `/`), and a pattern ending in `/` means everything under that folder.
 */

export interface FileFilter {
  include?: readonly string[];
  exclude?: readonly string[];
}

function fnmatchToRegExp(pattern: string): RegExp {
  const full = pattern.endsWith("/") ? `${pattern}*` : pattern;
  let out = "";
  for (let i = 0; i < full.length; i++) {
    const c = full[i]!;
    if (c === "*") out += ".*";
    else if (c === "?") out += ".";
    else if (c === "[") {
      const close = full.indexOf("]", i + 2);
      if (close === -1) {
        out += "\\[";
        continue;
      }
      let body = full.slice(i + 1, close);
      const negate = body.startsWith("!");
      if (negate) body = body.slice(1);
      out += `[${negate ? "^" : ""}${body.replace(/[\\\]^]/g, "\\$&")}]`;
      i = close;
    } else out += c.replace(/[.+^${}()|\\/\]]/g, "\\$&");
  }
  return new RegExp(`^${out}$`, "s");
}

export function compileFilter(filter: FileFilter): (path: string) => boolean {
  // An empty include list means "no include filter" (a JSON job writes [] for "not set").
  const include = filter.include && filter.include.length > 0 ? filter.include.map(fnmatchToRegExp) : undefined;
  const exclude = filter.exclude?.map(fnmatchToRegExp) ?? [];
  return (path) => {
    if (include && !include.some((re) => re.test(path))) return false;
    return !exclude.some((re) => re.test(path));
  };
}
