"""`SearchQAEnv`: Search-R1-style multi-hop question answering over a local corpus."""
from __future__ import annotations

from dataclasses import dataclass

from earlyexp.envs.core import MAX_OBSERVATION_CHARS, Outcome, Status, TextEnv
from earlyexp.envs.searchqa import data
from earlyexp.envs.searchqa import actions
from earlyexp.envs.searchqa.actions import Action, parse_action
from earlyexp.envs.searchqa.expert import expert_action
from earlyexp.envs.searchqa.metrics import best_exact_match, best_f1
from earlyexp.envs.searchqa.records import SPLITS, Question
from earlyexp.envs.searchqa.suggest import suggested_actions
from earlyexp.errors import ConfigError, UnknownTaskError


#: Room for "Doc i (Title: ...)" around each passage of a search result.
_DOC_HEADER_CHARS = 300


@dataclass(frozen=True)
class _EpisodeState:
    """Everything an episode changes; immutable, so one snapshot restores any number of times."""

    queries: tuple[str, ...] = ()
    retrieved: tuple[str, ...] = ()  # passage ids in the order they first came back
    answer: str | None = None
    f1: float = 0.0
    exact: bool = False


class SearchQAEnv(TextEnv):
    """Answer a question by searching a local encyclopedia, then answering.

    ## Description
    Search-R1-style multi-hop question answering. The corpus is either
    generated (at least 20,000 encyclopedia passages about invented people,
    cities, countries, organisations and works, so answers need the corpus,
    never world knowledge) or any user corpus in JSONL with a QA file (see the
    family README for the format). Questions are 1-, 2- and 3-hop, bridge and
    comparison. Search is BM25 (`bm25s`) over "title. text"; the index is built
    once and cached under `$EARLYEXP_CACHE/searchqa/`.

    ## Action Space
    Free text holding exactly one `<search>query</search>` or
    `<answer>text</answer>` block, optionally preceded by `<think>...</think>`
    blocks. Anything else, an empty block, or a search beyond the budget is
    an invalid action (`valid_action=False`) and the episode goes on.

    ## Observation Space
    Text. After `reset`: the instructions, the search budget and the question.
    After a search: the top-k passages as `Doc i (Title: ...) text` inside
    `<information>...</information>` and the searches left. After an answer:
    the answer and its exact match and F1.

    ## Starting State
    The question of the task id; nothing searched yet. Nothing in an episode
    is random, so the seed does not change it.

    ## Reward
    0 for a search; F1 of the answer against the gold answers (SQuAD
    normalisation, best over the answers) when answering.

    ## Episode End
    Terminated by an answer; truncated after `max_steps` steps.

    ## Information
    The contract's keys: `success` is exact match of the answer, `score` its
    F1 (0 before answering), `admissible_actions` a menu of suggested actions
    (any well-formed action is allowed; the menu is what uniform branching and
    the `rank` action mode draw from: searches for the question, the names in
    it and the retrieved titles, answers from the names and years retrieved,
    always including the expert's action; empty once answered),
    `expert_action` the next action of the expert (one search per hop of the
    question's plan, then the gold answer; None once answered). Also
    `searches_used`, `searches_left`, `hops` (passages the question needs) and
    `question_kind` (e.g. "2-hop comparison").

    ## Arguments
    corpus_path, qa_path: a user corpus and QA file (JSONL); both or neither.
        When given, the generation arguments are ignored.
    num_passages: passages of the generated corpus.
    num_train, num_test, num_ood: generated questions per split.
    data_seed: seed of the generated corpus and questions.
    top_k: passages returned per search.
    max_searches: searches allowed per episode.
    max_passage_chars: longer passages are cut to this length in observations.
    max_steps, split, render_mode: as in `TextEnv`.

    ## Version History
    v0: initial version.
    """

    name = "searchqa"

    def __init__(self, corpus_path: str | None = None, qa_path: str | None = None,
                 num_passages: int = 20_000, num_train: int = 2_000, num_test: int = 500,
                 num_ood: int = 500, data_seed: int = 0, top_k: int = 3, max_searches: int = 4,
                 max_passage_chars: int = 1_000, max_steps: int = 10, **kwargs):
        super().__init__(max_steps=max_steps, **kwargs)
        _check_positive(top_k=top_k, max_searches=max_searches, max_passage_chars=max_passage_chars)
        if top_k * (max_passage_chars + _DOC_HEADER_CHARS) > MAX_OBSERVATION_CHARS // 2:
            raise ConfigError("top_k", top_k, f"top_k x max_passage_chars ({max_passage_chars}) "
                              "must keep a search result well under the 1 MiB observation limit; "
                              "lower one of them")
        self.top_k, self.max_searches = top_k, max_searches
        self.max_passage_chars = max_passage_chars
        self.bundle = self._load_bundle(corpus_path, qa_path, num_passages, num_train, num_test,
                                        num_ood, data_seed)
        self.splits = tuple(split for split in SPLITS if self.bundle.questions[split])
        if self.default_split not in self.splits:
            raise ConfigError("split", self.default_split, f"the data has the splits {self.splits}")
        self._question: Question | None = None
        self._state = _EpisodeState()

    @staticmethod
    def _load_bundle(corpus_path, qa_path, num_passages, num_train, num_test, num_ood, data_seed):
        if (corpus_path is None) != (qa_path is None):
            missing = "qa_path" if qa_path is None else "corpus_path"
            raise ConfigError(missing, None, "a user corpus needs both corpus_path and qa_path; "
                              "give both, or neither to use the generated data")
        if corpus_path is not None:
            return data.user_bundle(corpus_path, qa_path)
        _check_positive(num_passages=num_passages, num_train=num_train, num_test=num_test,
                        num_ood=num_ood)
        if num_passages < 200:
            raise ConfigError("num_passages", num_passages, "the generated world needs at least "
                              "200 passages to write multi-hop questions; raise it")
        params = data.GenerationParams(num_passages, num_train, num_test, num_ood, data_seed)
        try:
            return data.generated_bundle(params)
        except ValueError as error:  # the world is too small for the questions asked of it
            raise ConfigError("num_passages", num_passages, str(error)) from error

    # ------------------------------------------------------------ hooks
    def tasks(self, split: str) -> list[str]:
        self._check_split(split)
        return [question.id for question in self.bundle.questions[split]]

    def _load_task(self, task_id: str, seed: int) -> str:
        question = self.bundle.by_task.get(task_id)
        if question is None:
            raise UnknownTaskError(self.name, task_id, self.bundle.by_task)
        self._question, self._state = question, _EpisodeState()
        # Short, and the question last, right before the agent acts: every prompt of an
        # episode shows it (a small model's context is a few hundred tokens).
        passages = "the best passage" if self.top_k == 1 else f"the {self.top_k} best passages"
        return (
            f"Search an encyclopedia with <search> query </search> (at most {self.max_searches} "
            f"times; each search shows {passages}), then answer with <answer> name, year or "
            "word </answer>, which ends the episode.\n"
            f"Question: {question.question}"
        )

    def _act(self, action: str) -> Outcome:
        parsed = parse_action(action)
        if isinstance(parsed, str):
            return Outcome(parsed, valid_action=False)
        if parsed.kind == "answer":
            return self._answer(parsed)
        return self._search(parsed)

    def _status(self) -> Status:
        question, state = self._require_question(), self._state
        used = len(state.queries)
        if state.answer is not None:
            expert, menu = None, []
        else:
            expert = expert_action(question, state.retrieved, state.queries,
                                   self.max_searches - used)
            latest_first = [self.bundle.by_passage[i] for i in reversed(state.retrieved)]
            menu = suggested_actions(question, state.queries, latest_first, expert)
            if used >= self.max_searches:
                menu = [action for action in menu if not action.startswith("<search>")]
        return Status(
            goal=question.question,
            success=state.exact,
            score=state.f1,
            admissible_actions=menu,
            expert_action=expert,
            extra={"searches_used": used, "searches_left": self.max_searches - used,
                   "hops": len(question.hops), "question_kind": question.kind},
        )

    def search_query(self, action: str) -> str | None:
        return actions.search_query(action)

    def action_template(self, action: str) -> str:
        return actions.action_template(action)

    def _native_snapshot(self) -> tuple[Question, _EpisodeState]:
        return self._require_question(), self._state

    def _native_restore(self, state: tuple[Question, _EpisodeState]) -> None:
        self._question, self._state = state

    # ------------------------------------------------------------ actions
    def _search(self, action: Action) -> Outcome:
        state = self._state
        if len(state.queries) >= self.max_searches:
            return Outcome(f"Invalid action: the search budget is spent ({self.max_searches} of "
                           f"{self.max_searches} searches used). Answer with <answer>...</answer>.",
                           valid_action=False)
        hits = [self.bundle.passages[i] for i in self.bundle.index.search(action.text, self.top_k)]
        new = tuple(p.id for p in hits if p.id not in state.retrieved)
        self._state = _EpisodeState(state.queries + (action.text,), state.retrieved + new)
        lines = [f"Doc {rank} (Title: {p.title}) {self._cut(p.text)}"
                 for rank, p in enumerate(hits, 1)]
        body = "\n".join(lines) or "No passage matches the query."
        left = self.max_searches - len(self._state.queries)
        return Outcome(f"<information>\n{body}\n</information>\nSearches left: {left}.")

    def _answer(self, action: Action) -> Outcome:
        answers = self._require_question().answers
        f1, exact = best_f1(action.text, answers), best_exact_match(action.text, answers)
        state = self._state
        self._state = _EpisodeState(state.queries, state.retrieved, action.text, f1, exact)
        verdict = "yes" if exact else "no"
        return Outcome(f"You answered: {self._cut(action.text)}\nThe episode is over. Exact match: {verdict}; "
                       f"F1: {f1:.2f}.", reward=f1, terminated=True)

    def _cut(self, text: str) -> str:
        if len(text) <= self.max_passage_chars:
            return text
        return text[: self.max_passage_chars].rstrip() + " ..."

    def _require_question(self) -> Question:
        if self._question is None:
            raise RuntimeError("no task is loaded; call reset() first")
        return self._question


def _check_positive(**values: int) -> None:
    for key, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(key, value, "must be a positive integer")
