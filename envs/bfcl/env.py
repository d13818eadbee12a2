"""`BfclEnv`: BFCL multi-turn function calling on the real data and backends of `bfcl-eval`."""
from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from earlyexp.envs.bfcl.backend import (
    CallRejected,
    Toolbox,
    build_instances,
    describe,
    function_docs,
)
from earlyexp.envs.bfcl.calls import USAGE, parse_action
from earlyexp.envs.bfcl.checker import TurnVerdict, check_turn, reference
from earlyexp.envs.bfcl.data import (
    CATEGORIES,
    BfclTask,
    base_splits,
    load_category,
    load_task,
    ood_ids,
)
from earlyexp.envs.bfcl.expert import GroundTruthExpert
from earlyexp.envs.bfcl.proposals import propose
from earlyexp.envs.core import Outcome, Status, TextEnv
from earlyexp.envs.toolcalls import ToolCall, ToolCallError

from earlyexp.errors import ConfigError, UnknownTaskError

#: Longer call results are cut in the observation (the checker always sees them whole).
MAX_RESULT_CHARS = 16_000
#: An action may hold hundreds of calls; their joint observation is cut here.
MAX_OBSERVATION_CHARS = 100_000
#: bfcl-eval's user message for a turn that only adds the held-out functions (miss_func).
NEW_FUNCTIONS_MESSAGE = "I have updated some more functions you can choose from. What about now?"


class BfclEnv(TextEnv):
    """Serve a user's multi-turn requests by calling BFCL's executable backend functions.

    Description:
        A task of BFCL v4's multi-turn categories: 1 to 8 user requests, one per
        turn, served with the functions of one to three backends (file system,
        messaging, posting, ticketing, trading, travel booking, vehicle control,
        math) whose state starts from the task's initial configuration.
    Action Space:
        Free text. Either one or more Python-syntax calls with literal arguments,
        e.g. `cd(folder='document')` or `[mkdir(dir_name='temp'), cd(folder='temp')]`
        (parsed with `ast`, never evaluated), or `end_turn` to hand the turn back to
        the user. Every call must name a function of the task's backends and bind
        to its signature, else nothing runs and `valid_action` is False. A call
        that raises inside the backend returns `Error during execution: ...` as
        its result (as in BFCL) and makes `valid_action` False. A `miss_func`
        function is listed only from its turn on, but, as in BFCL's executor,
        calling it earlier is not refused.
    Observation Space:
        At a turn's start, the user's request (plus the newly available functions
        for `miss_func`'s held-out turn); after calls, one line `call -> result`
        per call, each result cut at 16,000 characters; after a failed turn, why it failed.
    Starting State:
        Fresh backend instances loaded with the task's `initial_config`; turn 1.
    Reward:
        1.0 on the `end_turn` that completes the last turn with every turn passing
        BFCL's checker (see `checker.py`), else 0.0. BFCL's verdict is all or nothing.
        A turn whose ground truth is empty (the request cannot be served) passes
        whatever was called in it, as in bfcl-eval's official scoring; with
        `strict_irrelevance=True` any call in it fails the turn.
    Episode End:
        Terminated after the last turn passes or at the first failed turn (BFCL
        fails the task there); truncated after `max_steps` actions.
    Information:
        The contract's keys; `score` is the fraction of turns passed, `success`
        is all turns passed, `admissible_actions` is None (open action space),
        `expert_action` is the next ground-truth call or `end_turn`. Extra keys:
        `turn` (0-based index of the current turn), `num_turns`, `user_request`
        (the current turn's request), `failed_check` ("" or the check that failed:
        "state", "response", "empty_turn", or "irrelevance" with `strict_irrelevance`).
    Arguments:
        split_seed: seed of the stratified train/test split of the `base` tasks.
        test_fraction: share of each stratum of `base` that goes to `test`.
        limit: keep this many evenly spaced tasks per split (None keeps all).
        strict_irrelevance: fail a turn with empty ground truth when a call was made in
            it (bfcl-eval's `multi_turn_irrelevance_checker`, which its official
            scoring never calls); False (the default) scores as the leaderboard does.
        max_steps: truncation limit in actions; split: default split of `reset()`.
    Version History:
        v0: bfcl-eval 2026.3.23 data (BFCL v4 multi-turn).
    """

    def __init__(self, split_seed: int = 0, test_fraction: float = 0.25, limit: int | None = None,
                 strict_irrelevance: bool = False, max_steps: int = 80, **kwargs: Any):
        super().__init__(max_steps=max_steps, **kwargs)
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be a positive number of tasks or None, got {limit}")
        if not isinstance(strict_irrelevance, bool):
            raise ConfigError("strict_irrelevance", strict_irrelevance,
                              "must be true or false (false scores as bfcl-eval's leaderboard).")
        self.split_seed, self.test_fraction, self.limit = split_seed, test_fraction, limit
        self.strict_irrelevance = strict_irrelevance
        base_splits(split_seed, test_fraction)  # fail fast on a bad fraction, warm the cache
        self._task: BfclTask | None = None
        self._toolbox: Toolbox | None = None
        self._instances: dict[str, Any] = {}
        self._expert = GroundTruthExpert(())
        self._turn = self._passed = 0
        self._made_call = False
        self._results: list[str] = []
        self._verdict: TurnVerdict | None = None

    # ------------------------------------------------------------ tasks
    def tasks(self, split: str) -> list[str]:
        self._check_split(split)
        ids = ood_ids() if split == "ood" else base_splits(self.split_seed, self.test_fraction)[split]
        if self.limit is None or self.limit >= len(ids):
            return list(ids)
        # Evenly spaced, so a small sample still covers every backend and ood category.
        return [ids[i * len(ids) // self.limit] for i in range(self.limit)]

    def _load_task(self, task_id: str, seed: int) -> str:
        # No randomness beyond the backends' own seeded generators: `seed` changes nothing.
        try:
            task = load_task(task_id)
        except KeyError:
            known = [tid for category in CATEGORIES for tid in load_category(category)]
            raise UnknownTaskError(self.name, task_id, known) from None
        self._task, self._toolbox = task, Toolbox(task)
        self._instances = build_instances(task)
        self._expert = GroundTruthExpert(task.ground_truth)
        self._passed, self._results, self._verdict = 0, [], None
        return self._start_turn(0)

    # ------------------------------------------------------------ steps
    def _act(self, action: str) -> Outcome:
        try:
            calls = parse_action(action)
        except ToolCallError as error:
            return Outcome(f"Invalid action: {error.reason} {USAGE}", valid_action=False)
        if calls is None:
            return self._end_turn()
        # BFCL counts every decoded call for its empty-turn (and irrelevance) checks, run or not.
        self._made_call = True
        try:
            bound = [self._toolbox.canonical(self._instances, call) for call in calls]
        except CallRejected as error:
            return Outcome(f"Invalid action, nothing was run: {error}", valid_action=False)
        return self._run_calls(calls, bound)

    def _run_calls(self, calls: list[ToolCall], bound: list[dict[str, Any]]) -> Outcome:
        lines, raised_any = [], False
        for call, arguments in zip(calls, bound):
            result, raised = self._toolbox.execute(self._instances, call)
            self._results.append(result)
            self._expert.observe(self._toolbox, self._instances, call, arguments)
            raised_any |= raised
            lines.append(f"{call.source} -> {_cut(result, MAX_RESULT_CHARS)}")
        return Outcome(_cut("\n".join(lines), MAX_OBSERVATION_CHARS), valid_action=not raised_any)

    def _end_turn(self) -> Outcome:
        expected = reference(self._task.task_id)[self._turn]
        self._verdict = check_turn(expected, self._instances, self._made_call, self._results,
                                   strict_irrelevance=self.strict_irrelevance)
        number = f"Request {self._turn + 1} of {self._task.num_turns}"
        if not self._verdict.passed:
            return Outcome(f"{number} was not fulfilled ({self._verdict.check} check: "
                           f"{self._verdict.detail}). The episode is over.", terminated=True)
        self._passed += 1
        if self._turn + 1 == self._task.num_turns:
            self._turn += 1
            return Outcome(f"{number} fulfilled. All requests are done.", 1.0, terminated=True)
        return Outcome(self._start_turn(self._turn + 1))

    def _start_turn(self, turn: int) -> str:
        self._turn, self._made_call = turn, False
        self._expert.start_turn(turn)
        parts = []
        revealed = self._task.missed_functions.get(turn, ())
        if revealed:
            parts.append("New functions are now available:")
            parts += [f"  {describe(self._toolbox.docs[name])}" for name in revealed]
        parts.append(f"User (request {turn + 1} of {self._task.num_turns}): {self._request(turn)}")
        return "\n".join(parts)

    def _request(self, turn: int) -> str:
        return self._task.user_turns[turn] or NEW_FUNCTIONS_MESSAGE

    # ------------------------------------------------------------ status
    def _status(self) -> Status:
        task = self._task
        failed = self._verdict is not None and not self._verdict.passed
        finished = failed or self._turn >= task.num_turns
        current = min(self._turn, task.num_turns - 1)
        return Status(
            goal=goal_text(task.task_id),
            success=self._passed == task.num_turns,
            score=self._passed / task.num_turns,
            admissible_actions=None,
            expert_action=None if finished else self._expert.next_action(),
            extra={
                "turn": current, "num_turns": task.num_turns,
                "user_request": self._request(current),
                "failed_check": self._verdict.check if self._verdict else "",
            },
        )

    # ------------------------------------------------------------ snapshots
    def propose_actions(self, n: int, rng) -> list[str]:
        """Branching alternatives built from the task's function docs and state (proposals.py)."""
        request = self._request(min(self._turn, self._task.num_turns - 1))
        return propose(self._toolbox.docs, self._instances, request, self._expert.next_action(),
                       n, rng)

    def _native_snapshot(self) -> Any:
        # The task and its reference are immutable and shared; only the instances are copied.
        return (self._task, copy.deepcopy(self._instances), self._expert.state(), self._turn,
                self._passed, self._made_call, tuple(self._results), self._verdict)

    def _native_restore(self, state: Any) -> None:
        task, instances, expert, turn, passed, made_call, results, verdict = state
        if task is not self._task:  # restoring across a reset to another task
            self._task = task
            self._toolbox = Toolbox(task)
            self._expert = GroundTruthExpert(task.ground_truth)
        self._instances = copy.deepcopy(instances)  # the snapshot stays reusable
        self._expert.set_state(expert)
        self._turn, self._passed, self._made_call = turn, passed, made_call
        self._results, self._verdict = list(results), verdict


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]} ... [{len(text) - limit} more characters]"


@lru_cache(maxsize=1024)
def goal_text(task_id: str) -> str:
    """The instruction of a task: how to act, and the functions available from its first turn."""
    task = load_task(task_id)
    later = {name for turn, names in task.missed_functions.items() if turn > 0 for name in names}
    docs = [doc for cls in task.involved_classes for doc in function_docs(cls) if doc["name"] not in later]
    instruction = (
        f"Serve the user's {task.num_turns} requests, one turn at a time, by calling functions of "
        f"{', '.join(task.involved_classes)}. Write Python calls with literal arguments, e.g. "
        "cd(folder='document') or [f(a=1), g(b='x')]; say end_turn when the current request is "
        "done. Make no call for a request that the functions or the information given cannot "
        "serve. Functions:"
    )
    return "\n".join([instruction] + [f"  {describe(doc)}" for doc in docs])
