"""The map behind the sandbox: real US states and cities with their coordinates.

Coordinates (degrees, WGS84, rounded to 0.01) are public facts; distances are
great-circle distances stretched by a road factor, so driving and taxi legs get
plausible lengths without a routing engine.
"""
from __future__ import annotations

import math

#: Road distance is on average about a quarter longer than the great-circle distance.
ROAD_FACTOR = 1.25
EARTH_RADIUS_KM = 6371.0

#: state -> ((city, latitude, longitude), ...)
STATES: dict[str, tuple[tuple[str, float, float], ...]] = {
    "Arizona": (("Phoenix", 33.45, -112.07), ("Tucson", 32.22, -110.97),
                ("Flagstaff", 35.20, -111.65), ("Yuma", 32.69, -114.63),
                ("Sedona", 34.87, -111.76)),
    "California": (("Los Angeles", 34.05, -118.24), ("San Francisco", 37.77, -122.42),
                   ("San Diego", 32.72, -117.16), ("Sacramento", 38.58, -121.49),
                   ("Fresno", 36.74, -119.79)),
    "Colorado": (("Denver", 39.74, -104.99), ("Colorado Springs", 38.83, -104.82),
                 ("Aspen", 39.19, -106.82), ("Grand Junction", 39.06, -108.55),
                 ("Durango", 37.28, -107.88)),
    "Florida": (("Miami", 25.76, -80.19), ("Orlando", 28.54, -81.38), ("Tampa", 27.95, -82.46),
                ("Jacksonville", 30.33, -81.66), ("Tallahassee", 30.44, -84.28)),
    "Georgia": (("Atlanta", 33.75, -84.39), ("Savannah", 32.08, -81.09),
                ("Augusta", 33.47, -81.97), ("Columbus", 32.46, -84.99), ("Macon", 32.84, -83.63)),
    "Illinois": (("Chicago", 41.88, -87.63), ("Springfield", 39.78, -89.65),
                 ("Peoria", 40.69, -89.59), ("Rockford", 42.27, -89.09),
                 ("Champaign", 40.12, -88.24)),
    "Michigan": (("Detroit", 42.33, -83.05), ("Grand Rapids", 42.96, -85.67),
                 ("Lansing", 42.73, -84.56), ("Traverse City", 44.76, -85.62),
                 ("Kalamazoo", 42.29, -85.59)),
    "New York": (("New York", 40.71, -74.01), ("Buffalo", 42.89, -78.88),
                 ("Rochester", 43.16, -77.61), ("Albany", 42.65, -73.76),
                 ("Syracuse", 43.05, -76.15)),
    "North Carolina": (("Charlotte", 35.23, -80.84), ("Raleigh", 35.78, -78.64),
                       ("Asheville", 35.60, -82.55), ("Wilmington", 34.23, -77.94),
                       ("Greensboro", 36.07, -79.79)),
    "Tennessee": (("Nashville", 36.16, -86.78), ("Memphis", 35.15, -90.05),
                  ("Knoxville", 35.96, -83.92), ("Chattanooga", 35.05, -85.31),
                  ("Jackson", 35.61, -88.81)),
    "Texas": (("Austin", 30.27, -97.74), ("Dallas", 32.78, -96.80), ("Houston", 29.76, -95.37),
              ("San Antonio", 29.42, -98.49), ("El Paso", 31.76, -106.49),
              ("Lubbock", 33.58, -101.86)),
    "Washington": (("Seattle", 47.61, -122.33), ("Spokane", 47.66, -117.43),
                   ("Tacoma", 47.25, -122.44), ("Bellingham", 48.75, -122.48),
                   ("Yakima", 46.60, -120.51)),
}

#: city -> state
CITY_STATE: dict[str, str] = {city: state for state, rows in STATES.items() for city, _, _ in rows}
_COORDINATES = {city: (lat, lon) for rows in STATES.values() for city, lat, lon in rows}


def cities_of(state: str) -> list[str]:
    """Cities of `state` in a fixed order (empty for an unknown state)."""
    return [city for city, _, _ in STATES.get(state, ())]


def road_km(origin: str, destination: str) -> int:
    """Road distance between two known cities in whole kilometres."""
    (lat1, lon1), (lat2, lon2) = _COORDINATES[origin], _COORDINATES[destination]
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlam = phi2 - phi1, math.radians(lon2 - lon1)
    # Haversine formula for the great-circle distance.
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return round(ROAD_FACTOR * 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h)))
