"""BM25 product search standing in for the original's Lucene index.

Same documents (title, description, first bullet, option text; lower case) and the
Lucene BM25 settings (k1 0.9, b 0.4, Lucene idf), English stop words and the Snowball
English stemmer. Differences that remain: Lucene keeps 1-character tokens and uses the
Porter (not Snowball) stemmer, so rankings can differ slightly. Ties are broken by
catalog order (as Lucene breaks them by doc id) so results are deterministic.
"""

from __future__ import annotations

import functools
import re

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

SEARCH_RETURN_N = 50
BM25_K1 = 0.9
BM25_B = 0.4
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


class ProductSearch:
    """Top-n catalog indices for a free-text query."""

    def __init__(self, documents: list[str], cache_size: int = 4096) -> None:
        if not documents:
            raise ValueError("cannot build a search index over an empty catalog")
        self._stemmer = Stemmer.Stemmer("english")
        self._stopwords = frozenset(STOPWORDS_EN)
        self._bm25 = bm25s.BM25(k1=BM25_K1, b=BM25_B, method="lucene")
        self._bm25.index([self._tokens(d) for d in documents], show_progress=False)
        self._vocab = self._bm25.vocab_dict
        self._cached_search = functools.lru_cache(maxsize=cache_size)(self._search)

    def _tokens(self, text: str) -> list[str]:
        words = [w for w in _TOKEN.findall(text.lower()) if w not in self._stopwords]
        return self._stemmer.stemWords(words)

    def _search(self, query: str, n: int = SEARCH_RETURN_N) -> tuple[int, ...]:
        tokens = [t for t in self._tokens(query) if t in self._vocab]
        if not tokens:
            return ()
        scores = self._bm25.get_scores(tokens)
        candidates = np.flatnonzero(scores > 0.0)
        if len(candidates) > n:  # keep the n best; ties at the cut are kept too, then cut by index
            nth_best = np.partition(scores[candidates], len(candidates) - n)[len(candidates) - n]
            candidates = candidates[scores[candidates] >= nth_best]
        order = candidates[np.lexsort((candidates, -scores[candidates]))][:n]
        return tuple(int(i) for i in order)

    def search(self, query: str, n: int = SEARCH_RETURN_N) -> tuple[int, ...]:
        """Indices of the best ``n`` products with a positive score, best first (memoised)."""
        return self._cached_search(query, n)
