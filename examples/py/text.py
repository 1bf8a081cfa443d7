"""The Python side of examples/function.ts."""
import re
from typing import Optional


def slugify(title: str, separator: str = "-", max_length: Optional[int] = None) -> str:
    """A URL slug: lowercase words joined by `separator`, cut at a word boundary."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    slug = separator.join(words)
    if max_length is not None and len(slug) > max_length:
        slug = slug[:max_length].rsplit(separator, 1)[0]
    print(f"slugify: {len(words)} words -> {slug!r}")  # captured: the caller gets it in .stdout
    return slug
