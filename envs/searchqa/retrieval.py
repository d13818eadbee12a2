"""BM25 search over the passages (the `bm25s` library), saved to and loaded from disk.

Passages are indexed as "title. text" so that a search for an entity's name
finds its own entry first. Tokens are lower-cased word characters without
English stop words. Ties in score are broken by corpus order, so the same
query always returns the same passages in the same order.
"""
from __future__ import annotations

import re
from pathlib import Path

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from earlyexp.envs.searchqa.records import Passage


_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset(STOPWORDS_EN)
#: Bumped whenever tokenisation or scoring changes, so cached indexes are rebuilt.
INDEX_VERSION = "bm25-lucene-k1.5-b0.75-v1"


def tokenize(text: str) -> list[str]:
    return [token for token in _WORD.findall(text.lower()) if token not in _STOPWORDS]


class SearchIndex:
    """Top-k BM25 search over a fixed list of passages."""

    def __init__(self, passages: list[Passage], bm25: bm25s.BM25):
        self.passages = passages
        self.bm25 = bm25

    @classmethod
    def build(cls, passages: list[Passage]) -> SearchIndex:
        bm25 = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
        bm25.index([tokenize(f"{p.title}. {p.text}") for p in passages], show_progress=False)
        return cls(passages, bm25)

    @classmethod
    def load(cls, directory: Path, passages: list[Passage]) -> SearchIndex:
        bm25 = bm25s.BM25.load(directory, show_progress=False)
        num_docs = int(bm25.scores["num_docs"])
        if num_docs != len(passages):
            raise ValueError(f"the index in {directory} covers {num_docs} passages, "
                             f"the corpus has {len(passages)}")
        return cls(passages, bm25)

    def save(self, directory: Path) -> None:
        self.bm25.save(directory, show_progress=False)

    def search(self, query: str, k: int) -> list[int]:
        """Indices of the `k` best passages for `query` (only those sharing a word with it)."""
        token_ids = self.bm25.get_tokens_ids(tokenize(query))
        if not token_ids:
            return []
        scores = self.bm25.get_scores_from_ids(token_ids)
        # A stable sort on the negated scores keeps corpus order among equal scores.
        order = np.argsort(-scores, kind="stable")[:k]
        return [int(i) for i in order if scores[i] > 0]
