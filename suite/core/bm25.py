"""A small Okapi BM25, the first stage for collections that ship no run (e.g. Cranfield).

Scoring follows Lucene / Anserini: ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))`` and
``tf / (tf + k1 * (1 - b + b * dl / avgdl))`` per query term (Lucene dropped the constant
``k1 + 1`` factor, which changes no ranking), summed over query tokens, so a repeated query
term counts twice. Defaults ``k1 = 0.9, b = 0.4`` are Anserini's. Unlike Anserini there is
no stemming and document lengths are exact (Lucene quantises them), so scores are close to,
not identical with, Anserini's.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping

import numpy as np

# Lucene's English stop set (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET).
STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such "
    "that the their then there these they this to was will with".split()
)
_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lowercased alphanumeric tokens without stopwords."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS]


class BM25:
    """An in-memory inverted index over ``documents`` (docid -> text)."""

    def __init__(self, documents: Mapping[str, str], *, k1: float = 0.9, b: float = 0.4) -> None:
        self.k1, self.b = k1, b
        self.docids: list[str] = []
        lengths: list[int] = []
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for index, (docid, text) in enumerate(documents.items()):
            counts = Counter(tokenize(text))
            self.docids.append(docid)
            lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                docs, tfs = postings.setdefault(term, ([], []))
                docs.append(index)
                tfs.append(tf)
        if not self.docids:
            raise ValueError("BM25 needs at least one document")
        length = np.asarray(lengths, dtype=np.float64)
        avgdl = float(length.mean()) or 1.0  # every document empty: all norms equal anyway
        self._norm = k1 * (1.0 - b + b * length / avgdl)
        n = len(self.docids)
        self._postings = {}  # term -> (document rows, term frequencies, idf)
        for term, (docs, tfs) in postings.items():
            idf = math.log(1.0 + (n - len(docs) + 0.5) / (len(docs) + 0.5))
            self._postings[term] = (np.asarray(docs), np.asarray(tfs, dtype=np.float64), idf)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document, in ``self.docids`` order."""
        scores = np.zeros(len(self.docids))
        for term, weight in Counter(tokenize(query)).items():
            if term in self._postings:
                docs, tfs, idf = self._postings[term]
                scores[docs] += weight * idf * tfs / (tfs + self._norm[docs])
        return scores

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """The top ``k`` documents sharing a term with ``query``, best first; ties in index order."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        scores = self.scores(query)
        matching = np.flatnonzero(scores > 0)
        order = matching[np.lexsort((matching, -scores[matching]))][:k]
        return [(self.docids[i], float(scores[i])) for i in order]
