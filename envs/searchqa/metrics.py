"""Answer scoring with SQuAD's normalisation: exact match and token F1.

normalise(s) = lower-case, drop punctuation, drop the articles a/an/the,
collapse whitespace. EM = [normalise(prediction) == normalise(gold)].
F1 = 2PR / (P + R) over the bag of normalised tokens, where
P = |common| / |prediction tokens| and R = |common| / |gold tokens|.
Both take the best over the gold answers.
"""
from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(gold)


def f1(prediction: str, gold: str) -> float:
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not predicted or not expected:
        # Both empty counts as a match, as in SQuAD; one empty scores nothing.
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_exact_match(prediction: str, answers: Iterable[str]) -> bool:
    return any(exact_match(prediction, gold) for gold in answers)


def best_f1(prediction: str, answers: Iterable[str]) -> float:
    return max((f1(prediction, gold) for gold in answers), default=0.0)
