"""Word lists the sandbox generator draws entity names and attributes from."""
from __future__ import annotations

#: The cuisines a query may ask for (TravelPlanner's seven).
QUERY_CUISINES = ("American", "Chinese", "French", "Indian", "Italian", "Mediterranean", "Mexican")
#: Every cuisine a restaurant may serve.
CUISINES = QUERY_CUISINES + ("BBQ", "Bakery", "Cafe", "Desserts", "Fast Food", "Japanese",
                             "Pizza", "Seafood", "Thai")

ROOM_TYPES = ("Entire home/apt", "Private room", "Shared room")
HOUSE_RULES = ("No parties", "No smoking", "No children under 10", "No pets", "No visitors")

RESTAURANT_FIRST = ("Golden", "Blue", "Little", "Old", "Red", "Silver", "Green", "Rustic",
                    "Royal", "Sunny", "Copper", "Hidden", "Happy", "Lucky", "Urban", "Twin",
                    "Wild", "Smoky", "Salty", "Velvet")
RESTAURANT_SECOND = ("Spoon", "Lantern", "Table", "Oven", "Fork", "Kettle", "Garden", "Harbor",
                     "Pepper", "Olive", "Skillet", "Barrel", "Orchard", "Ladle", "Bowl",
                     "Grill", "Sparrow", "Anchor", "Pantry", "Basil")
RESTAURANT_SUFFIX = ("Kitchen", "Bistro", "Diner", "Cafe", "Eatery", "House", "Tavern", "")

LODGING_FIRST = ("Cozy", "Bright", "Quiet", "Spacious", "Charming", "Modern", "Sunlit",
                 "Classic", "Elegant", "Airy", "Rustic", "Stylish", "Peaceful", "Lovely")
LODGING_SECOND = ("Loft", "Studio", "Suite", "Cottage", "Bungalow", "Apartment", "Room",
                  "Retreat", "Hideaway", "Flat", "Nook", "Townhouse")
LODGING_PLACE = ("Downtown", "Near the Park", "by the River", "in Midtown", "Old Town",
                 "near the Museum", "Uptown", "by the Station", "on Main Street", "Westside")

#: (name pattern, category)
ATTRACTION_PATTERNS = (("{city} Museum of Art", "museum"), ("{city} Botanical Garden", "garden"),
                       ("{city} History Center", "museum"), ("{name} Park", "park"),
                       ("{name} Lake Trail", "nature"), ("{city} Science Museum", "museum"),
                       ("{name} Memorial Bridge", "landmark"), ("{city} Zoo", "zoo"),
                       ("{name} Observatory", "landmark"), ("{city} Aquarium", "aquarium"),
                       ("{name} Square", "landmark"), ("{city} Theater District", "culture"),
                       ("{name} Falls", "nature"), ("{city} Children's Museum", "museum"),
                       ("{name} Lighthouse", "landmark"))
ATTRACTION_NAMES = ("Riverside", "Lincoln", "Pioneer", "Heritage", "Maple", "Liberty", "Cedar",
                    "Franklin", "Harbor", "Sunset", "Willow", "Granite")
