"""User simulators: the customer on the other side of `respond(...)`.

`ScriptedUser` holds the task's hidden intent and reveals it slot by slot,
only when the agent's message asks for it, deterministically: the same
conversation always gets the same replies. It reads the agent's message by
keywords, in this order of precedence:

1. "anything else"       -> the current request is over: open the next one, or stop;
2. a confirmation request -> "Yes, please go ahead." (see `asks_confirmation`);
3. questions              -> the answers to every slot the message asks about
                             (identity, order id, items, options, payment, address, reason);
4. anything else          -> say the request again.

`LLMUser` plays the same intent with any object that has the `Policy`
`generate(prompts, n, temperature, max_new_tokens)` method.

A user ends the conversation by saying `STOP_TOKEN`, as in τ-bench.
"""

from __future__ import annotations

from typing import Any

from earlyexp.envs.customer_service.templates import Request

STOP_TOKEN = "###STOP###"
ANYTHING_ELSE = ("anything else",)
CONFIRM_WORDS = ("confirm", "yes or no", "(yes/no)", "shall i proceed", "should i proceed")
#: slot -> words in the agent's message that ask for it
SLOT_TRIGGERS = {
    "identity": ("email", "name", "zip"),
    "order": ("order id", "order number", "which order"),
    "items": ("item", "which product"),
    "options": ("option", "variant", "instead"),
    "payment": ("payment", "refund", "pay with", "card"),
    "address": ("address",),
    "reason": ("reason", "why"),
}


def asks_confirmation(message: str) -> bool:
    """Whether an agent message asks the user to confirm an action."""
    text = message.lower()
    return any(word in text for word in CONFIRM_WORDS)


def is_affirmative(reply: str) -> bool:
    return reply.strip().lower().startswith(("yes", "sure", "ok", "confirm"))


class ScriptedUser:
    """A deterministic customer that reveals the task's intent slot by slot."""

    def __init__(self, task):
        self.task = task
        self.index = 0  # the request being served
        self.revealed: set[str] = set()  # "identity" and "<request index>:<slot>"
        self.stopped = False

    # ---------------------------------------------------------------- dialogue
    def opening(self) -> str:
        return self.task.requests[0].opening

    @property
    def request(self) -> Request:
        return self.task.requests[min(self.index, len(self.task.requests) - 1)]

    def reply(self, message: str) -> str:
        text = message.lower()
        if any(word in text for word in ANYTHING_ELSE):
            return self._next_request()
        if asks_confirmation(text):
            return "Yes, please go ahead."
        asked = [slot for slot, words in SLOT_TRIGGERS.items() if any(w in text for w in words)]
        answers = [self._answer(slot, text) for slot in asked]
        answers = [a for a in answers if a]
        if answers:
            return " ".join(answers)
        if asked:
            return f"That is not needed for what I want. {self.request.opening}"
        return f"Sorry, I'm not sure what you mean. {self.request.opening}"

    def is_revealed(self, slot: str) -> bool:
        """Whether the user has told the agent `slot` (of the current request, or identity)."""
        key = slot if slot == "identity" else f"{self.index}:{slot}"
        return key in self.revealed

    # ---------------------------------------------------------------- snapshots
    def get_state(self) -> Any:
        return self.index, frozenset(self.revealed), self.stopped

    def set_state(self, state: Any) -> None:
        self.index, revealed, self.stopped = state
        self.revealed = set(revealed)

    # ---------------------------------------------------------------- internals
    def _next_request(self) -> str:
        self.index += 1
        if self.index < len(self.task.requests):
            return f"Yes, one more thing. {self.request.opening}"
        self.stopped = True
        return f"No, that's all. Thank you! {STOP_TOKEN}"

    def _answer(self, slot: str, text: str) -> str:
        if slot == "identity":
            self.revealed.add("identity")
            return self._identity("email" in text)
        if slot not in self.request.slots:
            return ""
        self.revealed.add(f"{self.index}:{slot}")
        return self.request.slots[slot]

    def _identity(self, asked_email: bool) -> str:
        who = self.task.identity
        name_zip = (
            f"My name is {who['first_name']} {who['last_name']} and my zip code is {who['zip']}."
        )
        if self.task.identity_mode == "email":
            return f"My email is {who['email']}." if asked_email else name_zip
        return f"I don't remember my email, sorry. {name_zip}" if asked_email else name_zip


class LLMUser:
    """A customer played by a language model (any object with the `Policy.generate` method).

    The model is prompted with the hidden intent and the conversation so far,
    and its first line is the reply. Deterministic only if the policy is
    (e.g. greedy decoding).
    """

    def __init__(self, task, policy: Any, temperature: float = 0.0, max_new_tokens: int = 64):
        if not callable(getattr(policy, "generate", None)):
            raise TypeError(
                f"user_policy must have a generate(prompts, n, temperature, "
                f"max_new_tokens) method, got {type(policy).__name__}"
            )
        self.task, self.policy = task, policy
        self.temperature, self.max_new_tokens = temperature, max_new_tokens
        self.turns: list[tuple[str, str]] = []  # (speaker, text)
        self.stopped = False
        self.index = 0

    def opening(self) -> str:
        text = self.task.requests[0].opening
        self.turns.append(("customer", text))
        return text

    def reply(self, message: str) -> str:
        self.turns.append(("agent", message))
        generation = self.policy.generate(
            [self._prompt()], n=1, temperature=self.temperature, max_new_tokens=self.max_new_tokens
        )[0][0]
        text = (getattr(generation, "text", generation) or "").strip().splitlines()
        reply = text[0].strip() if text else "Sorry, could you say that again?"
        self.stopped = STOP_TOKEN in reply
        self.turns.append(("customer", reply))
        return reply

    def get_state(self) -> Any:
        return tuple(self.turns), self.stopped, self.index

    def set_state(self, state: Any) -> None:
        turns, self.stopped, self.index = state
        self.turns = list(turns)

    def _prompt(self) -> str:
        who = self.task.identity
        wants = "\n".join(
            f"- {r.opening} Details, to give only when asked: " + " ".join(r.slots.values())
            for r in self.task.requests
        )
        remember = (
            "your email"
            if self.task.identity_mode == "email"
            else "not your email, only your name and zip code"
        )
        history = "\n".join(f"{speaker.title()}: {text}" for speaker, text in self.turns)
        return (
            f"You are {who['first_name']} {who['last_name']} (email {who['email']}, zip "
            f"{who['zip']}), a customer talking to a support agent. You remember {remember}.\n"
            f"What you want, in order:\n{wants}\nAnswer only what the agent asks, one short "
            f"line at a time. Confirm actions that match what you want. When everything is "
            f"done, write {STOP_TOKEN}.\n\n{history}\nCustomer:"
        )
