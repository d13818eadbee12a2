"""The vocabulary the catalog is generated from: categories, product types, attributes, options.

Every string here is chosen so that WebShop's fuzzy matching (rapidfuzz
`token_set_ratio` > 85 after lower-casing and dropping punctuation) tells
the values of one category apart: no attribute or option value is a
token subset of another (that is why sizes are `xl`/`xxl` rather than
`x-large`/`xx-large`, which match `large` at 100). `tests/envs/test_webshop.py`
checks this property, so a vocabulary edit that breaks it fails loudly.
"""
from __future__ import annotations

from dataclasses import dataclass

COLORS = ("black", "white", "navy", "grey", "red", "green", "beige", "brown", "pink", "purple",
          "olive", "burgundy", "khaki", "charcoal", "teal", "yellow")
APPAREL_SIZES = ("xs", "small", "medium", "large", "xl", "xxl")
SHOE_SIZES = ("6", "7", "8", "9", "10", "11", "12", "13")
BRANDS = ("Northwind", "Alderbrook", "Brightline", "Corvale", "Dunmore", "Everfield", "Fenwick",
          "Glenhaven", "Harbor Lane", "Ironbark", "Juniper Row", "Kestrel", "Larkspur", "Mistral",
          "Oakhollow", "Pinecrest", "Quillon", "Redfern", "Stonebridge", "Tidewell", "Umberly",
          "Valemont", "Westerly", "Yarrowby")


@dataclass(frozen=True)
class Category:
    """One leaf of the category tree and everything its products are made of.

    `attribute_groups` are sets of mutually exclusive attributes (a shirt is
    long sleeve or short sleeve); a product takes at most one of each group.
    The last product type is held out: only the `ood` split asks for it.
    """

    path: tuple[str, ...]
    product_types: tuple[str, ...]
    audience: str
    attribute_groups: tuple[tuple[str, ...], ...]
    options: dict[str, tuple[str, ...]]
    price_range: tuple[float, float]
    uses: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category(("Clothing", "Men", "Shirts"),
             ("dress shirt", "polo shirt", "flannel shirt", "henley shirt"), "men's",
             (("machine washable", "hand wash only"), ("long sleeve", "short sleeve"),
              ("slim fit", "regular fit", "relaxed fit"), ("button down",), ("wrinkle free",),
              ("moisture wicking",), ("stretch fabric",)),
             {"color": COLORS, "size": APPAREL_SIZES}, (14.0, 65.0),
             ("the office", "weekend outings", "everyday wear")),
    Category(("Clothing", "Women", "Dresses"),
             ("maxi dress", "wrap dress", "sundress", "cocktail dress"), "women's",
             (("machine washable", "dry clean only"), ("sleeveless", "long sleeve", "short sleeve"),
              ("v neck", "crew neck", "square neck"), ("with pockets",), ("floral print",),
              ("lined",), ("elastic waist",)),
             {"color": COLORS, "size": APPAREL_SIZES}, (19.0, 95.0),
             ("summer parties", "weddings", "beach days")),
    Category(("Shoes", "Athletic"),
             ("running shoes", "walking shoes", "trail shoes", "tennis shoes"), "",
             (("lightweight",), ("slip resistant",), ("breathable mesh",), ("memory foam",),
              ("wide width", "narrow width"), ("waterproof",), ("arch support",)),
             {"color": COLORS, "size": SHOE_SIZES}, (29.0, 140.0),
             ("daily runs", "long walks", "the gym")),
    Category(("Electronics", "Audio"),
             ("wireless earbuds", "headphones", "bluetooth speaker", "soundbar"), "",
             (("noise cancelling",), ("long battery life",), ("water resistant",),
              ("built-in microphone",), ("fast charging",), ("deep bass",), ("voice assistant",)),
             {"color": ("black", "white", "navy", "red", "silver", "rose gold", "midnight")},
             (19.0, 249.0), ("commuting", "home listening", "workouts")),
    Category(("Electronics", "Storage"),
             ("usb flash drive", "portable ssd", "memory card", "external hard drive"), "",
             (("high speed",), ("shockproof",), ("password protection",), ("usb c",),
              ("plug and play",), ("compact design",), ("metal casing",)),
             {"capacity": ("32gb", "64gb", "128gb", "256gb", "512gb", "1tb", "2tb"),
              "color": ("black", "silver", "blue", "red", "gold")},
             (9.0, 180.0), ("backups", "photo libraries", "travel")),
    Category(("Home & Kitchen", "Bedding"),
             ("sheet set", "comforter set", "duvet cover", "throw blanket"), "",
             (("machine washable",), ("hypoallergenic",), ("deep pocket",),
              ("egyptian cotton", "microfiber", "bamboo viscose"), ("cooling",),
              ("wrinkle resistant",), ("fade resistant",)),
             {"color": COLORS, "size": ("twin", "full", "queen", "king")}, (22.0, 160.0),
             ("guest rooms", "restful sleep", "cozy evenings")),
    Category(("Home & Kitchen", "Kitchen"),
             ("chef knife", "cutting board", "frying pan", "dutch oven"), "",
             (("dishwasher safe", "hand wash recommended"), ("non stick",), ("stainless steel",),
              ("ergonomic handle",), ("oven safe",), ("bpa free",), ("induction compatible",)),
             {"color": ("black", "red", "grey", "teal", "cream", "copper"),
              "size": ("small", "medium", "large")},
             (12.0, 190.0), ("weeknight dinners", "meal prep", "holiday cooking")),
    Category(("Beauty", "Skin Care"),
             ("face moisturizer", "facial cleanser", "eye cream", "sunscreen lotion"), "",
             (("fragrance free",), ("cruelty free",), ("paraben free",), ("oil free",),
              ("sensitive skin",), ("dermatologist tested",), ("vegan",)),
             {"scent": ("unscented", "lavender", "citrus", "rose", "cucumber", "vanilla"),
              "size": ("1 oz", "2 oz", "4 oz", "8 oz")},
             (7.0, 75.0), ("morning routines", "dry winters", "daily care")),
    Category(("Grocery", "Snacks"),
             ("granola bars", "trail mix", "potato chips", "beef jerky"), "",
             (("gluten free",), ("non gmo",), ("low sugar",), ("high protein",), ("kosher",),
              ("individually wrapped",), ("keto friendly",)),
             {"flavor": ("chocolate", "peanut butter", "sea salt", "honey", "barbecue", "original",
                         "cinnamon"),
              "size": ("2 pack", "3 pack", "4 pack", "6 pack")},
             (4.0, 45.0), ("lunch boxes", "road trips", "afternoon cravings")),
    Category(("Grocery", "Beverages"),
             ("green tea", "cold brew coffee", "sparkling water", "herbal tea"), "",
             (("sugar free",), ("caffeine free",), ("organic",), ("zero calorie",),
              ("ready to drink",), ("fair trade",), ("no artificial flavors",)),
             {"flavor": ("lemon", "mint", "peach", "berry", "vanilla", "unsweetened", "ginger"),
              "size": ("12 oz", "16 oz", "32 oz")},
             (5.0, 48.0), ("busy mornings", "hot afternoons", "quiet evenings")),
    Category(("Sports & Outdoors", "Camping"),
             ("camping tent", "sleeping bag", "hiking backpack", "camping chair"), "",
             (("lightweight",), ("water resistant",), ("easy setup",), ("ultralight",),
              ("foldable",), ("ripstop nylon",), ("with carry bag",)),
             {"color": ("green", "orange", "grey", "blue", "olive", "sand"),
              "size": ("small", "medium", "large")},
             (24.0, 260.0), ("weekend trips", "backcountry hikes", "festivals")),
    Category(("Pet Supplies", "Dogs"),
             ("dog bed", "dog leash", "dog collar", "chew toy"), "",
             (("machine washable",), ("orthopedic",), ("reflective",), ("durable",),
              ("non toxic",), ("adjustable",), ("waterproof",)),
             {"color": COLORS, "size": APPAREL_SIZES}, (8.0, 90.0),
             ("daily walks", "puppies", "senior dogs")),
    Category(("Office Products", "Writing"),
             ("gel pens", "spiral notebook", "desk organizer", "sticky notes"), "",
             (("quick drying",), ("acid free",), ("refillable",), ("recycled paper",),
              ("smudge proof",), ("assorted colors",), ("college ruled",)),
             {"color": ("black", "blue", "red", "green", "pink", "purple"),
              "size": ("2 pack", "3 pack", "4 pack", "6 pack")},
             (3.0, 38.0), ("school", "the office", "journaling")),
)

# Phrases the description and features are written from.
BENEFITS = ("built to last", "easy to care for", "comfortable all day", "tested for quality",
            "designed for everyday use", "a customer favourite", "backed by a one-year warranty")
OPTION_PHRASES = {"color": "in {v}", "size": "size {v}", "capacity": "with {v} capacity",
                  "scent": "with {v} scent", "flavor": "in {v} flavor"}
INSTRUCTION_OPENINGS = ("i need", "i am looking for", "find me", "i want to buy", "get me")
