"""`TravelEnv`: TravelPlanner-style multi-day itinerary planning behind the `TextEnv` contract."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from earlyexp.envs.core import Outcome, Status, TextEnv
from earlyexp.envs.travel import tools
from earlyexp.envs.travel.actions import TOOLS, ActionError, Call, parse_action
from earlyexp.envs.travel.data import TaskSetSpec, ensure_task_set
from earlyexp.envs.travel.evaluation import CHECKERS, Report, evaluate, plan_cost
from earlyexp.envs.travel.expert import admissible_actions, expert_action
from earlyexp.envs.travel.plan import (
    EMPTY,
    PLACE_SLOTS,
    TRANSPORT_MODES,
    Leg,
    Plan,
    Stop,
    describe_leg,
)
from earlyexp.envs.travel.tools import ToolError

from earlyexp.errors import ConfigError, UnknownTaskError

REWARD_MODES = ("pass", "micro")


class TravelEnv(TextEnv):
    """Plan a multi-day trip in a generated travel sandbox, as in TravelPlanner.

    Description:
        Each task is a query: a trip from an origin city to a destination (one city for
        3 days, two or three cities of a state for 5 or 7 days) on given dates, for a
        number of people, with a budget and possibly hard constraints on the room rule,
        the room type, the cuisines and the transportation. The agent queries the
        sandbox with search tools, fills the plan slot by slot (transportation,
        breakfast, attraction, lunch, dinner and accommodation of each day) and
        submits it. The sandbox (cities, flights, ground legs, accommodations,
        restaurants, attractions) and the tasks are generated from a seed and cached
        on disk (see `data.py` and README.md).

    Action Space:
        Text: one Python-style call, parsed with `ast` (never executed), such as
        `search_flights(origin="Austin", destination="Denver", date="2022-03-16")` or
        `set_dinner(day=1, name="The Golden Spoon", city="Denver")`. The tools are
        `search_cities`, `search_flights`, `search_distance`, `search_accommodations`,
        `search_restaurants`, `search_attractions`, `set_transportation`,
        `set_breakfast`, `set_attraction`, `set_lunch`, `set_dinner`,
        `set_accommodation` (the name "-", or mode "-", clears a slot), `view_plan`
        and `submit`. A call that does not parse, names an unknown tool, city or
        entity, a day outside the trip, or a flight that does not fly that route on
        that day is rejected with an explanation and `valid_action=False`; the state
        is unchanged and the step still counts.

    Observation Space:
        Text. The first observation is the query and a summary of the tools; then
        search results as tables, a confirmation of each plan edit, the plan in
        TravelPlanner's layout (`view_plan`), or the evaluation report (`submit`).

    Starting State:
        An empty plan and no searches. Tasks are deterministic: the episode seed
        changes nothing.

    Reward:
        0 for every step but `submit()`. On submit, with `reward="pass"` (default), 1
        if the plan passes TravelPlanner's eight commonsense checks and every hard
        constraint of the query, else 0; with `reward="micro"`, the micro pass rate.

    Episode End:
        Terminated on `submit()`; truncated after `max_steps` steps.

    Information:
        The contract's keys. `goal` is the query; `success` is the final pass of the
        submitted plan; `score` its micro pass rate (passed checks / (8 + the query's
        hard constraints)), 0 before submission; `admissible_actions` is a bounded
        menu (the trip's pending searches, edits with entities already found that fit
        the day's cities, clearing filled slots, `view_plan()`, `submit()`) that
        always holds `expert_action`; `expert_action` follows the solver's plan from
        the current state, None once submitted. Also `level` (easy, medium, hard),
        `days`, `people`, `budget`, `plan_cost` (the draft's cost) and `checks` (check
        name -> passed, None if not checked; empty before submission).

    Arguments:
        num_train, num_test, num_ood: tasks per split (train and test: 3- and 5-day
            trips; ood: 7-day three-city trips).
        seed: generation seed; the same arguments always give the same sandbox and tasks.
        cache_dir: cache root (default `$EARLYEXP_CACHE` or `~/.cache/earlyexp`).
        reward: "pass" or "micro" (see Reward).
        checker: "strict" (default) or "reference": how the constraints are read,
            TravelPlanner's evaluation scripts reproduced, bugs included (README.md).
        max_steps: truncation limit.

    Version History:
        v0: initial version.
    """

    splits = ("train", "test", "ood")

    def __init__(self, num_train: int = 400, num_test: int = 100, num_ood: int = 50,
                 seed: int = 0, cache_dir: str | None = None, reward: str = "pass",
                 checker: str = "strict", max_steps: int = 80, split: str = "train", render_mode: str | None = None):
        super().__init__(max_steps=max_steps, split=split, render_mode=render_mode)
        if reward not in REWARD_MODES:
            raise ConfigError("reward", reward, f"must be one of {list(REWARD_MODES)}.")
        self.reward_mode = reward
        if checker not in CHECKERS:
            raise ConfigError("checker", checker, f"must be one of {list(CHECKERS)}.")
        self.checker = checker
        self.task_spec = TaskSetSpec(num_train, num_test, num_ood, seed)
        self.task_set = ensure_task_set(self.task_spec, Path(cache_dir) if cache_dir else None)
        self.sandbox = self.task_set.sandbox
        self._task = None
        self._plan = Plan(0)
        self._performed: dict[str, Call] = {}  # canonical search text -> call
        self._report: Report | None = None
        # Admissible actions and expert action of the current state, computed on demand
        # (None: stale) and kept in native snapshots, which then restore without recomputing.
        self._menu: list[str] | None = None
        self._expert: str | None = None

    # ------------------------------------------------------------ tasks
    def tasks(self, split: str) -> list[str]:
        self._check_split(split)
        return list(self.task_set.splits[split])

    # ------------------------------------------------------------ hooks
    def _load_task(self, task_id: str, seed: int) -> str:
        if task_id not in self.task_set.tasks:
            raise UnknownTaskError(self.name, task_id, self.task_set.tasks)
        self._task = self.task_set.tasks[task_id]
        self._plan = Plan(self._task.query.days)
        self._performed, self._report = {}, None
        self._invalidate()
        return self._introduction()

    def _act(self, action: str) -> Outcome:
        try:
            call = parse_action(action)
            if call.name in tools.SEARCHES:
                return Outcome(self._search(call))
            if call.name == "view_plan":
                return Outcome(self._view())
            if call.name == "submit":
                return self._submit()
            return Outcome(self._edit(call))
        except (ActionError, ToolError) as error:
            return Outcome(f"Invalid action: {error}", valid_action=False)

    def _status(self) -> Status:
        query, report = self._task.query, self._report
        if self._menu is None and report is None:
            self._menu = admissible_actions(query, self.sandbox, self._plan, self._performed)
            self._expert = expert_action(query, self._task.plan, self._plan, self._performed)
        return Status(
            goal=query.text(),
            success=bool(report and report.final_pass),
            score=report.micro_pass_rate if report else 0.0,
            admissible_actions=self._menu if report is None else [],
            expert_action=self._expert if report is None else None,
            extra={"level": query.level, "days": query.days, "people": query.people,
                   "budget": query.budget, "plan_cost": plan_cost(query, self._plan, self.sandbox),
                   "checks": report.outcomes() if report else {}},
        )

    def _native_snapshot(self) -> Any:
        # The menu list is shared, never mutated: a change of state replaces it.
        return (self._task, self._plan.copy(), dict(self._performed), self._report, self._menu,
                self._expert)

    def _native_restore(self, state: Any) -> None:
        task, plan, performed, self._report, self._menu, self._expert = state
        # Copy again so that the snapshot stays reusable after further steps.
        self._task, self._plan, self._performed = task, plan.copy(), dict(performed)

    def _invalidate(self) -> None:
        self._menu = self._expert = None

    # ------------------------------------------------------------ actions
    def _search(self, call: Call) -> str:
        call = tools.canonical_search(call)
        observation = tools.run_search(self.sandbox, call)
        if call.text() not in self._performed:
            self._performed[call.text()] = call
            self._invalidate()
        return observation

    def _view(self) -> str:
        query = self._task.query
        cost = plan_cost(query, self._plan, self.sandbox)
        return (f"{self._plan.render(self.sandbox, query.origin, query.dates)}\n\n"
                f"Cost so far: ${cost:,} of a ${query.budget:,} budget.")

    def _submit(self) -> Outcome:
        query = self._task.query
        self._report = evaluate(query, self._plan, self.sandbox, self.checker)
        self._invalidate()
        reward = (float(self._report.final_pass) if self.reward_mode == "pass"
                  else self._report.micro_pass_rate)
        plan_text = self._plan.render(self.sandbox, query.origin, query.dates)
        return Outcome(f"Plan submitted.\n\n{plan_text}\n\nEvaluation:\n{self._report.render()}",
                       reward, terminated=True)

    def _edit(self, call: Call) -> str:
        day = call.args["day"]
        if not 1 <= day <= self._plan.days:
            raise ToolError(f"day must be between 1 and {self._plan.days}, got {day}.")
        slot = call.name.removeprefix("set_")
        value = (self._leg(day, call.args) if slot == "transportation"
                 else self._stop(slot, call.args))
        previous = self._plan.set(day, slot, value)
        self._invalidate()
        if value is None:
            return f"Day {day} {slot} " + ("cleared." if previous else "was already empty.")
        replaced = f" It replaces {previous.label()}." if previous and previous != value else ""
        return f"Day {day} {slot}: {self._describe(day, slot, value)}.{replaced}"

    def _leg(self, day: int, args: dict[str, Any]) -> Leg | None:
        mode = args["mode"].lower()
        if mode == EMPTY:
            return None
        if mode not in TRANSPORT_MODES:
            raise ToolError(f"mode must be one of {', '.join(TRANSPORT_MODES)} (or \"-\" to clear),"
                            f" got {args['mode']!r}.")
        if not args.get("origin") or not args.get("destination"):
            raise ToolError("set_transportation needs an origin and a destination.")
        origin = tools.resolve_city(args["origin"])
        destination = tools.resolve_city(args["destination"])
        if origin == destination:
            raise ToolError("origin and destination are the same city.")
        if mode != "flight":
            return Leg(mode, origin, destination)
        date = self._task.query.dates[day - 1]
        number = args.get("flight", "").upper()
        if not self.sandbox.flight(number, origin, destination, date):
            raise ToolError(f"there is no flight {number or '(no number given)'} from {origin} to "
                            f"{destination} on {date} (day {day}); search_flights lists them.")
        return Leg("flight", origin, destination, number)

    def _stop(self, slot: str, args: dict[str, Any]) -> Stop | None:
        if args["name"] == EMPTY:
            return None
        if not args.get("city"):
            raise ToolError(f"set_{slot} needs the city of {args['name']!r}.")
        city, kind = tools.resolve_city(args["city"]), PLACE_SLOTS[slot]
        names = {place.name.lower(): place.name for place in self.sandbox.places(kind, city)}
        name = tools.resolve(args["name"], names, f"{kind} in {city} named")
        return Stop(name, city)

    def _describe(self, day: int, slot: str, value: Leg | Stop) -> str:
        if isinstance(value, Leg):
            return describe_leg(self.sandbox, value, self._task.query.dates[day - 1])
        place = self.sandbox.place(PLACE_SLOTS[slot], value.name, value.city)
        return f"{value.label()} ({tools.describe_place(place)})"

    def _introduction(self) -> str:
        query = self._task.query
        dates = query.dates
        how = (f"Plan days 1 to {query.days} ({dates[0]} to {dates[-1]}): search the sandbox, "
               "fill each day's slots, then submit. One call per action, strings quoted.")
        lines = [query.text(), "", how]
        lines += [f"  {name}({', '.join(sig.params)}): {sig.help}" for name, sig in TOOLS.items()]
        return "\n".join(lines)
