"""Near-duplicate articles (one story syndicated under two URLs) by MinHash LSH.

Signatures are MinHashes of word 5-shingles. They are stored with the article
(first chunk's metadata) so a later ingest compares against what is stored
without re-reading the texts.
"""

from __future__ import annotations

import base64
import re

import mmh3
import numpy as np
from datasketch import MinHash, MinHashLSH

NUM_PERM = 64
_SHINGLE = 5
# 32-bit hash values, so a signature packs into 4 bytes per permutation.
_SCHEME = "affine32"
_WORD = re.compile(r"\w+")


def _hash(data: bytes) -> int:
    return mmh3.hash(data, signed=False)


def signature(text: str) -> MinHash:
    """MinHash of the lower-cased word 5-shingles of ``text``."""
    words = _WORD.findall(text.lower())
    if len(words) < _SHINGLE:
        shingles = [" ".join(words).encode()]
    else:
        shingles = [" ".join(words[i : i + _SHINGLE]).encode() for i in range(len(words) - _SHINGLE + 1)]
    m = MinHash(num_perm=NUM_PERM, hashfunc=_hash, seed=1, scheme=_SCHEME)
    m.update_batch(shingles)
    return m


def encode(m: MinHash) -> str:
    """Compact text form of a signature, for Chroma metadata."""
    return base64.b64encode(m.hashvalues.astype(np.uint32).tobytes()).decode("ascii")


def decode(text: str) -> MinHash:
    """Inverse of :func:`encode`."""
    values = np.frombuffer(base64.b64decode(text), dtype=np.uint32).astype(np.uint64)
    return MinHash(num_perm=NUM_PERM, hashfunc=_hash, seed=1, hashvalues=values, scheme=_SCHEME)


class NearDuplicates:
    """An LSH index of article signatures that answers "which stored article is this?"."""

    def __init__(self, threshold: float) -> None:
        """``threshold`` is the estimated Jaccard similarity that counts as a duplicate."""
        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self._sigs: dict[str, MinHash] = {}

    def add(self, key: str, sig: MinHash) -> None:
        """Index ``sig`` under ``key`` (replacing an earlier signature of that key)."""
        if key in self._sigs:
            self._lsh.remove(key)
        self._lsh.insert(key, sig)
        self._sigs[key] = sig

    def best_match(self, key: str, sig: MinHash) -> tuple[str, float] | None:
        """The most similar indexed article other than ``key``, if above the threshold."""
        best: tuple[str, float] | None = None
        for other in sorted(self._lsh.query(sig)):
            if other == key:
                continue
            sim = float(sig.jaccard(self._sigs[other]))
            if sim >= self.threshold and (best is None or sim > best[1]):
                best = (other, sim)
        return best
