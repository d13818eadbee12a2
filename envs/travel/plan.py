"""The itinerary an agent builds: one row of six slots per day, as in TravelPlanner.

A day's current city is not a slot: it follows from the transportation, so a
plan can never say it is in one city while flying out of another. A day with a
leg from A to B is "from A to B"; any other day is wherever the last leg ended
(the origin before the first leg).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from earlyexp.envs.travel.sandbox import Sandbox

SLOTS = ("transportation", "breakfast", "attraction", "lunch", "dinner", "accommodation")
MEALS = ("breakfast", "lunch", "dinner")
PLACE_SLOTS = {"breakfast": "restaurant", "lunch": "restaurant", "dinner": "restaurant",
               "attraction": "attraction", "accommodation": "accommodation"}
TRANSPORT_MODES = ("flight", "self-driving", "taxi")
EMPTY = "-"


@dataclass(frozen=True)
class Leg:
    """A transportation slot: a flight (with its number) or a self-driving or taxi ride."""

    mode: str
    origin: str
    destination: str
    flight: str | None = None

    def label(self) -> str:
        what = f"Flight {self.flight}" if self.mode == "flight" else self.mode.capitalize()
        return f"{what}, from {self.origin} to {self.destination}"


@dataclass(frozen=True)
class Stop:
    """A place slot (restaurant, attraction or accommodation), named as in the sandbox."""

    name: str
    city: str

    def label(self) -> str:
        return f"{self.name}, {self.city}"


Value = Leg | Stop | None


class Plan:
    """A mutable draft itinerary of a fixed number of days (day numbers start at 1)."""

    def __init__(self, days: int, rows: list[dict[str, Value]] | None = None):
        self.rows = rows if rows is not None else [dict.fromkeys(SLOTS) for _ in range(days)]

    @property
    def days(self) -> int:
        return len(self.rows)

    def get(self, day: int, slot: str) -> Value:
        return self.rows[day - 1][slot]

    def set(self, day: int, slot: str, value: Value) -> Value:
        """Fill (or with None, clear) one slot; returns the value it replaced."""
        previous, self.rows[day - 1][slot] = self.rows[day - 1][slot], value
        return previous

    def copy(self) -> Plan:
        return Plan(self.days, [dict(row) for row in self.rows])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Plan) and self.rows == other.rows

    def values(self, slots: tuple[str, ...]) -> list[tuple[int, str, Any]]:
        """(day, slot, value) of every filled slot among `slots`, in day order."""
        return [(day, slot, row[slot]) for day, row in enumerate(self.rows, 1) for slot in slots
                if row[slot] is not None]

    def legs(self) -> list[tuple[int, Leg]]:
        return [(day, leg) for day, _, leg in self.values(("transportation",))]

    # ------------------------------------------------------------ cities
    def day_cities(self, origin: str) -> list[tuple[str, ...]]:
        """The city (or the two cities of a leg) of every day."""
        location, cities = origin, []
        for row in self.rows:
            leg = row["transportation"]
            if leg is None:
                cities.append((location,))
            else:
                cities.append((leg.origin, leg.destination))
                location = leg.destination
        return cities

    def start_city(self, day: int, origin: str) -> str:
        """Where the traveller wakes up on `day`."""
        return self.day_cities(origin)[day - 2][-1] if day > 1 else origin

    def end_city(self, day: int, origin: str) -> str:
        """Where the traveller sleeps after `day`."""
        return self.day_cities(origin)[day - 1][-1]

    @staticmethod
    def current_city_label(cities: tuple[str, ...]) -> str:
        return f"from {cities[0]} to {cities[1]}" if len(cities) == 2 else cities[0]

    # ------------------------------------------------------------ text and storage
    def render(self, sandbox: Sandbox, origin: str, dates: list[str]) -> str:
        """The plan in TravelPlanner's layout, one block per day."""
        blocks = []
        for day, (row, cities) in enumerate(zip(self.rows, self.day_cities(origin)), 1):
            leg = describe_leg(sandbox, row["transportation"], dates[day - 1])
            lines = [f"Day {day} ({dates[day - 1]}):",
                     f"Current City: {self.current_city_label(cities)}", f"Transportation: {leg}"]
            for slot in SLOTS[1:]:
                value = row[slot]
                lines.append(f"{slot.capitalize()}: {value.label() if value else EMPTY}")
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)

    def to_json(self) -> list[dict[str, Any]]:
        return [{slot: _value_to_json(value) for slot, value in row.items() if value is not None}
                for row in self.rows]

    @classmethod
    def from_json(cls, rows: list[dict[str, Any]]) -> Plan:
        plan = cls(len(rows))
        for day, row in enumerate(rows, 1):
            for slot, value in row.items():
                plan.set(day, slot, Leg(**value) if slot == "transportation" else Stop(**value))
        return plan


def describe_leg(sandbox: Sandbox, leg: Leg | None, date: str) -> str:
    """TravelPlanner's transportation text, with times and costs looked up in the sandbox."""
    if leg is None:
        return EMPTY
    if leg.mode == "flight":
        flight = sandbox.flight(leg.flight or "", leg.origin, leg.destination, date)
        if flight is None:
            return f"{leg.label()} (not found in the sandbox)"
        return (f"Flight Number: {flight.number}, from {leg.origin} to {leg.destination}, "
                f"Departure Time: {flight.departure}, Arrival Time: {flight.arrival}")
    ground = sandbox.ground_leg(leg.mode, leg.origin, leg.destination)
    if ground is None:
        return f"{leg.label()} (not found in the sandbox)"
    return (f"{leg.mode.capitalize()}, from {leg.origin} to {leg.destination}, "
            f"duration: {hours(ground.minutes)}, distance: {ground.km} km, cost: {ground.cost}")


def hours(minutes: int) -> str:
    whole = minutes // 60
    return f"{whole} hour{'' if whole == 1 else 's'} {minutes % 60} mins"


def _value_to_json(value: Leg | Stop) -> dict[str, Any]:
    if isinstance(value, Leg):
        row = {"mode": value.mode, "origin": value.origin, "destination": value.destination}
        return row | ({"flight": value.flight} if value.flight else {})
    return {"name": value.name, "city": value.city}
