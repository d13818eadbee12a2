"""The expert: one search per hop of the question's plan, then the gold answer.

It reads the episode so far rather than a step counter, so it also continues
correctly from any state a branch or a detour left behind: a hop is done once
its passage has been retrieved by any search, or once its query has been
issued (a user plan may name no passage); when every hop is done, or the
search budget is spent, it answers.
"""
from __future__ import annotations

from collections.abc import Collection

from earlyexp.envs.searchqa.records import Question


def search_action(query: str) -> str:
    """`<search> query </search>`, spaced as in Search-R1's prompt. The space matters to a
    byte-level BPE model: " Kherkzur" after a space is the same token ids as the name in
    the question, "Kherkzur" glued to ">" is a different sequence, and a small model then
    has to learn a mapping between the two instead of copying."""
    return f"<search> {query} </search>"


def answer_action(answer: str) -> str:
    """`<answer> text </answer>`, spaced like `search_action` (same reason)."""
    return f"<answer> {answer} </answer>"


def expert_action(question: Question, retrieved: Collection[str], issued: Collection[str],
                  searches_left: int) -> str:
    """The expert's next action given the passages retrieved and queries issued so far."""
    if searches_left > 0:
        for hop in question.hops:
            found = hop.passage_id is not None and hop.passage_id in retrieved
            if not found and hop.query not in issued:
                return search_action(hop.query)
    return answer_action(question.answers[0])
