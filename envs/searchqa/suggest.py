"""Suggested actions: a finite menu over the open action space.

Any well-formed search or answer is allowed, but branching with a uniform
sampler and the `rank` action mode need a finite list to draw from. The
menu holds what a reader of the episode so far would plausibly try:
searches for the whole question, for each name it mentions and for each
title and name in the retrieved passages (not searched yet); answers for
each name the question offers (the two sides of a comparison) and each
title, name and year in the retrieved passages. Half the menu is searches,
half answers; the expert's action is always on it; the menu is sorted, so
the position of the expert's action says nothing.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from earlyexp.envs.searchqa.expert import answer_action, search_action
from earlyexp.envs.searchqa.records import Passage, Question


_QUOTED = re.compile(r'"([^"]+)"')
_CAPITALISED = re.compile(r"[A-Z][\w'-]*(?: (?:of |at )?[A-Z][\w'-]*){0,3}")
_NUMBER = re.compile(r"\b\d{3,4}\b")
#: Capitalised words that start sentences rather than name things.
_NOT_NAMES = frozenset({
    "He", "She", "It", "Its", "The", "In", "What", "Which", "Who", "When", "Where", "How",
    "Critics", "His", "Her", "They", "This", "A", "An",
})


def suggested_actions(question: Question, searched: Iterable[str], passages: list[Passage],
                      expert: str | None, limit: int = 24) -> list[str]:
    """Up to `limit` distinct actions plus the expert's, sorted; `passages` latest first."""
    searched = set(searched)
    quoted, named = _QUOTED.findall(question.question), names_in(question.question)
    searches, answers = [question.question, *quoted, *named], [*quoted, *named]
    for passage in passages:
        names = names_in(passage.text)
        searches += [passage.title, *names]
        answers += [passage.title, *names, *_NUMBER.findall(passage.text)]
    # Half the menu each, so that neither kind crowds the other out.
    menu = [search_action(q) for q in dict.fromkeys(searches) if q not in searched][: limit // 2]
    menu += [answer_action(a) for a in dict.fromkeys(answers)][: limit - len(menu)]
    if expert is not None and expert not in menu:
        menu.append(expert)
    return sorted(menu)


def names_in(text: str) -> list[str]:
    """Capitalised spans of `text`, without a leading sentence word ("Who", "The"...)."""
    names = []
    for span in _CAPITALISED.findall(text):
        words = span.split()
        while words and words[0] in _NOT_NAMES:
            words = words[1:]
        if words and words[0] not in ("of", "at"):
            names.append(" ".join(words))
    return names
