// Requirement syntax has one judge, `packaging`: the worker's check (the guard, then the Python
// child) accepts and refuses exactly what packaging's own Requirement() does, on a corpus of
// valid and invalid specifiers; the guard refuses only what the request rules name as unsafe.
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PythonEngine } from "../../handler/engine/python-engine.ts";
import {
  DependencySpecError,
  checkGuardedRequirements,
  createSubprocessRequirementChecker,
  installDependencies,
  parseRequirement,
  requirementKey,
  type ParsedRequirement,
  type RequirementChecker,
} from "../../handler/deps/index.ts";
import { SpecRejection } from "../../handler/deps/requirement-spec.ts";
import { silentLogger } from "../../protocol/logger.ts";
import { runnerPython } from "../../protocol/python-interpreter.ts";
import { runLoggedSubprocess } from "../../handler/subprocess.ts";

const NAMES = ["numpy", "Foo_Bar.baz", "requests", "torch", "a", "x1", "Django", "zope.interface", "pkg-name", "A9_b"];
const OPERATORS = ["==", "!=", "<=", ">=", "<", ">", "~=", "==="];
const VERSIONS = ["1", "1.0", "2.1.3", "1.0.*", "1.0a1", "1.0.post2", "1!2.0", "1.0+local.7", "v1.0", "1.0.dev3", "weird-1", "1.0.*.1", ""];

/** Operators against versions: packaging decides which pairs are valid (`~= 1` and `>= 1.0.*` are not). */
const GENERATED = OPERATORS.flatMap((op, i) => VERSIONS.map((v, j) => `${NAMES[(i + j) % NAMES.length]}${j % 2 === 0 ? " " : ""}${op}${v}`));

const WRITTEN = [
  // Names, extras, parentheses, clause lists.
  "numpy",
  "NumPy",
  "Foo_Bar.baz",
  "a",
  "1pkg",
  "pkg_",
  "_pkg",
  "pkg.",
  ".pkg",
  "pk..g",
  "p-k_g.9",
  "torch>=2.1,<3",
  "torch < 3 , >= 2.1",
  "pkg>=1.0,",
  "pkg ~= 1",
  "pkg ~= 1.0",
  "pkg>=1.0,,<2",
  ",pkg",
  "pkg,>=1",
  "requests (>=2.0)",
  "requests (>=2.0",
  "requests >=2.0)",
  "requests ()",
  "requests(>=2,<3)",
  "requests[security,socks]",
  "requests [socks] ~= 2.31",
  "requests[]",
  "requests[socks",
  "requests[a b]",
  "requests[a,]",
  "requests[,a]",
  "requests[a-b.c_d]",
  "requests[-a]",
  "requests[socks]>=2 extra",
  "my package",
  "pkg 1.0",
  "pkg==",
  "pkg>=",
  "pkg=1.0",
  "pkg=>1.0",
  "pkg==1.0 ==2.0",
  "pkg>=1.0.0.0.0.0",
  "pkg==1.0.0-1",
  "pkg==1.0_1",
  "pkg~=1.0.*",
  "pkg!=1.0.*",
  "pkg<1.0.*",
  "pkg===1.0 2",
  "pkg===",
  "pkg == 1.0 ;",
  // Spellings of one requirement, and near-spellings packaging refuses (the memo key must tell them apart).
  "numpy >= 1.2",
  "NumPy>=1.2",
  "numpy>= 1.2",
  "pkg< =1",
  "pkg<=1",
  "pkg <= 1",
  "mypackage",
  "pkg >= 1 .0",
  "pkg>=1.0",
  "pkg>=1. 0",
  "Foo.Bar[X , y] ( >= 1 , < 2 )",
  "foo-bar[x,y]>=1,<2",
  "foo_bar [y,x] >=1,<2",
  "pkg; os_name=='nt'",
  "pkg ; os_name == 'nt'",
  "pkg; os_name = = 'nt'",
  // Markers.
  "numpy; python_version>='3.9'",
  "numpy ; python_version >= \"3.9\"",
  'numpy>=1 ; sys_platform == "linux" and (python_version < "3.13" or os_name != \'nt\')',
  'pkg; "linux" in sys_platform',
  'pkg; platform_machine not in "arm64 aarch64"',
  "pkg; extra == 'test'",
  "pkg; implementation_name == 'cpython'",
  "pkg; platform_python_implementation=='CPython'",
  "pkg; python_full_version >= '3.9.1'",
  "pkg; platform_release >= '5'",
  "pkg; platform_system == 'Linux'",
  "pkg; platform_version != ''",
  "pkg; implementation_version > '3'",
  "pkg; os.name == 'posix'",
  "pkg; sys.platform == 'linux'",
  "pkg; python_implementation == 'CPython'",
  "pkg; (python_version > '3')",
  "pkg; ((python_version > '3') and (os_name == 'posix'))",
  "pkg; python_version > '3' and",
  "pkg; python_version > '3' or or os_name == 'nt'",
  "pkg; python_version >",
  "pkg; python_version",
  "pkg; (python_version > '3'",
  "pkg; python_version > '3')",
  "pkg; python_version > 3",
  "pkg; python_version > \"3'",
  "pkg; 'a' == 'b'",
  "pkg; python_version == python_version",
  "pkg; unknown_var == '1'",
  "numpy;ls",
  "numpy;",
  "numpy; python_version > '3' ; os_name == 'nt'",
  "pkg; python_version ~= '3.9'",
  "pkg; python_version === '3.9'",
  "pkg; os_name not  in 'nt'",
  "pkg; os_name notin 'nt'",
  "pkg; os_name is 'nt'",
  "pkg; python_version >= '3.8' and python_version < '4' or extra == 'x'",
  "pkg>=1; python_version<'4'",
  "pkg[extra]>=1,<2;python_version<'4'",
  "pkg (>=1) ; python_version<'4'",
  "pkg; python_version < '3.13' and platform_machine == 'x86_64'",
  "pkg; sys_platform == 'win32' or sys_platform == 'darwin'",
  "pkg; AND",
  "pkg; extra == 'a' and extra == 'b'",
  // Direct references (the guard lets these through only with the setting on, as here).
  "pkg @ https://example.com/pkg-1.0-py3-none-any.whl",
  "pkg@https://example.com/p.whl#sha256=abc",
  "pkg[x] @ file:///tmp/pkg-1.0-py3-none-any.whl ; python_version >= '3'",
  "pkg @ https://example.com/p.whl; python_version >= '3'",
  "pkg @ https://example.com/p.whl python_version >= '3'",
  "pkg @",
  "pkg @ ",
  "pkg @ not a url",
  "@ https://example.com/p.whl",
  "pkg>=1 @ https://example.com/p.whl",
  // Neither names nor requirements.
  ".",
  "./local/dir",
  "/abs/path",
  "pkg/sub",
  "~pkg",
  "pkg!",
  "pkg*",
  "pkg?",
  "pkg#comment",
  "#comment",
  "'pkg'",
  '"pkg"',
  "pkg==1.0 # pinned",
  "pkg:1.0",
  "pkg%20",
  "pkg+",
  "-pkg",
  "pkg-",
  "pkg ==1.0;python_version>'3'",
  "pkg(==1.0)",
  "pkg [a] (==1.0)",
  "pkg[a](==1.0)",
  "Ω",
  "pkg==Ω",
];

const CORPUS = [...new Set([...WRITTEN, ...GENERATED])];

/** The entries the guard refuses before packaging sees them, and the rule that refuses each. */
const GUARD_EXPECTED: Record<string, RegExp> = {
  "-pkg": /begins with '-'/,
};

type Verdict = "valid" | "invalid";

/** packaging's own verdict, in a Python that shares nothing with Ferry's check. */
async function packagingVerdicts(entries: readonly string[]): Promise<Array<[Verdict, string | null]>> {
  const script = [
    "import json, sys",
    "from packaging.requirements import Requirement, InvalidRequirement",
    "from packaging.utils import canonicalize_name",
    "out = []",
    "for text in json.load(sys.stdin):",
    "    try:",
    "        req = Requirement(text)",
    "    except InvalidRequirement:",
    "        out.append(['invalid', None])",
    "        continue",
    "    req.name = canonicalize_name(req.name)",
    "    req.extras = {canonicalize_name(e) for e in req.extras}",
    "    out.append(['valid', str(req)])",
    "json.dump(out, sys.stdout)",
  ].join("\n");
  const result = await runLoggedSubprocess(runnerPython(), ["-c", script], { operation: "packaging-verdicts", timeoutMs: 60_000, input: JSON.stringify(entries) });
  expect(result.ok, result.stderr).toBe(true);
  return JSON.parse(result.stdout) as Array<[Verdict, string | null]>;
}

/** The worker's verdict: the guard, then the checker (packaging in the Python child). */
async function ferryVerdicts(checker: RequirementChecker, entries: readonly string[]): Promise<Array<Verdict | { guard: string }>> {
  const out: Array<Verdict | { guard: string }> = [];
  const guarded: ParsedRequirement[] = [];
  entries.forEach((entry, i) => {
    try {
      guarded.push(parseRequirement(entry, { allowDirectReferences: true }, i));
      out[i] = "valid";
    } catch (error) {
      if (!(error instanceof SpecRejection)) throw error;
      out[i] = { guard: error.message };
    }
  });
  const error = await checkGuardedRequirements(checker, guarded).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error !== undefined) {
    expect(error).toBeInstanceOf(DependencySpecError);
    for (const problem of (error as DependencySpecError).problems) {
      expect(problem.reason).toMatch(/^is not a valid requirement \(PEP 508, as judged by packaging\): /);
      out[Number(/^dependencies\[(\d+)\]$/.exec(problem.where)![1])] = "invalid";
    }
  }
  return out;
}

describe("the requirement check agrees with packaging", () => {
  let engine: PythonEngine;
  let expected: Verdict[];
  /** packaging's canonical form of each valid entry; null for the invalid ones. */
  let canonical: Array<string | null>;

  beforeAll(async () => {
    engine = new PythonEngine({ python: runnerPython(), logger: silentLogger() });
    await engine.start();
    const verdicts = await packagingVerdicts(CORPUS);
    expected = verdicts.map(([verdict]) => verdict);
    canonical = verdicts.map(([, form]) => form);
  }, 60_000);
  afterAll(async () => {
    await engine?.stop();
  });

  it("the corpus holds at least 200 specifiers, with many of each kind", () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(200);
    expect(expected.filter((v) => v === "valid").length).toBeGreaterThanOrEqual(80);
    expect(expected.filter((v) => v === "invalid").length).toBeGreaterThanOrEqual(80);
    // The two disagreements of the hand-written parser this check replaced.
    expect(expected[CORPUS.indexOf("pkg ~= 1")]).toBe("invalid");
    expect(expected[CORPUS.indexOf("pkg>=1.0,")]).toBe("valid");
  });

  it("entries that share a memo key are one requirement to packaging, or all refused by it", () => {
    const byKey = new Map<string, Set<string | null>>();
    for (const [i, entry] of CORPUS.entries()) {
      const key = requirementKey(entry.trim());
      byKey.set(key, (byKey.get(key) ?? new Set()).add(canonical[i]!));
    }
    const mixed = [...byKey].filter(([, forms]) => forms.size > 1).map(([key, forms]) => `${key}: ${[...forms].join(" | ")}`);
    expect(mixed).toEqual([]);
    // The corpus does hold different spellings of one requirement.
    expect(byKey.size).toBeLessThan(CORPUS.length);
  });

  it.each([
    ["the warm Python child", () => engine as RequirementChecker],
    ["a fresh interpreter", () => createSubprocessRequirementChecker(runnerPython(), { logger: silentLogger() })],
  ])("through %s", async (_label, checker) => {
    const verdicts = await ferryVerdicts(checker(), CORPUS);
    const guardRefused = Object.fromEntries(CORPUS.flatMap((entry, i) => (typeof verdicts[i] === "object" ? [[entry, verdicts[i]]] : [])));
    // The guard refuses only what the request rules name, and nothing else.
    expect(Object.keys(guardRefused)).toEqual(Object.keys(GUARD_EXPECTED));
    for (const [entry, reason] of Object.entries(GUARD_EXPECTED)) expect((guardRefused[entry] as { guard: string }).guard).toMatch(reason);
    const disagreements = CORPUS.flatMap((entry, i) =>
      typeof verdicts[i] === "string" && verdicts[i] !== expected[i] ? [`${JSON.stringify(entry)}: ferry ${String(verdicts[i])}, packaging ${expected[i]}`] : [],
    );
    expect(disagreements).toEqual([]);
  }, 60_000);
});

describe("installDependencies refuses what packaging rejects before any installer runs", () => {
  it("names each refused entry, as an InvalidRequest, and starts only the check", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "trace" }, new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
    const engine = createSubprocessRequirementChecker(runnerPython(), { logger });
    const error = await installDependencies(
      { dependencies: ["good-package", "my package", "numpy;id", "pkg ~= 1", "pkg>=1.0,"] },
      { engine, logger, system: { uid: 0, platform: "linux" } },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencySpecError);
    const e = error as DependencySpecError;
    expect(e.errorType).toBe("InvalidRequest");
    expect(e.problems.map((p) => [p.where, p.entry])).toEqual([
      ["dependencies[1]", "my package"],
      ["dependencies[2]", "numpy;id"],
      ["dependencies[3]", "pkg ~= 1"],
    ]);
    expect(e.message).toMatch(/^Invalid dependency list: dependencies\[1\] "my package": is not a valid requirement \(PEP 508, as judged by packaging\): /);
    const started = lines.filter((l) => l.includes("subprocess start")).map((l) => (JSON.parse(l) as { operation: string }).operation);
    expect(started).toEqual(["requirements-check"]);
  }, 30_000);
});
