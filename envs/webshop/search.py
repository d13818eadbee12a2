"""BM25 search over the catalog (bm25s), with ties broken by catalog order so results are stable."""
from __future__ import annotations

import bm25s
import numpy as np

from earlyexp.envs.webshop.catalog import Product

#: WebShop shows at most this many results for a query (five pages of ten).
MAX_RESULTS = 50


def product_document(product: Product) -> str:
    """The text a product is found by: title, type, category, attributes, options, features."""
    options = " ".join(value for values in product.options.values() for value in values)
    return " ".join((product.title, product.name, " ".join(product.category),
                     " ".join(product.attributes), options, " ".join(product.features),
                     product.description))


class SearchIndex:
    """A BM25 index of the catalog; `search(query)` returns product indices, best first."""

    def __init__(self, products: list[Product]):
        corpus = [product_document(product) for product in products]
        self._retriever = bm25s.BM25()
        self._retriever.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False),
                              show_progress=False)
        self._vocab = self._retriever.vocab_dict

    def tokens(self, query: str) -> list[str]:
        """The query's indexed tokens (lower-cased, stop words and unknown words dropped)."""
        tokenized = bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)
        return [token for token in tokenized[0] if token in self._vocab]

    def search(self, query: str, limit: int = MAX_RESULTS) -> list[int]:
        """Indices of the best `limit` products with a positive score, best first."""
        tokens = self.tokens(query)
        if not tokens:
            return []
        scores = self._retriever.get_scores(tokens)
        # A stable sort on the negated scores keeps catalog order among equal scores,
        # which argpartition-based top-k would not guarantee.
        order = np.argsort(-scores, kind="stable")[:limit]
        return [int(i) for i in order if scores[i] > 0]
