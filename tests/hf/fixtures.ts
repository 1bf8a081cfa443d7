/** A small model repo like the ones cache-ahead fetches: configs, tokenizer files, a few MB of weights. */
import { createHash } from "node:crypto";
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";

/** Deterministic bytes that do not compress (a sha256 counter stream). */
export function pseudoRandomBytes(size: number, seed: string): Buffer {
  const out = Buffer.alloc(size);
  let offset = 0;
  for (let i = 0; offset < size; i++) {
    const block = createHash("sha256").update(`${seed}:${i}`).digest();
    offset += block.copy(out, offset);
  }
  return out;
}

export function smallModelFiles(seed = "m"): Record<string, Buffer | string> {
  return {
    "config.json": JSON.stringify({ architectures: ["BertModel"], hidden_size: 64, seed }),
    "generation_config.json": JSON.stringify({ max_length: 32 }),
    "tokenizer.json": JSON.stringify({ version: "1.0", model: { vocab: { a: 0, b: 1 } }, seed }),
    "tokenizer_config.json": JSON.stringify({ model_max_length: 512 }),
    "special_tokens_map.json": JSON.stringify({ unk_token: "[UNK]" }),
    "vocab.txt": "[PAD]\n[UNK]\nhello\nworld\n",
    "model.safetensors": pseudoRandomBytes(3 * 1024 * 1024 + 17, `${seed}:weights`),
    "pytorch_model.bin": pseudoRandomBytes(1024 * 1024, `${seed}:bin`),
    "onnx/model.onnx": pseudoRandomBytes(64 * 1024, `${seed}:onnx`),
  };
}

/** A pino logger whose JSON lines are kept, to look for what must not be logged. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString("utf8"));
      done();
    },
  });
  return { logger: pino({ level: "debug" }, sink), lines };
}
