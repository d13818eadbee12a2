"""The expert: the next action that serves the task by its gold calls while keeping the policy.

The expert is a function of the current state (what the user has revealed,
who is authenticated, which calls have succeeded, whether the user just
confirmed), not a replay of a fixed script, so it gives the right next action
from any state a branch can restore. For each request in turn it

1. asks for the customer's email (a customer who forgot it gives name and zip),
2. looks their user id up with what they said,
3. asks, in one message, for every detail of the request not yet told,
4. runs the request's gold lookups not yet run,
5. describes the gold write and asks for confirmation, then runs it once confirmed,
6. closes the request (the answer, the refusal or "done") asking if there is anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from earlyexp.envs.customer_service.calls import RESPOND, Call
from earlyexp.envs.customer_service.tools import ADDRESS_FIELDS, TOOLS

ASK_IDENTITY = (
    "I'd be glad to help. First, could you please tell me your email address so I "
    "can verify your identity?"
)
ANYTHING_ELSE = "Is there anything else I can help you with?"
SLOT_QUESTIONS = {
    "order": "What is the order id?",
    "items": "Which items is this about?",
    "options": "Which options would you like instead?",
    "payment": "Which payment method should I use?",
    "address": "What is the new address?",
    "reason": "What is the reason?",
}
WRITE_PHRASES = {
    "cancel_pending_order": "cancel order {order_id} (reason: {reason})",
    "modify_pending_order_items": "change items {item_ids} of order {order_id} to {new_item_ids}, "
    "settling the price difference with {payment_method_id}",
    "modify_pending_order_payment": "pay for order {order_id} with {payment_method_id} instead",
    "modify_pending_order_address": "ship order {order_id} to {address}",
    "modify_user_address": "change your default address to {address}",
    "return_delivered_order_items": "return items {item_ids} of order {order_id}, refunding "
    "{payment_method_id}",
    "exchange_delivered_order_items": "exchange items {item_ids} of order {order_id} for "
    "{new_item_ids}, settling the price difference with "
    "{payment_method_id}",
}


@dataclass
class Episode:
    """What the conversation has established so far (besides the database and the user)."""

    authenticated: str | None = None  # user id returned by a find_* call
    done_calls: set[str] = field(default_factory=set)  # canonical sources of successful calls
    writes: list[str] = field(default_factory=list)  # successful write calls, in order
    confirmed: bool = False  # the user said yes to the last proposal
    messages: list[str] = field(default_factory=list)  # the agent's messages to the user
    violations: list[str] = field(default_factory=list)
    known: dict[str, set[str]] = field(default_factory=dict)  # ids seen: kind -> ids
    ended: bool = False

    def copy(self) -> Episode:
        return Episode(
            self.authenticated,
            set(self.done_calls),
            list(self.writes),
            self.confirmed,
            list(self.messages),
            list(self.violations),
            {kind: set(ids) for kind, ids in self.known.items()},
            self.ended,
        )


def respond(message: str) -> str:
    return Call(RESPOND, {"message": message}).source()


def source(call: dict) -> str:
    """The canonical text of a gold call (keyword arguments in signature order)."""
    order = [name for name, _ in TOOLS[call["name"]].params]
    return Call(call["name"], {p: call["kwargs"][p] for p in order}).source()


def describe_write(call: dict) -> str:
    """The write in words, for the confirmation and the closing message."""
    kwargs = dict(call["kwargs"])
    kwargs["address"] = ", ".join(kwargs[f] for f in ADDRESS_FIELDS if kwargs.get(f))
    for key in ("item_ids", "new_item_ids"):
        if key in kwargs:
            kwargs[key] = ", ".join(kwargs[key])
    return WRITE_PHRASES[call["name"]].format(**kwargs)


def expert_action(task, user, episode: Episode) -> str | None:
    """The next expert action, or None once the conversation is over."""
    if episode.ended or user.stopped:
        return None
    if not user.is_revealed("identity"):
        return respond(ASK_IDENTITY)
    if episode.authenticated != task.user_id:
        return _find_user(task)
    request = user.request
    missing = [slot for slot in request.slots if not user.is_revealed(slot)]
    if missing:
        return respond(" ".join(SLOT_QUESTIONS[slot] for slot in missing))
    for call in request.gold:
        text = source(call)
        if text in episode.done_calls:
            continue
        if not TOOLS[call["name"]].writes:
            return text
        if not episode.confirmed:
            return respond(f"I am about to {describe_write(call)}. Do you confirm (yes/no)?")
        return text
    return respond(_closing(request))


def _find_user(task) -> str:
    who = task.identity
    if task.identity_mode == "email":
        return Call("find_user_id_by_email", {"email": who["email"]}).source()
    return Call(
        "find_user_id_by_name_zip",
        {"first_name": who["first_name"], "last_name": who["last_name"], "zip": who["zip"]},
    ).source()


def _closing(request) -> str:
    if request.kind == "info_lookup":
        status, total = request.outputs
        order_id = request.subject
        return f"Order {order_id} is {status} and its total is ${float(total):.2f}. {ANYTHING_ELSE}"
    if request.kind == "refuse":
        return f"I'm sorry, but I cannot do that: {request.refusal}. {ANYTHING_ELSE}"
    writes = [c for c in request.gold if TOOLS[c["name"]].writes]
    done = "; ".join(describe_write(c) for c in writes)
    return f"Done: the request to {done} is complete. {ANYTHING_ELSE}"
