"""The Python side of examples/class.ts: an object whose state lives on the worker."""
import logging
import time
from collections import Counter
from typing import TypedDict

log = logging.getLogger("word_counter")


class TopWords(TypedDict):
    documents: int
    top: list[tuple[str, int]]


class WordCounter:
    def __init__(self, stopwords: list[str]):
        # Stands in for expensive set-up (loading a model, opening a database): done once.
        log.info("building the counter (%d stop words)...", len(stopwords))
        time.sleep(0.5)
        self.stopwords = set(stopwords)
        self.counts = Counter()
        self.documents = 0

    def add(self, text: str) -> int:
        """Counts the words of one document; answers how many distinct words are known."""
        self.documents += 1
        self.counts.update(w for w in text.lower().split() if w not in self.stopwords)
        return len(self.counts)

    def top(self, n: int) -> TopWords:
        return {"documents": self.documents, "top": self.counts.most_common(n)}
