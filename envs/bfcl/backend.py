"""The executable backends of one task: BFCL's pure-Python API classes, their docs, a call executor.

Only the backend modules under
`bfcl_eval.eval_checker.multi_turn_eval.func_source_code` are imported (they
need the standard library and mpmath alone), never the rest of `bfcl-eval`.
A call reaches a backend method by `getattr` on the instance that exposes it,
with the literal arguments the shared parser (`earlyexp.envs.toolcalls`) produced, once its name is
found among the documented functions of the task's classes and its
arguments bind to the method's signature. Argument types are not checked:
BFCL executes calls whatever their types, and its own ground truth passes a
string where a schema says integer (`close_ticket(ticket_id='ticket_001')`).
"""
from __future__ import annotations

import copy
import importlib
import inspect
import json
from functools import cache
from typing import Any

from earlyexp.envs.toolcalls import ToolCall
from earlyexp.envs.bfcl.data import BfclTask, data_dir

BACKEND_PACKAGE = "bfcl_eval.eval_checker.multi_turn_eval.func_source_code"
#: class name -> (backend module, function-doc file), as bfcl-eval maps them.
BACKENDS = {
    "GorillaFileSystem": ("gorilla_file_system", "gorilla_file_system.json"),
    "MathAPI": ("math_api", "math_api.json"),
    "MessageAPI": ("message_api", "message_api.json"),
    "TwitterAPI": ("posting_api", "posting_api.json"),
    "TicketAPI": ("ticket_api", "ticket_api.json"),
    "TradingBot": ("trading_bot", "trading_bot.json"),
    "TravelAPI": ("travel_booking", "travel_booking.json"),
    "VehicleControlAPI": ("vehicle_control", "vehicle_control.json"),
}
#: Classes without a scenario to load (bfcl-eval's STATELESS_CLASSES).
STATELESS = frozenset({"MathAPI"})
ERROR_PREFIX = "Error during execution: "


class CallRejected(ValueError):
    """Raised when a parsed call does not fit the functions available in the task."""


@cache
def function_docs(class_name: str) -> tuple[dict[str, Any], ...]:
    """The function docs (JSON schemas) bfcl-eval shows a model for one backend class."""
    path = data_dir() / "multi_turn_func_doc" / BACKENDS[class_name][1]
    with path.open(encoding="utf-8") as handle:
        return tuple(json.loads(line) for line in handle if line.strip())


def describe(doc: dict[str, Any]) -> str:
    """A one-line signature with the doc's own description, e.g. `cd(folder: string) - ...`."""
    properties = doc["parameters"].get("properties", {})
    required = set(doc["parameters"].get("required", []))
    params = []
    for name, schema in properties.items():
        text = f"{name}: {schema.get('type', 'any')}"
        if name not in required:
            text += f" = {schema.get('default')!r}"
        params.append(text)
    # Every doc repeats its class's blurb before "Tool description:"; keep what is specific.
    summary = doc.get("description", "").split("Tool description:")[-1].strip()
    return f"{doc['name']}({', '.join(params)}) - {summary}"


def format_result(value: Any) -> str:
    """A return value as bfcl-eval records it: str kept, dict as JSON, anything else str()."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        try:
            return json.dumps(value)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def _backend_class(class_name: str) -> type:
    module = importlib.import_module(f"{BACKEND_PACKAGE}.{BACKENDS[class_name][0]}")
    return getattr(module, class_name)


def build_instances(task: BfclTask) -> dict[str, Any]:
    """Fresh backend instances loaded with the task's initial configuration."""
    instances = {}
    for class_name in task.involved_classes:
        instance = _backend_class(class_name)()
        if class_name not in STATELESS:
            # The backends keep references into the scenario; give each its own copy.
            scenario = copy.deepcopy(task.initial_config.get(class_name, {}))
            instance._load_scenario(scenario, long_context=task.long_context)
        instances[class_name] = instance
    return instances


def public_state(instance: Any) -> dict[str, Any]:
    """The attributes BFCL's state checker compares: every instance attribute not starting with _."""
    return {name: value for name, value in vars(instance).items() if not name.startswith("_")}


class Toolbox:
    """The functions one task exposes, routed to its backend instances."""

    def __init__(self, task: BfclTask):
        self.docs: dict[str, dict[str, Any]] = {}
        self.owner: dict[str, str] = {}
        for class_name in task.involved_classes:
            for doc in function_docs(class_name):
                self.docs[doc["name"]] = doc
                self.owner[doc["name"]] = class_name

    def canonical(self, instances: dict[str, Any], call: ToolCall) -> dict[str, Any]:
        """The call's arguments bound to parameter names with defaults applied.

        Raises:
            CallRejected: a function the task's backends do not have, or arguments
                that do not bind to its signature.
        """
        if call.name not in self.docs:
            raise CallRejected(self._unknown(call.name))
        method = getattr(instances[self.owner[call.name]], call.name)
        try:
            bound = inspect.signature(method).bind(*call.args, **call.kwargs)
        except TypeError as error:
            raise CallRejected(f"{call.name}: {error}.") from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def execute(self, instances: dict[str, Any], call: ToolCall) -> tuple[str, bool]:
        """Run a call that `canonical` accepted; returns (result text, whether it raised)."""
        method = getattr(instances[self.owner[call.name]], call.name)
        try:
            return format_result(method(*call.args, **call.kwargs)), False
        except Exception as error:  # noqa: BLE001 - any backend failure is the call's result, as in BFCL
            return f"{ERROR_PREFIX}{error}", True

    def _unknown(self, name: str) -> str:
        import difflib  # only on this error path

        available = list(self.docs)
        match = difflib.get_close_matches(name, available, n=1)
        hint = f" Did you mean {match[0]!r}?" if match else ""
        return f"no function named {name!r} in this task.{hint} Functions: {', '.join(available)}."
