"""The search tools: look up the sandbox and answer in plain-text tables.

Each tool resolves its arguments first (city and state names are matched
case-insensitively; an unknown one raises `ToolError` with the closest name),
so the search an agent ran is recorded under one canonical spelling.
"""
from __future__ import annotations

import datetime as dt
import difflib

from earlyexp.envs.travel.actions import Call
from earlyexp.envs.travel.geography import CITY_STATE, STATES, cities_of
from earlyexp.envs.travel.plan import hours
from earlyexp.envs.travel.sandbox import (
    GROUND_MODES,
    Accommodation,
    Attraction,
    Restaurant,
    Sandbox,
    in_date_window,
)

SEARCHES = ("search_cities", "search_flights", "search_distance", "search_accommodations",
            "search_restaurants", "search_attractions")
_CITIES = {city.lower(): city for city in CITY_STATE}
_STATES = {state.lower(): state for state in STATES}


class ToolError(ValueError):
    """Raised when a well-formed call cannot run (unknown city, bad date, ...)."""


def resolve(name: str, known: dict[str, str], what: str) -> str:
    if name.lower() in known:
        return known[name.lower()]
    hint = difflib.get_close_matches(name, list(known.values()), n=1)
    raise ToolError(f"there is no {what} {name!r} in the sandbox."
                    + (f" Did you mean {hint[0]!r}?" if hint else ""))


def resolve_city(name: str) -> str:
    return resolve(name, _CITIES, "city")


def canonical_search(call: Call) -> Call:
    """`call` with its names resolved and checked (raises `ToolError`)."""
    args = dict(call.args)
    if call.name == "search_cities":
        args["state"] = resolve(args["state"], _STATES, "state")
        return Call(call.name, args)
    for key in ("city", "origin", "destination"):
        if key in args:
            args[key] = resolve_city(args[key])
    if "origin" in args and args["origin"] == args["destination"]:
        raise ToolError("origin and destination are the same city.")
    if call.name == "search_flights":
        if not in_date_window(args["date"]):
            raise ToolError(f"the date {args['date']!r} must be YYYY-MM-DD between 2022-03-01 "
                            "and 2022-04-30.")
        args["date"] = dt.date.fromisoformat(args["date"]).isoformat()
    if call.name == "search_distance" and args.get("mode", "") not in ("", *GROUND_MODES):
        raise ToolError(f"mode must be one of {', '.join(GROUND_MODES)}, got {args['mode']!r}.")
    if call.name == "search_distance" and not args.get("mode"):
        args.pop("mode", None)
    return Call(call.name, args)


def run_search(sandbox: Sandbox, call: Call) -> str:
    """The observation of a canonical search call."""
    args = call.args
    if call.name == "search_cities":
        return f"Cities in {args['state']}: {', '.join(cities_of(args['state']))}."
    if call.name == "search_flights":
        return _flights(sandbox, args["origin"], args["destination"], args["date"])
    if call.name == "search_distance":
        modes = [args["mode"]] if args.get("mode") else list(GROUND_MODES)
        return _ground(sandbox, args["origin"], args["destination"], modes)
    kind = call.name.removeprefix("search_")
    return {"accommodations": _accommodations, "restaurants": _restaurants,
            "attractions": _attractions}[kind](sandbox, args["city"])


def _flights(sandbox: Sandbox, origin: str, destination: str, date: str) -> str:
    flights = sandbox.flights(origin, destination, date)
    if not flights:
        return f"There is no flight from {origin} to {destination} on {date}."
    rows = [f"{f.number} | ${f.price} | {f.departure} | {f.arrival} | {hours(f.minutes)} | "
            f"{f.km} km" for f in flights]
    return _table(f"Flights from {origin} to {destination} on {date}",
                  "Flight Number | Price | Departure | Arrival | Duration | Distance", rows)


def _ground(sandbox: Sandbox, origin: str, destination: str, modes: list[str]) -> str:
    rows = []
    for mode in modes:
        leg = sandbox.ground_leg(mode, origin, destination)
        rows.append(f"{mode} | {hours(leg.minutes)} | {leg.km} km | ${leg.cost}")
    return _table(f"From {origin} to {destination}", "Mode | Duration | Distance | Cost", rows)


def _accommodations(sandbox: Sandbox, city: str) -> str:
    rows = [f"{a.name} | ${a.price} | {a.room_type} | "
            f"{', '.join(a.house_rules) or 'none'} | {a.minimum_nights} | {a.max_occupancy} | "
            f"{a.rating}" for a in sandbox.places("accommodation", city)]
    return _table(f"Accommodations in {city}", "Name | Price per night | Room type | House rules "
                  "| Minimum nights | Maximum occupancy | Rating", rows)


def _restaurants(sandbox: Sandbox, city: str) -> str:
    rows = [f"{r.name} | {', '.join(r.cuisines)} | ${r.average_cost} | {r.rating}"
            for r in sandbox.places("restaurant", city)]
    return _table(f"Restaurants in {city}", "Name | Cuisines | Average cost | Rating", rows)


def _attractions(sandbox: Sandbox, city: str) -> str:
    rows = [f"{a.name} | {a.category}" for a in sandbox.places("attraction", city)]
    return _table(f"Attractions in {city}", "Name | Category", rows)


def describe_place(place: Accommodation | Restaurant | Attraction) -> str:
    """One line of what matters about a place when it is put into a plan."""
    if isinstance(place, Restaurant):
        return f"{', '.join(place.cuisines)}; ${place.average_cost} per person"
    if isinstance(place, Accommodation):
        rules = ", ".join(place.house_rules) or "no house rules"
        return (f"{place.room_type}, ${place.price} per night, sleeps {place.max_occupancy}, "
                f"minimum {place.minimum_nights} nights, {rules}")
    return place.category


def _table(title: str, header: str, rows: list[str]) -> str:
    return "\n".join([f"{title} ({len(rows)}):", header, *rows])
