"""Build the labelled (claim, passage) fixture for the support judge.

Passages are chunks of real articles of the dev corpus. Supported claims are a
passage's own sentences, whole or cut to their main clause; unsupported ones
change a number, swap in a name from another article, come from an unrelated
article, or come from another part of the same article (same names, other
facts: the hard case). Labels follow from the construction; the output is
committed as ``evals/verifier_pairs.jsonl`` so tests and ``rag eval`` need no corpus.

Usage::

    python -m evals.make_verifier_fixture ../shared/data/realtimeqa-2022-small/articles.jsonl OUT.jsonl
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

from llama_index.core import Document

from index.chunk import Chunker
from index.clean import BoilerplateCleaner
from rag.sentences import split_sentences

PER_KIND = 9
_NUM = re.compile(r"\b\d{1,3}(?:,\d{3})*\b")
_NAME = re.compile(r"(?<=\w )[A-Z][a-z]{3,}\b")


def _good(sentence: str) -> bool:
    words = sentence.split()
    return 10 <= len(words) <= 45 and sentence.endswith(".") and not sentence.isupper()


def main(src: str, out: str) -> None:
    """Write 72 labelled pairs (36 supported, 36 not) to ``out``."""
    rng = random.Random(7)
    texts = [json.loads(line)["text"] for line in open(src)]
    cleaner = BoilerplateCleaner().fit(texts)
    chunker = Chunker(chunk_size=256, chunk_overlap=32)
    articles = []
    for i in rng.sample(range(len(texts)), 160):
        chunks = [n.text for n in chunker.split(Document(id_=str(i), text=cleaner.clean(texts[i])))]
        if len(chunks) >= 3:
            articles.append(chunks)
    names_pool = sorted({m.group() for chunks in articles for c in chunks for m in _NAME.finditer(c)})
    pairs: list[dict[str, object]] = []
    counts = {k: 0 for k in ("verbatim", "clause", "number", "name", "unrelated", "same_article")}
    target = {"verbatim": 18, "clause": 18, "number": PER_KIND, "name": PER_KIND, "unrelated": PER_KIND,
              "same_article": PER_KIND}
    for a_idx, chunks in enumerate(articles):
        passage = chunks[0]
        sents = [s for s in split_sentences(passage) if _good(s)]
        if not sents:
            continue
        s = rng.choice(sents)
        kind = min((k for k in target if counts[k] < target[k]), key=lambda k: counts[k] / target[k], default=None)
        if kind is None:
            break
        claim = None
        if kind == "verbatim":
            claim = s
        elif kind == "clause":
            cut = s.rfind(",", 0, len(s) - 10)
            if cut > 40:
                claim = s[:cut] + "."
        elif kind == "number":
            m = _NUM.search(s)
            if m:
                value = int(m.group().replace(",", ""))
                new = str(value + rng.choice([2, 3, 7, 11]))
                if new not in passage:
                    claim = s[: m.start()] + new + s[m.end():]
        elif kind == "name":
            m = _NAME.search(s)
            if m:
                other = rng.choice([n for n in names_pool if n.lower() not in passage.lower()])
                claim = s[: m.start()] + other + s[m.end():]
        elif kind == "unrelated":
            other = articles[(a_idx + 17) % len(articles)]
            cands = [x for x in split_sentences(other[1]) if _good(x)]
            claim = rng.choice(cands) if cands else None
        elif kind == "same_article":
            far = [x for x in split_sentences(chunks[-1]) if _good(x) and x not in passage]
            claim = rng.choice(far) if far else None
        if claim:
            counts[kind] += 1
            pairs.append({"kind": kind, "supported": kind in ("verbatim", "clause"), "claim": claim,
                          "passage": passage})
    Path(out).write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs))
    print(counts, len(pairs))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
