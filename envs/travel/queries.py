"""A travel query: who goes where, when, for how much, under which hard constraints."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from earlyexp.envs.travel.sandbox import trip_dates

LEVELS = ("easy", "medium", "hard")
#: Query wording of a room rule -> the house rule that breaks it.
ROOM_RULES = {"parties": "No parties", "smoking": "No smoking",
              "children under 10": "No children under 10", "pets": "No pets",
              "visitors": "No visitors"}
#: Query wording of a room type -> the room types that satisfy it.
ROOM_TYPES = {"entire room": ("Entire home/apt",), "private room": ("Private room",),
              "shared room": ("Shared room",),
              "not shared room": ("Entire home/apt", "Private room")}
#: Query wording of a transportation constraint -> the mode it forbids.
TRANSPORTATION = {"no flight": "flight", "no self-driving": "self-driving"}
HARD_CONSTRAINTS = ("budget", "room_rule", "room_type", "cuisine", "transportation")


@dataclass(frozen=True)
class Query:
    """One TravelPlanner-style request. `destination` is a city for a one-city trip, a state
    for a multi-city one; every stop spends two nights, so `days = 2 * cities + 1`."""

    origin: str
    destination: str
    days: int
    start_date: str
    people: int
    budget: int
    level: str
    room_rule: str | None = None
    room_type: str | None = None
    cuisines: tuple[str, ...] = field(default_factory=tuple)
    transportation: str | None = None

    @property
    def visiting_city_number(self) -> int:
        return (self.days - 1) // 2

    @property
    def dates(self) -> list[str]:
        return trip_dates(self.start_date, self.days)

    @property
    def multi_city(self) -> bool:
        # Not "destination is a state": New York is both.
        return self.visiting_city_number > 1

    def hard_constraints(self) -> list[str]:
        """The hard constraints this query sets, budget first (it always has one)."""
        present = {"budget": True, "room_rule": self.room_rule, "room_type": self.room_type,
                   "cuisine": self.cuisines, "transportation": self.transportation}
        return [name for name in HARD_CONSTRAINTS if present[name]]

    def text(self) -> str:
        dates = self.dates
        who = "1 person" if self.people == 1 else f"{self.people} people"
        where = (f"to {self.destination}, visiting {self.visiting_city_number} cities in that state"
                 if self.multi_city else f"to {self.destination}")
        span = f"{_long_date(dates[0])} to {_long_date(dates[-1])}"
        sentences = [f"Please plan a trip for {who} from {self.origin} {where}, spanning "
                     + f"{self.days} days from {span}.", f"The budget is ${self.budget:,}."]
        if self.room_rule:
            sentences.append(f"Accommodations must allow {self.room_rule}.")
        if self.room_type:
            sentences.append(f"Accommodations must be {self.room_type}s.")
        if self.cuisines:
            sentences.append(f"We want to try {_join(self.cuisines)} cuisine at the destination.")
        if self.transportation:
            sentences.append(f"Transportation: {self.transportation}.")
        return " ".join(sentences)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Query:
        return cls(**{**row, "cuisines": tuple(row.get("cuisines", ()))})


def _long_date(iso: str) -> str:
    day = dt.date.fromisoformat(iso)
    teens = 11 <= day.day % 100 <= 13
    suffix = "th" if teens else {1: "st", 2: "nd", 3: "rd"}.get(day.day % 10, "th")
    return f"{day:%B} {day.day}{suffix}, {day.year}"


def _join(items: tuple[str, ...]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" and {items[-1]}"
