"""Remove page chrome and template lines from scraped news text.

Scraped articles carry text that is not the article: video-player and ad
widgets, newsletter and social calls to action, copyright footers, and
site-wide template lines (disclaimers, partner notes) that recur verbatim in
many unrelated articles. Two rules remove them, line by line:

* **chrome**: a short line in the vocabulary of web page furniture (players,
  ads, sign-up, subscribe, follow-us, copyright). Long lines are kept even if
  they use such words, because a paragraph of reporting can mention a newsletter.
* **template**: a line of at least ``min_words`` words found in at least
  ``min_articles`` articles of the batch *in different surroundings*. Comparing
  surroundings keeps a syndicated story's shared paragraphs, which recur with
  the same neighbours, while a disclaimer recurs next to unrelated text.

Removed lines become empty so paragraphs stay paragraphs, then runs of blank
lines are collapsed. Cleaning never touches text inside a kept line.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

_MAX_CHROME_WORDS = 40
# Longer shared runs are a syndicated or updated story, not a template.
_MAX_TEMPLATE_LINES = 8
_CHROME = [
    re.compile(p, re.IGNORECASE)
    for p in (
        # video players and ad slots
        r"\bvideo (player|content|ad)\b.*\b(load|loaded|loading|play)\b",
        r"\bad (feedback|froze|choices)\b|\baudio on ad\b|\bskip ad\b",
        r"^\s*(advertisement|sponsored content|ad)\s*$",
        # calls to action
        r"\bsign(ing)? up\b.*\b(newsletter|inbox|here|now|today|free)\b",
        r"\b(newsletter|podcast)\b.*\b(sign up|subscribe|inbox|delivered)\b",
        r"\bsubscribe\b.*\b(here|today|now|newsletter|edition|journalism)\b",
        r"\bsupport(ing)? (local |our )?journalism\b",
        r"\bfollow\b.{0,80}\bon (twitter|facebook|instagram|tiktok|threads|x)\b",
        r"^\s*(download|get) (the|our) .{0,30}\bapp\b",
        r"^\s*(read more|more|related|see also|watch|listen)\s*[:.]?\s*$",
        r"\b(click|tap) here\b",
        # contact and copyright footers
        r"^\s*(contact|email|reach)\b.{0,80}@\S+\.\w+",
        r"^\s*(©|\(c\)|copyright\b)|\ball rights reserved\b",
    )
]
_WORD = re.compile(r"\w+")
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
_BLANKS = re.compile(r"\n{3,}")


def _key(line: str) -> str:
    return _DIGITS.sub("0", _SPACE.sub(" ", line.strip().lower()))


def is_chrome(line: str) -> bool:
    """True if ``line`` reads as page furniture rather than reporting."""
    stripped = line.strip()
    if not stripped or len(_WORD.findall(stripped)) > _MAX_CHROME_WORDS:
        return False
    return any(p.search(stripped) for p in _CHROME)


@dataclass
class CleanReport:
    """What cleaning removed from a batch: line and character counts per rule."""

    lines: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    chars: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, rule: str, line: str) -> None:
        """Count one removed line under ``rule``."""
        self.lines[rule] += 1
        self.chars[rule] += len(line)


class BoilerplateCleaner:
    """Learns template lines from a batch of articles, then cleans each one."""

    def __init__(self, *, min_articles: int = 4, min_words: int = 4) -> None:
        """``min_articles`` distinct surroundings make a repeated line a template."""
        self.min_articles = min_articles
        self.min_words = min_words
        self._templates: set[str] = set()
        self.report = CleanReport()

    def fit(self, texts: Sequence[str]) -> BoilerplateCleaner:
        """Find the template lines of a batch (see the module docstring)."""
        keyed = [[k for k in (_key(line) for line in text.split("\n")) if k] for text in texts]
        articles: dict[str, set[int]] = defaultdict(set)
        for i, lines in enumerate(keyed):
            for k in lines:
                if len(_WORD.findall(k)) >= self.min_words:
                    articles[k].add(i)
        repeated = {k for k, docs in articles.items() if len(docs) >= self.min_articles}
        # Template text comes in blocks (a six-line consent notice), so judge each
        # maximal run of repeated lines by what surrounds the run as a whole.
        surroundings: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for lines in keyed:
            j = 0
            while j < len(lines):
                if lines[j] not in repeated:
                    j += 1
                    continue
                end = j
                while end < len(lines) and lines[end] in repeated:
                    end += 1
                if end - j <= _MAX_TEMPLATE_LINES:
                    outside = (lines[j - 1] if j else "", lines[end] if end < len(lines) else "")
                    for k in lines[j:end]:
                        surroundings[k].add(outside)
                j = end
        self._templates = {k for k, seen in surroundings.items() if len(seen) >= self.min_articles}
        return self

    def clean(self, text: str) -> str:
        """Return ``text`` without chrome and template lines."""
        kept: list[str] = []
        changed = False
        for line in text.split("\n"):
            if line.strip():
                if is_chrome(line):
                    self.report.add("chrome", line)
                    changed = True
                    kept.append("")
                    continue
                if _key(line) in self._templates:
                    self.report.add("template", line)
                    changed = True
                    kept.append("")
                    continue
            kept.append(line)
        if not changed:
            return text
        return _BLANKS.sub("\n\n", "\n".join(kept)).strip("\n")

