"""Search behaviour of agents whose environment declares a search tool.

The environment says which actions are searches and what they ask for: its
`search_query(action) -> str | None` (see `earlyexp.envs.core`), passed here as a
plain callable, so nothing in this module knows a family's action syntax.

    from earlyexp.experience.search_metrics import search_metrics
    search_metrics(groups, env.search_query, goals=["Who founded ...?", ...])

Queries are compared after `canonical_action` (stripped, lowercased, whitespace
collapsed). A group is the episodes of one task (and seed), as in `diversity`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from earlyexp.experience.diversity import (
    Episode, Group, _mean, canonical_action, distinct_n, vendi_score,
)

SearchQuery = Callable[[str], "str | None"]
_WORD = re.compile(r"\w+")

#: key -> (axis label with unit, meaning); merged into `diversity.METRICS`.
SEARCH_METRICS: dict[str, tuple[str, str]] = {
    "search_calls_per_episode": ("calls / episode", "search calls per episode"),
    "unique_query_ratio": ("unique / total", "distinct search queries per group"),
    "query_distinct_1": ("distinct / total", "distinct query words over all query words"),
    "query_distinct_2": ("distinct / total", "distinct query word bigrams over all bigrams"),
    "query_vendi": ("Vendi score (effective # queries)", "mean per-group Vendi score of queries"),
    "query_question_overlap": ("fraction of query words", "query words that are in the question"),
    "answer_after_search_rate": ("fraction of episodes",
                                 "episodes that searched, then ended on a non-search action"),
}


def declared_search_query(env) -> SearchQuery | None:
    """`env.search_query` when the env's family declares a search tool (overrides the
    `TextEnv` default), else None: search metrics are logged only for such families."""
    from earlyexp.envs.core import TextEnv

    declared = getattr(type(env), "search_query", TextEnv.search_query)
    return env.search_query if declared is not TextEnv.search_query else None


def episode_queries(episode: Episode, search_query: SearchQuery) -> list[str]:
    """The canonical queries of an episode's search actions, in order (empty ones dropped)."""
    queries = (search_query(action) for action in episode)
    return [q for q in (canonical_action(q) for q in queries if q is not None) if q]


def search_calls_per_episode(episodes: Sequence[Episode], search_query: SearchQuery) -> float:
    """Mean number of search actions per episode (0.0 for no episodes)."""
    return _mean([len(episode_queries(e, search_query)) for e in episodes])


def unique_query_ratio(group: Group, search_query: SearchQuery) -> float:
    """|distinct queries| / |search calls| over a group's episodes (0.0 without searches)."""
    queries = [q for episode in group for q in episode_queries(episode, search_query)]
    return len(set(queries)) / len(queries) if queries else 0.0


def query_overlap(query: str, question: str) -> float:
    """Fraction of the query's distinct words that occur in the question:
    |W(q) ∩ W(question)| / |W(q)|, W = lowercased \\w+ words (0.0 for a wordless query).
    1.0 is a query copied from the question; low values mean the agent searches for
    something the question does not name (a bridge entity it found)."""
    words = set(_WORD.findall(query.lower()))
    if not words:
        return 0.0
    return len(words & set(_WORD.findall(question.lower()))) / len(words)


def answer_after_search_rate(episodes: Sequence[Episode], search_query: SearchQuery,
                             ended: Sequence[bool] | None = None) -> float:
    """Fraction of episodes that searched at least once and whose last action is not a
    search (they committed to an answer or a purchase after searching). With `ended`
    (one flag per episode: terminated by its own action, not truncated) an episode also
    has to have ended. 0.0 for no episodes."""
    if ended is not None and len(ended) != len(episodes):
        raise ValueError(f"ended needs one flag per episode: {len(ended)} flags for "
                         f"{len(episodes)} episodes")
    flags = []
    for i, episode in enumerate(episodes):
        searched = bool(episode_queries(episode, search_query))
        final = bool(len(episode)) and search_query(episode[-1]) is None
        flags.append(float(searched and final and (ended is None or bool(ended[i]))))
    return _mean(flags)


def search_metrics(groups: Sequence[Group], search_query: SearchQuery,
                   goals: Sequence[str | None] | None = None,
                   ended: Sequence[Sequence[bool]] | None = None) -> dict[str, float]:
    """Every key of `SEARCH_METRICS` for one RL iteration or evaluation.

    Per group, averaged over the groups that searched: `unique_query_ratio`,
    `query_vendi` (word 1-2-gram kernel, each query one item). Pooled over all
    queries: `query_distinct_1/2` (word n-grams within each query). Over episodes:
    `search_calls_per_episode`, `answer_after_search_rate` (`ended` parallel to
    `groups`, optional). With `goals` (the question of each group; None where unknown):
    `query_question_overlap`, averaged over every query with a known question.
    """
    groups = list(groups)
    if goals is not None and len(goals) != len(groups):
        raise ValueError(f"goals needs one question per group: {len(goals)} for "
                         f"{len(groups)} groups")
    episodes = [e for g in groups for e in g]
    per_group = [[q for e in g for q in episode_queries(e, search_query)] for g in groups]
    searched = [queries for queries in per_group if queries]
    pooled = [[q] for queries in per_group for q in queries]
    flags = None if ended is None else [f for group_flags in ended for f in group_flags]
    out = {
        "search_calls_per_episode": search_calls_per_episode(episodes, search_query),
        "unique_query_ratio": _mean([len(set(q)) / len(q) for q in searched]),
        "query_distinct_1": distinct_n(pooled, 1, unit="word"),
        "query_distinct_2": distinct_n(pooled, 2, unit="word"),
        "query_vendi": _mean([vendi_score([[q] for q in queries], unit="word")
                              for queries in searched]),
        "answer_after_search_rate": answer_after_search_rate(episodes, search_query, flags),
    }
    if goals is not None:
        overlaps = [query_overlap(q, goal) for queries, goal in zip(per_group, goals)
                    if goal for q in queries]
        out["query_question_overlap"] = _mean(overlaps)
    return out
