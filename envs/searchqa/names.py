"""Invented names for the generated world: people, places, organisations, works.

Every name word is built from syllables and registered in one `NameBank`, so
no two entities share a name word unless the bank hands it out on purpose
(family surnames). Invented words are what keeps the questions answerable
from the corpus only: no model has world knowledge about "Velmoria".

The syllables come from a small inventory drawn once per world (`SYLLABLES`
of the 5,760 onset-vowel-coda combinations), as a real language reuses its
syllables. Each is then frequent enough to become one token of a BPE trained
on the corpus, so an unseen name is two or three tokens that the model has
seen, not six rare pieces: copying it from the question is a few exact steps.
"""
from __future__ import annotations

import random


ONSETS = (
    "b", "br", "c", "d", "dr", "f", "g", "gr", "h", "j", "k", "kh", "l", "m", "n", "p",
    "qu", "r", "s", "sh", "st", "t", "th", "tr", "v", "vr", "w", "y", "z", "",
)
VOWELS = ("a", "e", "i", "o", "u", "ae", "ai", "ei", "ou", "ia", "y", "io")
CODAS = ("", "", "", "", "n", "r", "l", "s", "th", "nd", "rk", "m", "x", "sk", "v", "nt")

TITLE_ADJECTIVES = (
    "Amber", "Ashen", "Autumn", "Bitter", "Broken", "Burning", "Crimson", "Distant", "Drowned",
    "Emerald", "Empty", "Endless", "Fading", "Fallen", "Forgotten", "Frozen", "Gilded", "Glass",
    "Golden", "Green", "Grey", "Hidden", "Hollow", "Iron", "Ivory", "Last", "Lonely", "Lost",
    "Marble", "Midnight", "Northern", "Pale", "Patient", "Quiet", "Restless", "Scarlet", "Secret",
    "Silent", "Silver", "Sleeping", "Southern", "Stone", "Summer", "Sunken", "Twelfth", "Velvet",
    "Wandering", "Weeping", "White", "Wild", "Winter", "Wooden", "Yellow", "Hundredth", "Violet",
    "Painted", "Borrowed", "Tender", "Narrow", "Ancient",
)
TITLE_NOUNS = (
    "Anchor", "Archive", "Bell", "Bridge", "Candle", "Cathedral", "Cellar", "Chorus", "Citadel",
    "Clock", "Compass", "Crown", "Dancer", "Delta", "Door", "Dream", "Empire", "Feather", "Ferry",
    "Field", "Fountain", "Garden", "Gate", "Glacier", "Harbour", "Harvest", "Hearth", "Heron",
    "Horizon", "Island", "Key", "Labyrinth", "Lantern", "Lighthouse", "Meadow", "Mirror", "Mill",
    "Monastery", "Orchard", "Palace", "Pilgrim", "Quarry", "Rain", "River", "Road", "Sailor",
    "Season", "Shadow", "Shore", "Signal", "Song", "Sparrow", "Staircase", "Storm", "Tide", "Tower",
    "Valley", "Voyage", "Well", "Window", "Wolf", "Lagoon", "Threshold", "Loom", "Falcon", "Choir",
    "Vineyard", "Observatory", "Atlas", "Oracle",
)


#: Syllables in a world's inventory: 160**2 + 160**3 words, far more than any world needs.
SYLLABLES = 160


class NameBank:
    """Hands out invented words and titles, each at most once across the whole world."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()
        combinations = [o + v + c for o in ONSETS for v in VOWELS for c in dict.fromkeys(CODAS)]
        self.syllables = rng.sample(combinations, SYLLABLES)

    def word(self, min_syllables: int = 2, max_syllables: int = 3) -> str:
        """A new capitalised word of invented syllables (never returned before)."""
        for _ in range(10_000):
            count = self.rng.randint(min_syllables, max_syllables)
            word = "".join(self._syllable() for _ in range(count))
            if 4 <= len(word) <= 12 and word not in self.used:
                self.used.add(word)
                return word.capitalize()
        raise RuntimeError("the syllable space is exhausted; lower the number of entities")

    def words(self, count: int, min_syllables: int = 2, max_syllables: int = 3) -> list[str]:
        return [self.word(min_syllables, max_syllables) for _ in range(count)]

    def title(self) -> str:
        """A new work title: English words around an invented one, or two English words."""
        for _ in range(10_000):
            adjective = self.rng.choice(TITLE_ADJECTIVES)
            noun = self.rng.choice(TITLE_NOUNS)
            pattern = self.rng.random()
            if pattern < 0.45:
                title = f"The {adjective} {noun}"
            elif pattern < 0.75:
                title = f"The {noun} of {self.word(2, 2)}"
            else:
                title = f"{adjective} {noun} at {self.word(2, 2)}"
            if title.lower() not in self.used:
                self.used.add(title.lower())
                return title
        raise RuntimeError("the title space is exhausted; lower the number of works")

    def _syllable(self) -> str:
        return self.rng.choice(self.syllables)


def person_names(bank: NameBank, count: int) -> list[tuple[str, str]]:
    """`count` distinct (full name, pronoun) pairs; surnames repeat, as in families."""
    rng = bank.rng
    first_names = [(name, rng.choice(("he", "she")))
                   for name in bank.words(max(8, count // 12), 2, 2)]
    surnames = bank.words(max(4, count // 3), 2, 3)
    chosen: set[str] = set()
    people: list[tuple[str, str]] = []
    while len(people) < count:
        first, pronoun = rng.choice(first_names)
        full = f"{first} {rng.choice(surnames)}"
        if full not in chosen:
            chosen.add(full)
            people.append((full, pronoun))
    return people
