"""The Python side of examples/streaming.ts: a generator that stands in for token-by-token output."""
import logging
import time
from collections.abc import Iterator

log = logging.getLogger("generate")


def generate(prompt: str, max_tokens: int = 6) -> Iterator[str]:
    log.info("prompt has %d characters", len(prompt))
    words = ["ferries", "carry", "Python", "across", "the", "GPU", "river"]
    for i in range(max_tokens):
        time.sleep(0.3)  # the "model" thinking
        if i == max_tokens // 2:
            print("halfway there")  # print() and logging both arrive as live log lines
        yield words[i % len(words)] + " "
    log.info("done after %d tokens", max_tokens)
