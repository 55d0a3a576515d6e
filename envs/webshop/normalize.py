"""Colour normalisation used by the original WebShop option score.

The colour vocabulary and its order are the original's (``normalize.py``): the score
maps an option to the *first* listed colour it contains, so order decides ties such as
"navy blue" -> "blue" and "light blue" -> "blue". Changing it changes scores.
"""

from __future__ import annotations

# fmt: off
COLOR_SET: tuple[str, ...] = (
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure",
    "banana", "beige", "black", "blue", "blush", "bordeaux", "bronze",
    "brown", "burgundy", "camel", "camo", "caramel", "champagne",
    "charcoal", "cheetah", "chestnut", "chocolate", "christmas", "coffee",
    "cognac", "copper", "coral", "cranberry", "cream", "crystal", "dark",
    "denim", "eggplant", "elephant", "espresso", "fuchsia", "gold", "granite",
    "grape", "graphite", "grass", "gray", "green", "grey", "heather", "indigo",
    "ivory", "ivy", "khaki", "lavender", "lemon", "leopard", "light", "lilac",
    "lime", "magenta", "maroon", "mauve", "merlot", "midnight", "mint", "mocha",
    "multicolor", "mushroom", "mustard", "natural", "navy", "nude", "olive",
    "orange", "peach", "pewter", "pink", "plum", "purple", "rainbow", "red",
    "rose", "royal", "rust", "sand", "sapphire", "seashell", "silver", "skull",
    "slate", "steel", "stone", "stonewash", "sunflower", "tan", "taupe", "teal",
    "tiger", "turquoise", "violet", "walnut", "wheat", "white", "wine", "yellow",
)
# fmt: on


def normalize_color(option: str | tuple[str, ...]) -> str | tuple[str, ...]:
    """First colour of COLOR_SET found in ``option``, else ``option`` unchanged.

    ``in`` means substring for a string but element equality for a tuple; the original
    scores synthetic goals with ``(name, value)`` tuples, so a tuple only normalises when
    its value is exactly a listed colour. We keep that behaviour on purpose.
    """
    for color in COLOR_SET:
        if color in option:
            return color
    return option
