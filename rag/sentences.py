"""Sentence segmentation with character spans, shared by chunking and verification.

llama-index's default sentence tokenizer (NLTK punkt, untrained) costs about
40 ms per news article here, as much as embedding it; blingfire's finite-state
splitter is about 30 times faster and handles abbreviations (U.S., Jan., p.m.)
as well. Paragraph breaks always end a sentence.
"""

from __future__ import annotations

import re

import blingfire

_PARAGRAPH = re.compile(r"\n\s*\n|\n")
# A paragraph without end punctuation followed by a space is a single sentence:
# skipping blingfire for those (headings, list items, captions) halves the cost.
_MAYBE_SEVERAL = re.compile(r"[.!?;:\u2026][\"'\u201d\u2019)\]]*\s")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Return ``(start, end)`` character spans of the sentences of ``text``.

    Spans are in order, do not overlap, exclude surrounding whitespace and
    cover every non-space character of ``text``.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for para in _PARAGRAPH.split(text):
        start = text.find(para, pos) if para else pos
        pos = start + len(para)
        if not para.strip():
            continue
        if _MAYBE_SEVERAL.search(para):
            spans.extend(_spans_in(text, start, para))
        else:
            lead = len(para) - len(para.lstrip())
            spans.append((start + lead, start + len(para.rstrip())))
    return spans


def _spans_in(text: str, offset: int, para: str) -> list[tuple[int, int]]:
    # blingfire may normalise whitespace inside a sentence, so locate each
    # sentence by its first and last words rather than by exact match.
    out: list[tuple[int, int]] = []
    cursor = 0
    for sent in blingfire.text_to_sentences(para).split("\n"):
        sent = sent.strip()
        if not sent:
            continue
        exact = para.find(sent, cursor)
        if exact >= 0:
            out.append((offset + exact, offset + exact + len(sent)))
            cursor = exact + len(sent)
            continue
        words = sent.split()
        first = para.find(words[0], cursor)
        if first < 0:
            continue
        last = para.find(words[-1], first + len(words[0]) - len(words[-1]) if len(words) == 1 else first)
        end = (last + len(words[-1])) if last >= 0 else len(para)
        out.append((offset + first, offset + end))
        cursor = end
    if not out:
        stripped = para.strip()
        lead = para.find(stripped)
        return [(offset + lead, offset + lead + len(stripped))]
    # Text blingfire dropped (rare) is folded into the preceding sentence.
    tail = para[cursor:].strip()
    if tail:
        s, _ = out[-1]
        out[-1] = (s, offset + para.rfind(tail) + len(tail))
    return out


def split_sentences(text: str) -> list[str]:
    """Return the sentences of ``text`` (the strings of :func:`sentence_spans`)."""
    return [text[s:e] for s, e in sentence_spans(text)]


def sentence_pieces(text: str) -> list[str]:
    """Split ``text`` into sentences that keep their trailing whitespace.

    The pieces concatenate back to ``text`` exactly, which is what
    llama-index's ``SentenceSplitter`` needs from its ``chunking_tokenizer_fn``
    to report exact character offsets.
    """
    spans = sentence_spans(text)
    if not spans:
        return [text] if text else []
    starts = [0] + [s for s, _ in spans[1:]]
    ends = starts[1:] + [len(text)]
    return [text[s:e] for s, e in zip(starts, ends)]
