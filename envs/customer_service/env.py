"""`CustomerServiceEnv`: τ-bench-style retail support over a generated SQLite shop."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from earlyexp.envs.core import Outcome, Status, TextEnv
from earlyexp.envs.customer_service.calls import RESPOND, USAGE, Call, bind
from earlyexp.envs.customer_service.data import SPLITS, Task, TaskSetSpec, load_task_set
from earlyexp.envs.customer_service.database import copy_database, load_world, state_digest
from earlyexp.envs.customer_service.expert import (
    ANYTHING_ELSE,
    ASK_IDENTITY,
    SLOT_QUESTIONS,
    Episode,
    expert_action,
    respond,
)
from earlyexp.envs.customer_service.policy import GOAL, POLICY, tool_manual
from earlyexp.envs.customer_service.reward import (
    TOOL_FAILURES,
    GoldState,
    Verdict,
    gold_state,
    outputs_found,
)
from earlyexp.envs.customer_service.tools import TOOLS, Tool
from earlyexp.envs.customer_service.user import (
    LLMUser,
    ScriptedUser,
    asks_confirmation,
    is_affirmative,
)
from earlyexp.envs.toolcalls import ToolCallError, parse_call

from earlyexp.errors import ConfigError, UnknownTaskError, closest

#: kind of id -> pattern that finds it in tool results and user replies (for admissible actions)
ID_PATTERNS = {
    "order": re.compile(r"#W\d{7}"),
    "user": re.compile(r"\b[a-z]+_[a-z]+_\d{4}\b"),
    "product": re.compile(r'"product_id": "(\d{10})"'),
    "email": re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+\w"),
}
REFUSAL = "I'm sorry, but our policy does not allow that."
TRANSFER = Call(
    "transfer_to_human_agents",
    {"summary": "The customer needs help that I cannot give with my tools."},
).source()
ENDED = "\n(The conversation has ended.)"


class CustomerServiceEnv(TextEnv):
    """Serve a retail customer through tools over a SQLite database, following a written policy.

    Description:
        τ-bench-style retail support. The shop is a real in-memory SQLite
        database (users, addresses, payment methods, products with variants,
        orders with items, payments and return/exchange requests) generated
        from a seed. A scripted customer with a hidden intent (one or two
        requests: cancel, modify items, modify payment, return, exchange,
        address change, information lookup, or something the policy forbids)
        reveals it slot by slot when asked. The agent must verify identity,
        look things up, confirm before writing and refuse what the policy forbids.
    Action Space:
        Free text: exactly one Python-syntax call with literal arguments, parsed
        with `ast` (never evaluated): a tool call such as
        `get_order_details(order_id='#W1234567')`, or `respond(message='...')` to
        talk to the customer. A call that does not parse, names no tool, binds
        badly to its parameters, or that the tool refuses (unknown id, order in
        the wrong status, unavailable variant, ...) has `valid_action=False`.
    Observation Space:
        At reset, the policy, the tool manual and the customer's first line.
        After `respond`, `User: <reply>`; after a tool, `<tool> -> <result>`
        (JSON for lookups and writes) or `<tool> -> Error: <why>`.
    Starting State:
        A fresh copy of the shop database; the customer's opening line.
    Reward:
        τ-bench's: on the step that ends the conversation, 1.0 if the database
        equals the one produced by replaying the task's gold calls on a fresh
        copy and every required output string is in the agent's messages; else 0.0.
    Episode End:
        Terminated when the customer says `###STOP###` (after "anything else?"
        with nothing left to ask) or the agent calls `transfer_to_human_agents`;
        truncated after `max_steps` actions.
    Information:
        The contract's keys. `score` is the mean of the database match (0/1) and
        the share of required outputs said, on the current state; `success` is
        reward 1 at the end. `admissible_actions` is a closed candidate list
        (respond templates, lookups and cancellations of ids seen so far, a
        transfer, and the expert action); any other call is accepted too.
        `expert_action` follows the gold calls and the policy (None with the LLM
        user). Extra keys: `policy_violations` (writes made before identity
        verification, on another user's data, or without confirmation) and
        `request_index` (the customer's request being served).
    Arguments:
        seed, num_users, num_train, num_test, num_ood, ood_templates,
        second_request_rate: the generated data (see `data.TaskSetSpec`).
        user: "scripted" or "llm"; user_policy: any object with `Policy.generate`
        (for "llm"); user_temperature: its sampling temperature.
        max_steps: truncation limit; split: default split of `reset()`.
    Version History:
        v0: initial release.
    """

    splits = SPLITS

    def __init__(
        self,
        seed: int = 0,
        num_users: int = 300,
        num_train: int = 300,
        num_test: int = 100,
        num_ood: int = 100,
        ood_templates: tuple[str, ...] | list[str] = ("exchange", "modify_payment"),
        second_request_rate: float = 0.25,
        user: str = "scripted",
        user_policy: Any = None,
        user_temperature: float = 0.0,
        max_steps: int = 40,
        **kwargs: Any,
    ):
        super().__init__(max_steps=max_steps, **kwargs)
        if user not in ("scripted", "llm") or (user == "llm" and user_policy is None):
            raise ConfigError(
                "user",
                user,
                "must be 'scripted', or 'llm' together with a "
                "user_policy that has a generate() method.",
            )
        self.user_kind = user
        self.user_policy = user_policy
        self.user_temperature = user_temperature
        self.data_spec = TaskSetSpec(
            seed, num_users, num_train, num_test, num_ood, tuple(ood_templates), second_request_rate
        )
        world, self._splits = load_task_set(self.data_spec)
        self._tasks = {t.task_id: t for tasks in self._splits.values() for t in tasks}
        self._base = load_world(world)
        self._base_digest = state_digest(self._base)
        self._gold: dict[str, GoldState] = {}
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._task: Task | None = None
        self._user: ScriptedUser | LLMUser | None = None
        self._episode = Episode()
        self._digest = self._base_digest

    # ------------------------------------------------------------ hooks
    def tasks(self, split: str) -> list[str]:
        self._check_split(split)
        return [task.task_id for task in self._splits[split]]

    def _load_task(self, task_id: str, seed: int) -> str:
        if task_id not in self._tasks:
            raise UnknownTaskError(self.name, task_id, self._tasks)
        self._task = self._tasks[task_id]
        copy_database(self._base, self._db)
        self._digest = self._base_digest
        self._user = self._make_user(self._task)
        self._episode = Episode()
        opening = self._user.opening()
        return f"{POLICY}\n{tool_manual()}\n\nUser: {opening}"

    def _act(self, action: str) -> Outcome:
        try:
            parsed = parse_call(action)
        except ToolCallError as error:
            return Outcome(f"Invalid action: {error.reason} {USAGE}", valid_action=False)
        try:
            if parsed.name == RESPOND:
                return self._respond(bind(parsed, (("message", str),)).kwargs["message"])
            if parsed.name not in TOOLS:
                raise ToolCallError(
                    f"there is no tool {parsed.name!r}.{closest(parsed.name, [*TOOLS, RESPOND])} "
                    f"The tools are: respond, {', '.join(TOOLS)}."
                )
            tool = TOOLS[parsed.name]
            return self._run_tool(tool, bind(parsed, tool.params))
        except ToolCallError as error:
            return Outcome(f"Invalid action: {error.reason}", valid_action=False)

    def _status(self) -> Status:
        verdict = self._verdict()
        expert = (
            expert_action(self._task, self._user, self._episode)
            if isinstance(self._user, ScriptedUser)
            else None
        )
        return Status(
            goal=GOAL,
            success=self._episode.ended and verdict.reward == 1.0,
            score=verdict.score,
            admissible_actions=self._admissible(expert),
            expert_action=expert,
            extra={
                "policy_violations": list(self._episode.violations),
                "request_index": self._user.index,
            },
        )

    def _native_snapshot(self) -> Any:
        return (
            self._task.task_id,
            copy_database(self._db),
            self._user.get_state(),
            self._episode.copy(),
            self._digest,
        )

    def _native_restore(self, state: Any) -> None:
        task_id, db, user_state, episode, digest = state
        self._task = self._tasks[task_id]
        copy_database(db, self._db)
        self._user = self._make_user(self._task)
        self._user.set_state(user_state)
        self._episode, self._digest = episode.copy(), digest  # the snapshot stays reusable

    def close(self) -> None:
        self._db.close()
        self._base.close()
        super().close()

    # ------------------------------------------------------------ steps
    def _respond(self, message: str) -> Outcome:
        if not message.strip():
            return Outcome("Invalid action: the message is empty.", valid_action=False)
        self._episode.messages.append(message)
        reply = self._user.reply(message)
        # A yes to a message that asked for confirmation licenses the next write.
        self._episode.confirmed = asks_confirmation(message) and is_affirmative(reply)
        self._learn_ids(reply)
        if self._user.stopped:
            return self._finish(f"User: {reply}")
        return Outcome(f"User: {reply}")

    def _run_tool(self, tool: Tool, call: Call) -> Outcome:
        violations = self._policy_violations(call) if tool.writes else []
        try:
            result = tool.run(self._db, **call.kwargs)
        except TOOL_FAILURES as error:
            return Outcome(f"{tool.name} -> Error: {error}", valid_action=False)
        episode = self._episode
        episode.done_calls.add(call.source())
        if tool.name.startswith("find_user_id"):
            episode.authenticated = result
        if tool.writes:
            episode.writes.append(call.source())
            episode.violations.extend(violations)
            episode.confirmed = False  # one confirmation covers one action
            self._digest = state_digest(self._db)
        self._learn_ids(result)
        observation = f"{tool.name} -> {result}"
        if tool.name == "transfer_to_human_agents":
            return self._finish(observation)
        return Outcome(observation)

    def _finish(self, observation: str) -> Outcome:
        self._episode.ended = True
        return Outcome(observation + ENDED, reward=self._verdict().reward, terminated=True)

    def _policy_violations(self, call: Call) -> list[str]:
        """The policy rules a write breaks (recorded, not blocked, as in τ-bench)."""
        who, found = self._episode.authenticated, []
        if who is None:
            found.append(f"{call.name} before the user's identity was verified")
        owner = call.kwargs.get("user_id")
        if "order_id" in call.kwargs:
            row = self._db.execute(
                "SELECT user_id FROM orders WHERE order_id = ?", (call.kwargs["order_id"],)
            ).fetchone()
            owner = row[0] if row else None
        if who is not None and owner is not None and owner != who:
            found.append(f"{call.name} on data of another user ({owner})")
        if not self._episode.confirmed:
            found.append(f"{call.name} without the user's explicit confirmation")
        return found

    # ------------------------------------------------------------ state
    def _verdict(self) -> Verdict:
        task = self._task
        if task.task_id not in self._gold:
            self._gold[task.task_id] = gold_state(self._base, task.gold_calls())
        gold = self._gold[task.task_id]
        outputs = [o for request in task.requests for o in request.outputs]
        return Verdict(
            self._digest == gold.digest,
            tuple(outputs_found(outputs, self._episode.messages)),
            gold.errors,
        )

    def _make_user(self, task: Task) -> ScriptedUser | LLMUser:
        if self.user_kind == "llm":
            return LLMUser(task, self.user_policy, temperature=self.user_temperature)
        return ScriptedUser(task)

    def _learn_ids(self, text: str) -> None:
        for kind, pattern in ID_PATTERNS.items():
            self._episode.known.setdefault(kind, set()).update(pattern.findall(text))

    def _admissible(self, expert: str | None) -> list[str]:
        known = {kind: sorted(ids) for kind, ids in self._episode.known.items()}
        actions = [
            respond(ASK_IDENTITY),
            *(respond(q) for q in SLOT_QUESTIONS.values()),
            respond("Do you confirm (yes/no)?"),
            respond(ANYTHING_ELSE),
            respond(REFUSAL),
        ]
        actions += [
            Call("find_user_id_by_email", {"email": e}).source() for e in known.get("email", [])
        ]
        actions += [
            Call("get_user_details", {"user_id": u}).source() for u in known.get("user", [])
        ]
        for order_id in known.get("order", []):
            actions.append(Call("get_order_details", {"order_id": order_id}).source())
            actions.append(
                Call(
                    "cancel_pending_order", {"order_id": order_id, "reason": "no longer needed"}
                ).source()
            )
        actions += [
            Call("get_product_details", {"product_id": p}).source()
            for p in known.get("product", [])
        ]
        actions.append(TRANSFER)
        if expert is not None and expert not in actions:
            actions.append(expert)
        return actions
