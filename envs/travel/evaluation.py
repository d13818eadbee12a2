"""TravelPlanner's evaluation: eight commonsense checks, then the query's hard constraints.

Hard constraints are checked only when the plan is complete and within the
sandbox (as in TravelPlanner); otherwise each counts as not passed. A plan
passes finally when every check passes; its micro pass rate is the fraction of
checks passed out of eight plus the query's hard constraints.

Two readings of the rules (`CHECKERS`): ``strict`` (the default, the functions of
this module) and ``reference``, which reproduces OSU-NLP-Group/TravelPlanner's
evaluation scripts where they read a rule differently (reference.py). README.md
tabulates every difference and why strict departs.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby

from earlyexp.envs.travel import reference
from earlyexp.envs.travel.geography import CITY_STATE
from earlyexp.envs.travel.plan import MEALS, PLACE_SLOTS, SLOTS, Leg, Plan, Stop
from earlyexp.envs.travel.queries import ROOM_RULES, ROOM_TYPES, TRANSPORTATION, Query
from earlyexp.envs.travel.sandbox import CAR_SEATS, TAXI_SEATS, Sandbox, units_needed

#: A check returns None when it passes, else the reason it fails.
CheckFn = Callable[[Query, Plan, Sandbox], "str | None"]


@dataclass(frozen=True)
class Check:
    """The outcome of one check; `passed` is None when it was not evaluated."""

    name: str
    kind: str
    passed: bool | None
    reason: str = ""


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]
    cost: int

    @property
    def final_pass(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def micro_pass_rate(self) -> float:
        return sum(bool(check.passed) for check in self.checks) / len(self.checks)

    def outcomes(self) -> dict[str, bool | None]:
        return {check.name: check.passed for check in self.checks}

    def render(self) -> str:
        marks = {True: "pass", False: "FAIL", None: "not checked"}
        lines = [f"[{marks[c.passed]}] {c.kind} {c.name.replace('_', ' ')}"
                 + (f": {c.reason}" if c.reason else "") for c in self.checks]
        passed = sum(bool(c.passed) for c in self.checks)
        lines.append(f"Final pass: {'yes' if self.final_pass else 'no'}. Micro pass rate: "
                     f"{passed}/{len(self.checks)} = {self.micro_pass_rate:.2f}. "
                     f"Total cost: ${self.cost:,}.")
        return "\n".join(lines)


# ------------------------------------------------------------------ commonsense
def within_sandbox(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    dates = query.dates
    for day, slot, value in plan.values(SLOTS):
        if isinstance(value, Leg):
            found = (sandbox.flight(value.flight or "", value.origin, value.destination,
                                    dates[day - 1]) if value.mode == "flight"
                     else sandbox.ground_leg(value.mode, value.origin, value.destination))
        else:
            found = sandbox.place(PLACE_SLOTS[slot], value.name, value.city)
        if found is None:
            return f"day {day} {slot} '{value.label()}' is not in the sandbox"
    return None


def complete_information(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    if within_sandbox(query, plan, sandbox):
        return "the plan holds information that is not in the sandbox"
    for day, row in enumerate(plan.rows, 1):
        travelling = row["transportation"] is not None
        if not travelling and row["attraction"] is None:
            return f"day {day} has no travel and no attraction"
        if not travelling and any(row[meal] is None for meal in MEALS):
            return f"day {day} has no travel and misses a meal"
        if day < plan.days and row["accommodation"] is None:
            return f"day {day} has no accommodation"
    # As TravelPlanner: the current city and the six slots count, against six per day.
    filled = plan.days + len(plan.values(SLOTS))
    if filled < 0.5 * 6 * plan.days:
        return f"only {filled} of {6 * plan.days} fields are filled"
    return None


def within_current_city(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    """Every place in the day's city (either city of a travel day); the night's
    accommodation where the day ends (the arrival city of a travel day)."""
    day_cities = plan.day_cities(query.origin)
    for day, slot, stop in plan.values(tuple(PLACE_SLOTS)):
        cities = day_cities[day - 1]
        if slot == "accommodation" and stop.city != cities[-1]:
            return (f"day {day} accommodation is in {stop.city}, but the traveller sleeps "
                    f"in {cities[-1]}")
        if stop.city not in cities:
            return (f"day {day} {slot} is in {stop.city}, but the traveller is in "
                    f"{Plan.current_city_label(cities)}")
    return None


def reasonable_city_route(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    location = query.origin
    for day, leg in plan.legs():
        if leg.origin != location:
            return f"day {day} leaves from {leg.origin}, but the traveller is in {location}"
        location = leg.destination
    route = [city for cities in plan.day_cities(query.origin) for city in cities]
    if route[-1] != query.origin:
        return f"the trip must end in {query.origin} (a closed circle), it ends in {route[-1]}"
    problem = city_sequence_problem(route)
    if problem:
        return problem
    stops = list(dict.fromkeys(route[1:-1]))
    for city in stops:
        in_destination = (CITY_STATE.get(city) == query.destination if query.multi_city
                          else city == query.destination)
        if not in_destination:
            return f"{city} is not in the destination {query.destination}"
    if len(stops) != query.visiting_city_number:
        return (f"the trip visits {len(stops)} cities, the query asks for "
                f"{query.visiting_city_number}")
    return None


def city_sequence_problem(route: list[str]) -> str | None:
    """TravelPlanner's route rule: stay where you go (no city entered and left the same day)
    and never come back to a city, except the origin at the very end."""
    runs = [(city, len(list(group))) for city, group in groupby(route)]
    if len(route) < 3 or len(runs) < 2:
        return "the traveller never leaves the origin"
    seen = {runs[0][0]}
    for city, length in runs[1:-1]:
        if length == 1:
            return f"{city} is passed through without staying"
        if city in seen:
            return f"{city} is visited twice"
        seen.add(city)
    return None


def diverse_restaurants(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    return _first_repeat([stop for _, _, stop in plan.values(MEALS)], "restaurant")


def diverse_attractions(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    return _first_repeat([stop for _, _, stop in plan.values(("attraction",))], "attraction")


def _first_repeat(stops: list[Stop], what: str) -> str | None:
    seen: set[Stop] = set()
    for stop in stops:
        if stop in seen:
            return f"the {what} {stop.label()} appears more than once"
        seen.add(stop)
    return None


def non_conflicting_transportation(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    if plan.get(1, "transportation") is None:
        return "day 1 has no transportation"
    modes = {leg.mode for _, leg in plan.legs()}
    if "self-driving" in modes and modes & {"flight", "taxi"}:
        return f"self-driving cannot be mixed with {' or '.join(sorted(modes - {'self-driving'}))}"
    return None


def minimum_nights_stay(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    nights = [row["accommodation"] for row in plan.rows]
    for stop, group in groupby(nights):
        stay = len(list(group))
        place = sandbox.place("accommodation", stop.name, stop.city) if stop else None
        if place is not None and stay < place.minimum_nights:
            return (f"{stop.label()} requires at least {place.minimum_nights} nights, "
                    f"the plan stays {stay}")
    return None


COMMONSENSE: dict[str, CheckFn] = {fn.__name__: fn for fn in (
    within_sandbox, complete_information, within_current_city, reasonable_city_route,
    diverse_restaurants, diverse_attractions, non_conflicting_transportation, minimum_nights_stay)}


# ------------------------------------------------------------------ hard constraints
def plan_cost(query: Query, plan: Plan, sandbox: Sandbox) -> int:
    """TravelPlanner's cost: flights and meals per person, cars per five people, taxis per
    four, rooms per `max_occupancy` guests and night. Entries outside the sandbox cost 0."""
    dates, people, total = query.dates, query.people, 0
    for day, slot, value in plan.values(SLOTS):
        if isinstance(value, Leg) and value.mode == "flight":
            flight = sandbox.flight(value.flight or "", value.origin, value.destination,
                                    dates[day - 1])
            total += flight.price * people if flight else 0
        elif isinstance(value, Leg):
            leg = sandbox.ground_leg(value.mode, value.origin, value.destination)
            seats = CAR_SEATS if value.mode == "self-driving" else TAXI_SEATS
            total += leg.cost * units_needed(people, seats) if leg else 0
        else:
            place = sandbox.place(PLACE_SLOTS[slot], value.name, value.city)
            if place is not None and slot == "accommodation":
                total += place.price * units_needed(people, place.max_occupancy)
            elif place is not None and slot in MEALS:
                total += place.average_cost * people
    return total


def budget(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    cost = plan_cost(query, plan, sandbox)
    return None if cost <= query.budget else f"the cost ${cost:,} exceeds ${query.budget:,}"


def room_rule(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    forbidding = ROOM_RULES[query.room_rule]
    for stop in _accommodations(plan, sandbox):
        if forbidding in stop.house_rules:
            return f"{stop.name}, {stop.city} has the rule '{forbidding}'"
    return None


def room_type(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    accepted = ROOM_TYPES[query.room_type]
    for stop in _accommodations(plan, sandbox):
        if stop.room_type not in accepted:
            return f"{stop.name}, {stop.city} is a {stop.room_type}, not a {query.room_type}"
    return None


def cuisine(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    restaurants = [sandbox.place("restaurant", stop.name, stop.city)
                   for _, _, stop in plan.values(MEALS) if stop.city != query.origin]
    served = {c for place in restaurants if place is not None for c in place.cuisines}
    missing = [c for c in query.cuisines if c not in served]
    return f"no restaurant serves {', '.join(missing)}" if missing else None


def transportation(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    forbidden = TRANSPORTATION[query.transportation]
    used = [day for day, leg in plan.legs() if leg.mode == forbidden]
    return f"day {used[0]} uses {forbidden}, which the query forbids" if used else None


def _accommodations(plan: Plan, sandbox: Sandbox) -> list:
    places = [sandbox.place("accommodation", stop.name, stop.city)
              for _, _, stop in plan.values(("accommodation",))]
    return [place for place in places if place is not None]


HARD: dict[str, CheckFn] = {fn.__name__: fn for fn in (
    budget, room_rule, room_type, cuisine, transportation)}


@dataclass(frozen=True)
class Checker:
    """One reading of TravelPlanner's rules: its checks (same names, same order) and its cost."""

    commonsense: dict[str, CheckFn]
    hard: dict[str, CheckFn]
    cost: Callable[[Query, Plan, Sandbox], int]


CHECKERS: dict[str, Checker] = {
    "strict": Checker(COMMONSENSE, HARD, plan_cost),
    "reference": Checker(
        {**COMMONSENSE, **{fn.__name__: fn for fn in (
            reference.within_sandbox, reference.complete_information,
            reference.within_current_city, reference.reasonable_city_route,
            reference.minimum_nights_stay)}},
        {**HARD, **{fn.__name__: fn for fn in (
            reference.budget, reference.room_rule, reference.room_type, reference.cuisine)}},
        reference.plan_cost),
}


def evaluate(query: Query, plan: Plan, sandbox: Sandbox, checker: str = "strict") -> Report:
    """Every commonsense check, then the query's hard constraints (see the module docstring)."""
    if checker not in CHECKERS:
        raise ValueError(f"checker must be one of {list(CHECKERS)}, got {checker!r}")
    rules = CHECKERS[checker]
    checks = [_run("commonsense", name, fn, query, plan, sandbox)
              for name, fn in rules.commonsense.items()]
    outcome = {check.name: check.passed for check in checks}
    checkable = outcome["complete_information"] and outcome["within_sandbox"]
    for name in query.hard_constraints():
        if checkable:
            checks.append(_run("hard", name, rules.hard[name], query, plan, sandbox))
        else:
            checks.append(Check(name, "hard", None,
                                "the plan is incomplete or outside the sandbox"))
    return Report(tuple(checks), rules.cost(query, plan, sandbox))


def _run(kind: str, name: str, fn: CheckFn, query: Query, plan: Plan, sandbox: Sandbox) -> Check:
    reason = fn(query, plan, sandbox)
    return Check(name, kind, reason is None, reason or "")
