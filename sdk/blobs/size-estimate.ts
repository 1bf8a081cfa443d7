/**
 * A value's MessagePack size, estimated from the value itself before any encoding: what lets a
 * call that could never be sent fail at once, without first spending the time and memory to
 * encode it. Exact for bytes and typed arrays (which are what make values large), close for
 * the rest.
 */
export function estimateEncodedBytes(value: unknown): number {
  let total = 0;
  const stack: unknown[] = [value];
  const seen = new Set<object>();
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === "string") total += Buffer.byteLength(v) + 5;
    else if (typeof v === "number" || typeof v === "bigint") total += 9;
    else if (v === null || typeof v !== "object") total += 1;
    else if (ArrayBuffer.isView(v)) total += v.byteLength + 32;
    else if (v instanceof ArrayBuffer) total += v.byteLength + 5;
    else if (seen.has(v)) continue;
    else {
      seen.add(v);
      total += 5;
      if (Array.isArray(v)) for (const x of v) stack.push(x);
      else if (v instanceof Map) for (const [k, x] of v) stack.push(k, x);
      else for (const [k, x] of Object.entries(v)) stack.push(k, x);
    }
  }
  return total;
}
