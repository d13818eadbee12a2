"""The expert's next action, and the menu of admissible actions, for any episode state.

The expert follows the solver's plan (`data.Task.plan`) and recomputes its next
action from the current state, so it is right after any detour: first the
searches that reveal the entities of its plan (in travel order), then, day by
day and slot by slot, every slot that differs from its plan is set or cleared,
then it submits.

The admissible actions are a bounded menu, not every valid action: the searches
that concern the trip and are not done yet, and for each day the edits that use
entities the agent has already found and that lie in that day's cities, plus
clearing every filled slot. The expert's next action is always among them.
"""
from __future__ import annotations

from earlyexp.envs.travel.actions import Call
from earlyexp.envs.travel.geography import cities_of
from earlyexp.envs.travel.plan import EMPTY, MEALS, SLOTS, Leg, Plan, Stop
from earlyexp.envs.travel.queries import Query
from earlyexp.envs.travel.sandbox import GROUND_MODES, Sandbox

CITY_SEARCHES = ("search_accommodations", "search_restaurants", "search_attractions")


def set_call(day: int, slot: str, value: Leg | Stop | None) -> Call:
    """The plan edit that puts `value` (None: nothing) into one slot."""
    if slot == "transportation":
        if value is None:
            return Call("set_transportation", {"day": day, "mode": EMPTY})
        args = {"day": day, "mode": value.mode, "origin": value.origin,
                "destination": value.destination}
        return Call("set_transportation", args | ({"flight": value.flight} if value.flight else {}))
    if value is None:
        return Call(f"set_{slot}", {"day": day, "name": EMPTY})
    return Call(f"set_{slot}", {"day": day, "name": value.name, "city": value.city})


def expert_searches(query: Query, target: Plan) -> list[Call]:
    """The searches behind the expert's plan, in the order a traveller would run them."""
    calls = [Call("search_cities", {"state": query.destination})] if query.multi_city else []
    dates = query.dates
    for day, leg in target.legs():
        route = {"origin": leg.origin, "destination": leg.destination}
        calls.append(Call("search_flights", route | {"date": dates[day - 1]})
                     if leg.mode == "flight" else Call("search_distance", route))
        if leg.destination != query.origin:
            calls += [Call(name, {"city": leg.destination}) for name in CITY_SEARCHES]
    return calls


def expert_action(query: Query, target: Plan, plan: Plan, performed: dict[str, Call]) -> str:
    for call in expert_searches(query, target):
        if call.text() not in performed:
            return call.text()
    for day in range(1, query.days + 1):
        for slot in SLOTS:
            if plan.get(day, slot) != target.get(day, slot):
                return set_call(day, slot, target.get(day, slot)).text()
    return "submit()"


# ------------------------------------------------------------------ admissible menu
def admissible_actions(query: Query, sandbox: Sandbox, plan: Plan,
                       performed: dict[str, Call]) -> list[str]:
    searches = [c.text() for c in relevant_searches(query, performed)]
    menu = [text for text in searches if text not in performed]
    menu += ["view_plan()", "submit()"]
    found = _found(sandbox, performed.values())
    for day in range(1, query.days + 1):
        menu += [call.text() for call in _day_edits(query, plan, found, day)]
    return list(dict.fromkeys(menu))


def relevant_searches(query: Query, performed: dict[str, Call]) -> list[Call]:
    """Searches about the trip: its cities (a multi-city trip's once the state's cities were
    listed) and the flights and ground legs between them on the travel days."""
    calls, cities = [], [query.destination]
    if query.multi_city:
        state_search = Call("search_cities", {"state": query.destination})
        calls.append(state_search)
        cities = cities_of(query.destination) if state_search.text() in performed else []
    dates, origin = query.dates, query.origin
    pairs = [(origin, c, 0) for c in cities] + [(c, origin, query.days - 1) for c in cities]
    pairs += [(a, b, day) for day in range(2, query.days - 1, 2) for a in cities for b in cities
              if a != b]
    for a, b, day in pairs:
        calls.append(Call("search_flights", {"origin": a, "destination": b, "date": dates[day]}))
        calls.append(Call("search_distance", {"origin": a, "destination": b}))
    calls += [Call(name, {"city": city}) for city in cities for name in CITY_SEARCHES]
    return calls


def _found(sandbox: Sandbox, searches) -> dict[str, list]:
    """Everything the agent's searches have shown, by kind."""
    found: dict[str, list] = {"flight": [], "ground": [], "restaurant": [], "attraction": [],
                              "accommodation": []}
    for call in searches:
        args = call.args
        if call.name == "search_flights":
            found["flight"] += sandbox.flights(args["origin"], args["destination"], args["date"])
        elif call.name == "search_distance":
            found["ground"] += [sandbox.ground_leg(mode, args["origin"], args["destination"])
                                for mode in ([args["mode"]] if "mode" in args else GROUND_MODES)]
        elif call.name in CITY_SEARCHES:
            kind = call.name.removeprefix("search_").removesuffix("s")
            found[kind] += sandbox.places(kind, args["city"])
    return found


def _day_edits(query: Query, plan: Plan, found: dict[str, list], day: int) -> list[Call]:
    cities = plan.day_cities(query.origin)[day - 1]
    start = plan.start_city(day, query.origin)
    date = query.dates[day - 1]
    options: list[tuple[str, Leg | Stop]] = []
    options += [("transportation", Leg("flight", f.origin, f.destination, f.number))
                for f in found["flight"] if f.origin == start and f.date == date]
    options += [("transportation", Leg(g.mode, g.origin, g.destination))
                for g in found["ground"] if g.origin == start]
    restaurants = [Stop(r.name, r.city) for r in found["restaurant"] if r.city in cities]
    options += [(meal, stop) for meal in MEALS for stop in restaurants]
    options += [("attraction", Stop(a.name, a.city)) for a in found["attraction"]
                if a.city in cities]
    if day < query.days:  # the last night is spent at home
        options += [("accommodation", Stop(a.name, a.city)) for a in found["accommodation"]
                    if a.city == cities[-1]]
    edits = [set_call(day, slot, value) for slot, value in options if plan.get(day, slot) != value]
    edits += [set_call(day, slot, None) for slot in SLOTS if plan.get(day, slot) is not None]
    return edits
