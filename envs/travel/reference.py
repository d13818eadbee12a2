"""TravelPlanner's own reading of the constraints the strict checker reads differently.

`checker="reference"` (evaluation.CHECKERS) scores with these functions, so numbers
compare with those published with OSU-NLP-Group/TravelPlanner (its
`evaluation/commonsense_constraint.py`, `hard_constraint.py` and `eval.py`). They
reproduce that code's behaviour, including what README.md's fidelity table lists as
its bugs; each docstring says what the reference does. Re-expressed on this family's
structured plans: a place slot holds `Stop(name, city)` (the reference parses
"Name, City" back out of its text), a day's current city comes from its leg.

The reference looks places up by *substring*: the first row of the city whose name
contains the plan's name (pandas `str.contains`), see `lookup`.
"""
from __future__ import annotations

import datetime as dt
from itertools import groupby

from earlyexp.envs.travel.geography import CITY_STATE
from earlyexp.envs.travel.plan import MEALS, PLACE_SLOTS, SLOTS, Leg, Plan
from earlyexp.envs.travel.queries import ROOM_RULES, ROOM_TYPES, Query
from earlyexp.envs.travel.sandbox import (
    CAR_SEATS, FIRST_DATE, LAST_DATE, TAXI_SEATS, Sandbox, units_needed,
)

# The reference tests the room rule "parties" under the misspelling 'parities', so a
# query asking for parties never fails its room rule there.
MISSPELLED_RULES = ("parties",)
# Fields a reference plan day holds: the day number and current city plus the six slots.
FIELDS_BESIDES_SLOTS = 2


def lookup(sandbox: Sandbox, kind: str, name: str, city: str):
    """The first `kind` place of `city` whose name contains `name`, as the reference finds it."""
    return next((p for p in sandbox.places(kind, city) if name in p.name), None)


def _matches(sandbox: Sandbox, kind: str, name: str, city: str) -> int:
    return sum(name in p.name for p in sandbox.places(kind, city))


def _flight_on_route(sandbox: Sandbox, leg: Leg):
    """A flight with the leg's number and route on *any* date: the reference ignores dates.
    (Its cost looks the number up alone; numbers are unique in a generated sandbox.)"""
    for offset in range((LAST_DATE - FIRST_DATE).days + 1):
        date = (FIRST_DATE + dt.timedelta(days=offset)).isoformat()
        found = sandbox.flight(leg.flight or "", leg.origin, leg.destination, date)
        if found is not None:
            return found
    return None


def _route(query: Query, plan: Plan) -> list[str] | None:
    """The reference's city list (each day's city, both cities of a travel day); None when
    day 1 is a travel day that does not leave from the origin."""
    days = plan.day_cities(query.origin)[:query.days]
    if days and len(days[0]) == 2 and days[0][0] != query.origin:
        return None
    return [city for cities in days for city in cities]


# ------------------------------------------------------------------ commonsense
def within_current_city(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    """On a day without travel the reference iterates over the *characters* of the city
    name: a place passes when its "Name, City" text holds any one letter of it, and the
    accommodation when it holds the city's last letter. On a travel day a place must
    name one of the two cities, the accommodation the arrival city."""
    for day, cities in enumerate(plan.day_cities(query.origin)[:query.days], 1):
        candidates = list(cities) if len(cities) == 2 else list(cities[0])
        row = plan.rows[day - 1]
        for slot in ("breakfast", "lunch", "dinner", "attraction"):
            stop = row[slot]
            if stop is not None and not any(c in stop.label() for c in candidates):
                return f"day {day} {slot} is invalid city choice"
        stay = row["accommodation"]
        if stay is not None and candidates[-1] not in stay.label():
            return f"day {day} accommodation is invalid city choice"
    return None


def reasonable_city_route(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    """A closed circle of valid cities that stays where it goes; the stops must lie in the
    destination state only for trips longer than 3 days (a 3-day trip to any city passes).
    The number of cities is left to complete information."""
    route = _route(query, plan)
    if route is None:
        return f"the first day's city should be {query.origin}"
    if route[0] != route[-1]:
        return "the trip should be a closed circle"
    if not _valid_city_sequence(route):
        return "the city sequence is invalid"
    for index, city in enumerate(route):
        if city not in CITY_STATE:
            return f"{city} is not a valid city"
        interior = 0 < index < len(route) - 1
        if interior and query.days > 3 and CITY_STATE[city] != query.destination:
            return f"{city} is not in {query.destination}"
    return None


def _valid_city_sequence(route: list[str]) -> bool:
    """The reference's sequence rule, run by run: a run entering a city seen before fails
    unless it starts at the first or last position (so a trip that ends with a whole day
    back in the origin fails), and a one-entry run fails unless it ends the list or is at
    its start."""
    if len(route) < 3:
        return False
    seen: set[str] = set()
    start = 0
    for city, run in groupby(route):
        length = len(list(run))
        end = start + length - 1
        if city in seen and start not in (0, len(route) - 1):
            return False
        if length == 1 and 0 < end < len(route) - 1:
            return False
        seen.add(city)
        start = end + 1
    return True


def complete_information(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    """The reference's `is_not_absent`: the right number of days and of visited cities,
    travel on travel days, an attraction and three meals on other days, a room every night
    but the last, and half the fields filled, counting the day number and current city as
    fields (so a plan with no slot filled at all has a third). Sandbox membership is
    not part of it."""
    days = min(query.days, plan.days)
    if days != query.days:
        return f"the number of days should be {query.days}"
    route = _route(query, plan)
    if route is None or len(set(route) - {query.origin}) != query.visiting_city_number:
        return f"the number of visiting cities should be {query.visiting_city_number}"
    filled = 0
    for day, row in enumerate(plan.rows[:days], 1):
        travelling = row["transportation"] is not None
        if not travelling and row["attraction"] is None:
            return f"no attraction in day {day} is not allowed"
        if day != query.days and row["accommodation"] is None:
            return f"no accommodation in day {day} is not allowed"
        if not travelling and any(row[meal] is None for meal in MEALS):
            return f"no meal in day {day} is not allowed"
        filled += FIELDS_BESIDES_SLOTS + sum(row[slot] is not None for slot in SLOTS)
    if filled < 0.5 * 6 * query.days:
        return "the absent information is more than 50%"
    return None


def within_sandbox(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    """Flights by number and route only (not date), places by substring of the name."""
    for day, slot, value in plan.values(SLOTS):
        if day > query.days:
            break
        if isinstance(value, Leg):
            found = (_flight_on_route(sandbox, value) if value.mode == "flight"
                     else sandbox.ground_leg(value.mode, value.origin, value.destination))
        else:
            found = lookup(sandbox, PLACE_SLOTS[slot], value.name, value.city)
        if found is None:
            return f"the {slot} in day {day} is invalid in the sandbox"
    return None


def minimum_nights_stay(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    """Consecutive nights per accommodation, checked only where the name matches exactly
    one place of its city."""
    for stop, run in groupby(row["accommodation"] for row in plan.rows[:query.days]):
        nights = len(list(run))
        if stop is None or _matches(sandbox, "accommodation", stop.name, stop.city) != 1:
            continue
        place = lookup(sandbox, "accommodation", stop.name, stop.city)
        if nights < place.minimum_nights:
            return f"the accommodation {stop.label()} does not obey the minimum nights rule"
    return None


# ------------------------------------------------------------------ hard constraints
def plan_cost(query: Query, plan: Plan, sandbox: Sandbox) -> int:
    """As the strict cost, with the reference's lookups (flight by number, places by substring)."""
    total, people = 0, query.people
    for day, slot, value in plan.values(SLOTS):
        if day > query.days:
            break
        if isinstance(value, Leg) and value.mode == "flight":
            flight = _flight_on_route(sandbox, value)
            total += flight.price * people if flight else 0
        elif isinstance(value, Leg):
            leg = sandbox.ground_leg(value.mode, value.origin, value.destination)
            seats = CAR_SEATS if value.mode == "self-driving" else TAXI_SEATS
            total += leg.cost * units_needed(people, seats) if leg else 0
        else:
            place = lookup(sandbox, PLACE_SLOTS[slot], value.name, value.city)
            if place is not None and slot == "accommodation":
                total += place.price * units_needed(people, place.max_occupancy)
            elif place is not None and slot in MEALS:
                total += place.average_cost * people
    return total


def budget(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    cost = plan_cost(query, plan, sandbox)
    return None if cost <= query.budget else f"the cost ${cost:,} exceeds ${query.budget:,}"


def cuisine(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    """Cuisines of the meals outside the origin, but a meal in the origin ends that day's
    scan (the reference's `continue`): breakfast at home hides the day's lunch and dinner."""
    served: set[str] = set()
    for row in plan.rows[:query.days]:
        for meal in MEALS:
            stop = row[meal]
            if stop is None:
                continue
            if stop.city == query.origin:
                break
            place = lookup(sandbox, "restaurant", stop.name, stop.city)
            if place is not None:
                listed = ", ".join(place.cuisines)
                served |= {c for c in query.cuisines if c in listed}
    missing = [c for c in query.cuisines if c not in served]
    return f"the cuisine {missing[0]} is not satisfied" if missing else None


def room_rule(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    if query.room_rule in MISSPELLED_RULES:
        return None
    return _first_room(query, plan, sandbox,
                       lambda place: ROOM_RULES[query.room_rule] in " ".join(place.house_rules),
                       f"the house rule should be {query.room_rule}")


def room_type(query: Query, plan: Plan, sandbox: Sandbox) -> str | None:
    return _first_room(query, plan, sandbox,
                       lambda place: place.room_type not in ROOM_TYPES[query.room_type],
                       f"the room type should be {query.room_type}")


def _first_room(query, plan, sandbox, breaks, reason: str) -> str | None:
    for row in plan.rows[:query.days]:
        stop = row["accommodation"]
        place = lookup(sandbox, "accommodation", stop.name, stop.city) if stop else None
        if place is not None and breaks(place):
            return reason
    return None
