// What a test-inputs/test_*.json fixture expects of its job's output, checked in one place
// (used by `make test-handler` and by the test suites that run the fixtures).
//
// A fixture is a job ({"input": {...}}) plus optional keys beside `input`:
//   "expect_error": "ZeroDivisionError"     the job must fail with this error_type
//   "expected": {                            every key given must hold
//     "json_result": ..., "result_decoded": ..., "instance_id": "...", "stream_count": N,
//     "instance_info_created": true, "stdout_contains": [...], "error_contains": [...] }
import { execFileSync } from "node:child_process";
import { isDeepStrictEqual } from "node:util";
import { unpack } from "msgpackr";

function decodeResult(output, format, python) {
  if (format === "json") return output.json_result;
  if (typeof output.result !== "string") return undefined;
  if (format === "msgpack") return unpack(Buffer.from(output.result, "base64"));
  const script = "import base64, json, pickle, sys; print(json.dumps(pickle.loads(base64.b64decode(sys.argv[1]))))";
  return JSON.parse(execFileSync(python, ["-c", script, output.result], { encoding: "utf8" }));
}

/** Returns the problems found (empty when the fixture passed). */
export function checkFixture(fixture, output, exitCode, python = "python3") {
  const problems = [];
  if (!output || typeof output !== "object") return [`no output object (exit code ${exitCode})`];
  const expected = fixture.expected ?? {};
  const format = fixture.input?.serialization_format ?? "cloudpickle";
  if (fixture.expect_error) {
    if (output.success !== false) problems.push(`expected failure ${fixture.expect_error}, got success`);
    if (output.error_type !== fixture.expect_error) problems.push(`error_type ${output.error_type} != ${fixture.expect_error}`);
    if (exitCode !== 1) problems.push(`exit code ${exitCode}, expected 1`);
  } else {
    if (output.success !== true) problems.push(`failed: ${output.error_type}: ${String(output.error ?? "").split("\n")[0]}`);
    if (exitCode !== 0) problems.push(`exit code ${exitCode}, expected 0`);
  }
  if ("json_result" in expected && !isDeepStrictEqual(output.json_result, expected.json_result)) {
    problems.push(`json_result ${JSON.stringify(output.json_result)} != ${JSON.stringify(expected.json_result)}`);
  }
  if ("result_decoded" in expected) {
    const decoded = decodeResult(output, format, python);
    if (!isDeepStrictEqual(decoded, expected.result_decoded)) {
      problems.push(`decoded result ${JSON.stringify(decoded)} != ${JSON.stringify(expected.result_decoded)}`);
    }
  }
  if ("instance_id" in expected && output.instance_id !== expected.instance_id) problems.push(`instance_id ${output.instance_id}`);
  if ("instance_info_created" in expected && output.instance_info?.created !== expected.instance_info_created) {
    problems.push(`instance_info.created ${output.instance_info?.created}`);
  }
  if ("stream_count" in expected && output.stream_count !== expected.stream_count) problems.push(`stream_count ${output.stream_count}`);
  for (const text of expected.stdout_contains ?? []) {
    if (!String(output.stdout ?? "").includes(text)) problems.push(`stdout lacks ${JSON.stringify(text)}`);
  }
  for (const text of expected.error_contains ?? []) {
    if (!String(output.error ?? "").includes(text)) problems.push(`error lacks ${JSON.stringify(text)}`);
  }
  return problems;
}
