"""The expert: a constraint solver that finds the cheapest plan passing every check.

Every stop of a trip spends two nights (TravelPlanner's day structure): with
cities c1..ck, day 2i-1 travels into ci (dinner and the night there), day 2i
is a full day in ci (breakfast, an attraction, lunch, dinner, the second
night) and day 2k+1 travels home. The solver enumerates the ordered city
routes and the two consistent transportation policies ("flight or taxi" per
leg, or self-driving throughout) and, for each, picks independently per city
the cheapest accommodation that satisfies the room constraints and the
cheapest four distinct restaurants; a dynamic programme over the cities places
the required cuisines where they cost least. The budget is then checked by the
caller: a query is only kept when its budget admits the plan.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations, permutations

from earlyexp.envs.travel.evaluation import plan_cost
from earlyexp.envs.travel.geography import cities_of
from earlyexp.envs.travel.plan import Leg, Plan, Stop
from earlyexp.envs.travel.queries import ROOM_RULES, ROOM_TYPES, TRANSPORTATION, Query
from earlyexp.envs.travel.sandbox import TAXI_SEATS, Sandbox, units_needed

NIGHTS_PER_CITY = 2
MEALS_PER_CITY = 4  # arrival dinner, then breakfast, lunch and dinner of the full day
POLICIES = ("flight or taxi", "self-driving")


@dataclass(frozen=True)
class CityStay:
    accommodation: Stop
    restaurants: tuple[Stop, ...]
    attraction: Stop


class Solver:
    """Solves queries against one sandbox (per-city choices are cached across queries)."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self._hotel = lru_cache(maxsize=None)(self._cheapest_hotel)
        self._menus = lru_cache(maxsize=None)(self._cheapest_menus)

    def solve(self, query: Query) -> tuple[Plan, int] | None:
        """The cheapest plan satisfying every constraint but the budget, with its cost."""
        best: tuple[int, Plan] | None = None
        for route in self._routes(query):
            for policy in self._policies(query):
                plan = self._plan(query, route, policy)
                if plan is not None:
                    cost = plan_cost(query, plan, self.sandbox)
                    if best is None or cost < best[0]:
                        best = (cost, plan)
        return (best[1], best[0]) if best else None

    # ------------------------------------------------------------ choices
    @staticmethod
    def _routes(query: Query) -> list[tuple[str, ...]]:
        if not query.multi_city:
            return [(query.destination,)]
        return list(permutations(cities_of(query.destination), query.visiting_city_number))

    @staticmethod
    def _policies(query: Query) -> list[str]:
        forbidden = TRANSPORTATION.get(query.transportation or "")
        return [p for p in POLICIES if not (p == "self-driving" and forbidden == "self-driving")]

    def _plan(self, query: Query, route: tuple[str, ...], policy: str) -> Plan | None:
        stops = (query.origin, *route, query.origin)
        dates = query.dates
        legs = [self._leg(query, stops[i], stops[i + 1], dates[2 * i], policy)
                for i in range(len(stops) - 1)]
        hotels = [self._hotel(city, query.people, query.room_rule, query.room_type)
                  for city in route]
        menus = self._place_cuisines(route, query.cuisines)
        if any(leg is None for leg in legs) or None in hotels or menus is None:
            return None
        plan = Plan(query.days)
        for i, (city, hotel, menu) in enumerate(zip(route, hotels, menus)):
            arrival, full = 2 * i + 1, 2 * i + 2
            attraction = self.sandbox.places("attraction", city)[0]
            plan.set(arrival, "transportation", legs[i])
            plan.set(arrival, "dinner", menu[0])
            for day in (arrival, full):
                plan.set(day, "accommodation", hotel)
            for slot, stop in zip(("breakfast", "lunch", "dinner"), menu[1:]):
                plan.set(full, slot, stop)
            plan.set(full, "attraction", Stop(attraction.name, city))
        plan.set(query.days, "transportation", legs[-1])
        return plan

    def _leg(self, query: Query, origin: str, destination: str, date: str,
             policy: str) -> Leg | None:
        people = query.people
        if policy == "self-driving":
            drive = self.sandbox.ground_leg("self-driving", origin, destination)
            return Leg("self-driving", origin, destination) if drive else None
        options: list[tuple[int, Leg]] = []
        if TRANSPORTATION.get(query.transportation or "") != "flight":
            options += [(f.price * people, Leg("flight", origin, destination, f.number))
                        for f in self.sandbox.flights(origin, destination, date)]
        taxi = self.sandbox.ground_leg("taxi", origin, destination)
        if taxi:
            options.append((taxi.cost * units_needed(people, TAXI_SEATS), Leg("taxi", origin,
                                                                              destination)))
        return min(options, key=lambda option: option[0])[1] if options else None

    def _cheapest_hotel(self, city: str, people: int, rule: str | None,
                        room_type: str | None) -> Stop | None:
        forbidding = ROOM_RULES.get(rule or "")
        accepted = ROOM_TYPES.get(room_type or "")
        fits = [a for a in self.sandbox.places("accommodation", city)
                if a.minimum_nights <= NIGHTS_PER_CITY and forbidding not in a.house_rules
                and (accepted is None or a.room_type in accepted)]
        if not fits:
            return None
        best = min(fits, key=lambda a: (a.price * units_needed(people, a.max_occupancy), a.name))
        return Stop(best.name, city)

    def _cheapest_menus(self, city: str, cuisines: tuple[str, ...]) -> dict[int, tuple[int, tuple]]:
        """For each subset (bit mask) of `cuisines`: the cheapest four distinct restaurants
        covering at least that subset, with their cost per person."""
        restaurants = self.sandbox.places("restaurant", city)
        best: dict[int, tuple[int, tuple]] = {}
        for combo in combinations(restaurants, MEALS_PER_CITY):
            cost = sum(r.average_cost for r in combo)
            covered = sum(1 << i for i, c in enumerate(cuisines)
                          if any(c in r.cuisines for r in combo))
            for mask in _submasks(covered):
                if mask not in best or cost < best[mask][0]:
                    best[mask] = (cost, combo)
        return best

    def _place_cuisines(self, route: tuple[str, ...],
                        cuisines: tuple[str, ...]) -> list[tuple[Stop, ...]] | None:
        """Cheapest menus per city such that together they serve every required cuisine."""
        full = (1 << len(cuisines)) - 1
        # reachable covered mask -> (cost, menus so far)
        states: dict[int, tuple[int, list]] = {0: (0, [])}
        for city in route:
            menus = self._menus(city, cuisines)
            nxt: dict[int, tuple[int, list]] = {}
            for covered, (cost, chosen) in states.items():
                for mask, (menu_cost, combo) in menus.items():
                    key, total = covered | mask, cost + menu_cost
                    if key not in nxt or total < nxt[key][0]:
                        nxt[key] = (total, chosen + [combo])
            states = nxt
        if full not in states:
            return None
        return [tuple(Stop(r.name, r.city) for r in sorted(combo, key=lambda r: r.name))
                for combo in states[full][1]]


def _submasks(mask: int) -> list[int]:
    subs, sub = [], mask
    while True:
        subs.append(sub)
        if sub == 0:
            return subs
        sub = (sub - 1) & mask
