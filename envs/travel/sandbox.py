"""The sandbox: the database every tool queries and every plan is checked against.

Accommodations, restaurants and attractions are generated per city from a seed
and stored (see `data.py`). Flights and ground legs are pure functions of the
seed, the route and the date, computed on demand: storing every flight of every
route and day would be tens of thousands of rows of which a task touches a few.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from earlyexp.envs.travel import names
from earlyexp.envs.travel.geography import CITY_STATE, ROAD_FACTOR, road_km

FIRST_DATE = dt.date(2022, 3, 1)
LAST_DATE = dt.date(2022, 4, 30)
#: No airline flies legs shorter than this.
MIN_FLIGHT_KM = 250
#: Flights per route and day, with their probabilities.
FLIGHTS_PER_DAY = ((0, 0.15), (1, 0.35), (2, 0.35), (3, 0.15))
CRUISE_KMH = 780
DRIVE_KMH = 80
#: Dollars per kilometre for the car (self-driving) and for a taxi.
SELF_DRIVING_RATE, TAXI_RATE = 0.25, 1.00
#: People per car and per taxi (TravelPlanner's cost rules).
CAR_SEATS, TAXI_SEATS = 5, 4
GROUND_MODES = ("self-driving", "taxi")
RESTAURANTS_PER_CITY, ACCOMMODATIONS_PER_CITY, ATTRACTIONS_PER_CITY = 10, 6, 5


@dataclass(frozen=True)
class Flight:
    number: str
    origin: str
    destination: str
    date: str
    departure: str
    arrival: str
    minutes: int
    price: int
    km: int


@dataclass(frozen=True)
class GroundLeg:
    mode: str
    origin: str
    destination: str
    minutes: int
    km: int
    cost: int


@dataclass(frozen=True)
class Accommodation:
    name: str
    city: str
    price: int
    room_type: str
    house_rules: tuple[str, ...]
    minimum_nights: int
    max_occupancy: int
    rating: float


@dataclass(frozen=True)
class Restaurant:
    name: str
    city: str
    cuisines: tuple[str, ...]
    average_cost: int
    rating: float


@dataclass(frozen=True)
class Attraction:
    name: str
    city: str
    category: str


PLACE_TYPES = {"accommodation": Accommodation, "restaurant": Restaurant, "attraction": Attraction}


def trip_dates(start: str, days: int) -> list[str]:
    first = dt.date.fromisoformat(start)
    return [(first + dt.timedelta(days=i)).isoformat() for i in range(days)]


def in_date_window(date: str) -> bool:
    try:
        return FIRST_DATE <= dt.date.fromisoformat(date) <= LAST_DATE
    except (TypeError, ValueError):
        return False


def _rng(*parts: Any) -> random.Random:
    """A generator seeded by a stable digest of `parts` (Python's hash() is salted)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class Sandbox:
    """Read-only access to one generated world (cities, places, flights, ground legs)."""

    def __init__(self, seed: int, places: dict[str, list[dict[str, Any]]]):
        self.seed = seed
        self._by_city: dict[tuple[str, str], list[Any]] = {}
        self._by_key: dict[tuple[str, str, str], Any] = {}
        for kind, rows in places.items():
            cls = PLACE_TYPES[kind]
            for row in rows:
                place = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in row.items()})
                self._by_city.setdefault((kind, place.city), []).append(place)
                self._by_key[(kind, place.name, place.city)] = place
        self.flights = lru_cache(maxsize=4096)(self._flights)

    # ------------------------------------------------------------ places
    @staticmethod
    def is_city(city: str) -> bool:
        return city in CITY_STATE

    def places(self, kind: str, city: str) -> list[Any]:
        """Accommodations, restaurants or attractions of `city`, in a fixed order."""
        return list(self._by_city.get((kind, city), ()))

    def place(self, kind: str, name: str, city: str) -> Any | None:
        return self._by_key.get((kind, name, city))

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        return {kind: [asdict(p) for (k, _), rows in self._by_city.items() if k == kind
                       for p in rows] for kind in PLACE_TYPES}

    # ------------------------------------------------------------ transport
    def _flights(self, origin: str, destination: str, date: str) -> tuple[Flight, ...]:
        """Flights of one route on one day, cheapest first (a pure function of the seed)."""
        if (origin == destination or not self.is_city(origin) or not self.is_city(destination)
                or not in_date_window(date)):
            return ()
        km = road_km(origin, destination)
        if km < MIN_FLIGHT_KM:
            return ()
        rng = _rng(self.seed, "flights", origin, destination, date)
        counts, weights = zip(*FLIGHTS_PER_DAY)
        flights = []
        for _ in range(rng.choices(counts, weights)[0]):
            # Planes fly the great circle (undo the road factor), plus 30 minutes on the ground.
            minutes = 30 + round(km / ROAD_FACTOR / CRUISE_KMH * 60)
            departure = rng.randrange(6 * 60, 17 * 60, 5)
            price = round((50 + 0.09 * km) * rng.uniform(0.75, 1.35))
            number = f"F{rng.randrange(10**6, 10**7)}"
            flights.append(Flight(number, origin, destination, date, _clock(departure),
                                  _clock(departure + minutes), minutes, price, km))
        return tuple(sorted(flights, key=lambda f: (f.price, f.departure, f.number)))

    def flight(self, number: str, origin: str, destination: str, date: str) -> Flight | None:
        return next((f for f in self.flights(origin, destination, date) if f.number == number),
                    None)

    def ground_leg(self, mode: str, origin: str, destination: str) -> GroundLeg | None:
        """A self-driving or taxi leg between two different known cities (always exists)."""
        if (mode not in GROUND_MODES or origin == destination or not self.is_city(origin)
                or not self.is_city(destination)):
            return None
        km = road_km(origin, destination)
        rate = SELF_DRIVING_RATE if mode == "self-driving" else TAXI_RATE
        return GroundLeg(mode, origin, destination, round(km / DRIVE_KMH * 60), km,
                         max(5, round(km * rate)))


# ------------------------------------------------------------------ generation
def generate_places(seed: int) -> dict[str, list[dict[str, Any]]]:
    """Accommodations, restaurants and attractions of every city, from `seed`."""
    places: dict[str, list[dict[str, Any]]] = {kind: [] for kind in PLACE_TYPES}
    for city in CITY_STATE:
        rng = _rng(seed, "places", city)
        places["restaurant"] += [asdict(r) for r in _restaurants(rng, city)]
        places["accommodation"] += [asdict(a) for a in _accommodations(rng, city)]
        places["attraction"] += [asdict(a) for a in _attractions(rng, city)]
    return places


def _unique_names(rng: random.Random, count: int, make) -> list[str]:
    chosen: list[str] = []
    while len(chosen) < count:
        name = make(rng)
        if name not in chosen:
            chosen.append(name)
    return chosen


def _restaurants(rng: random.Random, city: str) -> list[Restaurant]:
    def make(r: random.Random) -> str:
        base = f"{r.choice(names.RESTAURANT_FIRST)} {r.choice(names.RESTAURANT_SECOND)}"
        suffix = r.choice(names.RESTAURANT_SUFFIX)
        return f"The {base} {suffix}".strip()

    rows = []
    for name in _unique_names(rng, RESTAURANTS_PER_CITY, make):
        # Weight the query cuisines up so that cuisine constraints are usually satisfiable.
        pool = list(names.QUERY_CUISINES) * 2 + list(names.CUISINES[len(names.QUERY_CUISINES):])
        cuisines = sorted(set(rng.sample(pool, rng.randint(1, 3))))
        rows.append(Restaurant(name, city, tuple(cuisines), rng.randint(10, 90),
                               round(rng.uniform(2.5, 5.0), 1)))
    return rows


#: room type -> (price range per night, max occupancy range)
_ROOM_PROFILES = {"Entire home/apt": ((120, 700), (2, 8)), "Private room": ((50, 260), (1, 3)),
                  "Shared room": ((25, 110), (1, 2))}
_MINIMUM_NIGHTS = ((1, 0.5), (2, 0.3), (3, 0.1), (5, 0.05), (30, 0.05))


def _accommodations(rng: random.Random, city: str) -> list[Accommodation]:
    def make(r: random.Random) -> str:
        return (f"{r.choice(names.LODGING_FIRST)} {r.choice(names.LODGING_SECOND)} "
                f"{r.choice(names.LODGING_PLACE)}")

    rows = []
    nights, night_weights = zip(*_MINIMUM_NIGHTS)
    for name in _unique_names(rng, ACCOMMODATIONS_PER_CITY, make):
        room_type = rng.choices(names.ROOM_TYPES, (0.45, 0.4, 0.15))[0]
        (low, high), (min_occ, max_occ) = _ROOM_PROFILES[room_type]
        rules = tuple(rule for rule in names.HOUSE_RULES if rng.random() < 0.3)
        rows.append(Accommodation(name, city, rng.randint(low, high), room_type, rules,
                                  rng.choices(nights, night_weights)[0],
                                  rng.randint(min_occ, max_occ), round(rng.uniform(3.0, 5.0), 1)))
    return rows


def _attractions(rng: random.Random, city: str) -> list[Attraction]:
    patterns = rng.sample(names.ATTRACTION_PATTERNS, ATTRACTIONS_PER_CITY)
    rows = []
    for pattern, category in patterns:
        name = pattern.format(city=city, name=rng.choice(names.ATTRACTION_NAMES))
        rows.append(Attraction(name, city, category))
    return rows


def units_needed(people: int, seats: int) -> int:
    """How many cars, taxis or rooms `people` need when each holds `seats`."""
    return math.ceil(people / max(1, seats))
