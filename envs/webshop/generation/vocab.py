"""Vocabulary of the generated catalog: product types of the five original categories.

Each type has a title phrase, the scrape query and breadcrumb the original records per
product, an attribute pool, option axes and a price range. Attribute strings carry their
grammatical role as a prefix so instructions and titles read naturally:
"with:lumbar support" -> "... office chair with lumbar support", "for:dry hair" ->
"... shampoo for dry hair", no prefix -> an adjective phrase ("sulfate free shampoo").
The stored attribute is the phrase without the prefix, like the original's attributes.

Rules the generator and the tests rely on: no attribute phrase occurs inside any other
vocabulary text (titles, fillers, option values), and any two attributes score at most
85 with the fuzzy matcher, so a product lacking an attribute really misses it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TypeSpec:
    key: str
    phrase: str  # title noun phrase ("Office Chair"); lower-cased it names the type in instructions
    query: str  # the search query the original scraped the product with
    crumbs: tuple[str, ...]  # breadcrumb below the category root
    attributes: tuple[str, ...]
    options: tuple[tuple[str, tuple[str, ...]], ...]  # (option name, value pool in display order)
    price: tuple[float, float]
    extras: tuple[str, ...] = ()  # words placed before the phrase in some titles
    article: str = "a"  # "a" (becomes "an" before a vowel), "" for plurals, "some" for mass nouns
    siblings: tuple[str, ...] = ()  # types a near-miss product may switch to


@dataclass(frozen=True)
class CategorySpec:
    name: str  # the original's top-level category
    root: str  # first breadcrumb level
    shared_attributes: tuple[str, ...]
    tails: tuple[str, ...]  # title endings after a comma
    intros: tuple[str, ...]  # description openers; {brand} and {item} are filled in
    closers: tuple[str, ...]
    generic_bullets: tuple[str, ...]
    types: tuple[TypeSpec, ...]


# fmt: off
COLORS_APPAREL = ("Black", "White", "Navy Blue", "Heather Grey", "Olive Green", "Burgundy", "Royal Blue", "Khaki")
SIZES_APPAREL = ("Small", "Medium", "Large", "X-Large", "XX-Large")
COLORS_HOME = ("Espresso", "White", "Black", "Walnut", "Grey", "Natural Oak")
COLORS_TECH = ("Black", "White", "Navy Blue", "Red", "Rose Gold", "Silver")

BEAUTY = CategorySpec(
    name="beauty",
    root="Beauty & Personal Care",
    shared_attributes=("cruelty free", "paraben free", "long lasting"),
    tails=("Salon Formula", "Travel Bottle", "Gift Idea", "Value Size"),
    intros=(
        "{brand} brings you a {item} made with carefully chosen ingredients.",
        "Treat yourself with this {item} from {brand}.",
        "The {brand} {item} is part of a simple daily beauty routine.",
    ),
    closers=(
        "Store at room temperature and keep out of reach of children.",
        "Suitable for women and men.",
        "Patch test before first use.",
    ),
    generic_bullets=(
        "SATISFACTION GUARANTEE - reach out to our team with any questions.",
        "MADE IN USA - produced in a certified facility.",
        "GIFT READY - arrives in an elegant box.",
    ),
    types=(
        TypeSpec(
            "shampoo", "Shampoo", "shampoo", ("Hair Care", "Shampoo & Conditioner", "Shampoos"),
            ("sulfate free", "for:dry hair", "for:curly hair", "for:color treated hair", "with:argan oil",
             "with:tea tree oil", "volumizing"),
            (("Size", ("8 Fl Oz", "12 Fl Oz", "16 Fl Oz", "33.8 Fl Oz")),
             ("Scent", ("Lavender", "Coconut", "Unscented", "Citrus", "Vanilla"))),
            (7.0, 38.0), extras=("Salon", "Botanical", "Daily"), siblings=("conditioner",),
        ),
        TypeSpec(
            "conditioner", "Conditioner", "conditioner", ("Hair Care", "Shampoo & Conditioner", "Conditioners"),
            ("sulfate free", "for:dry hair", "for:curly hair", "for:color treated hair", "with:argan oil",
             "with:coconut milk", "detangling"),
            (("Size", ("8 Fl Oz", "12 Fl Oz", "16 Fl Oz", "33.8 Fl Oz")),
             ("Scent", ("Lavender", "Coconut", "Unscented", "Citrus", "Vanilla"))),
            (7.0, 38.0), extras=("Salon", "Botanical", "Leave In"), siblings=("shampoo",),
        ),
        TypeSpec(
            "face moisturizer", "Face Moisturizer", "face moisturizer", ("Skin Care", "Face", "Creams & Moisturizers"),
            ("fragrance free", "for:sensitive skin", "with:hyaluronic acid", "non greasy", "dermatologist tested",
             "anti aging", "with:spf 30"),
            (("Size", ("1 Fl Oz", "1.7 Fl Oz", "2.5 Fl Oz")),),
            (9.0, 65.0), extras=("Daily", "Night", "Gel"), siblings=("face serum",),
        ),
        TypeSpec(
            "face serum", "Face Serum", "face serum", ("Skin Care", "Face", "Serums"),
            ("fragrance free", "for:sensitive skin", "with:hyaluronic acid", "with:vitamin c", "anti aging",
             "for:dark spots", "dermatologist tested"),
            (("Size", ("0.5 Fl Oz", "1 Fl Oz", "2 Fl Oz")),),
            (11.0, 70.0), extras=("Brightening", "Overnight"), siblings=("face moisturizer",),
        ),
        TypeSpec(
            "lipstick", "Lipstick", "matte lipstick", ("Makeup", "Lips", "Lipstick"),
            ("highly pigmented", "with:shea butter", "smudge proof", "vegan formula", "satin finish"),
            (("Color", ("Ruby Red", "Nude Pink", "Berry Wine", "Coral", "Mauve", "Plum", "Chocolate Brown")),),
            (5.0, 29.0), extras=("Matte", "Velvet", "Creamy"), siblings=("nail polish",),
        ),
        TypeSpec(
            "nail polish", "Nail Polish", "nail polish", ("Foot, Hand & Nail Care", "Nail Art & Polish", "Nail Polish"),
            ("quick dry", "non toxic", "chip proof", "vegan formula", "high shine"),
            (("Color", ("Ballet Pink", "Cherry Red", "Navy", "Nude", "Lilac", "Black", "Mint Green")),
             ("Item Package Quantity", ("1 Bottle", "3 Bottles", "6 Bottles"))),
            (4.0, 24.0), extras=("Gel", "Classic"), siblings=("lipstick",),
        ),
        TypeSpec(
            "perfume", "Eau de Parfum", "perfume for women", ("Fragrance", "Women's", "Eau de Parfum"),
            ("with:floral notes", "travel size", "with:vanilla musk", "refillable bottle"),
            (("Size", ("1 Fl Oz", "1.7 Fl Oz", "3.4 Fl Oz")),),
            (18.0, 120.0), extras=("Signature", "Midnight Garden"), siblings=("body lotion",),
        ),
        TypeSpec(
            "body lotion", "Body Lotion", "body lotion", ("Skin Care", "Body", "Lotions"),
            ("fragrance free", "for:sensitive skin", "non greasy", "with:shea butter", "with:aloe vera",
             "dermatologist tested"),
            (("Size", ("8 Fl Oz", "16 Fl Oz", "32 Fl Oz")),
             ("Scent", ("Lavender", "Coconut", "Unscented", "Cocoa Butter", "Cucumber Melon"))),
            (6.0, 30.0), extras=("Daily", "Whipped"), siblings=("face moisturizer",),
        ),
    ),
)

FOOD = CategorySpec(
    name="food",
    root="Grocery & Gourmet Food",
    shared_attributes=("gluten free", "non gmo", "kosher certified", "usda organic"),
    tails=("Family Size", "Pantry Pack", "Snack Box", "Resealable Pouch"),
    intros=(
        "{brand} {item} crafted for real flavor.",
        "Enjoy the taste of {brand} {item} any time of day.",
        "Our {item} is a pantry favorite in homes across the country.",
    ),
    closers=(
        "Store in a cool place and enjoy within a few weeks of opening.",
        "Great at home, at work or on the go.",
        "Packed in a facility that also processes tree nuts and soy.",
    ),
    generic_bullets=(
        "FAMILY OWNED - proudly produced by a family business since 1987.",
        "SATISFACTION GUARANTEE - let us know if you are not happy with your order.",
        "FRESHNESS SEALED - packed to keep the taste you love.",
    ),
    types=(
        TypeSpec(
            "coffee", "Whole Bean Coffee", "whole bean coffee",
            ("Beverages", "Coffee, Tea & Cocoa", "Coffee", "Whole Coffee Beans"),
            ("fair trade", "single origin", "low acid", "small batch roasted"),
            (("Flavor Name", ("Medium Roast", "Dark Roast", "French Roast", "Breakfast Blend", "Espresso")),
             ("Size", ("12 Ounce", "2 Pound", "5 Pound"))),
            (8.0, 45.0), extras=("Colombian", "Italian"), article="some", siblings=("ground coffee",),
        ),
        TypeSpec(
            "ground coffee", "Ground Coffee", "ground coffee", ("Beverages", "Coffee, Tea & Cocoa", "Coffee", "Ground Coffee"),
            ("fair trade", "single origin", "low acid", "small batch roasted"),
            (("Flavor Name", ("Medium Roast", "Dark Roast", "French Roast", "Breakfast Blend", "Hazelnut")),
             ("Size", ("12 Ounce", "2 Pound", "5 Pound"))),
            (7.0, 40.0), extras=("Colombian", "House"), article="some", siblings=("coffee",),
        ),
        TypeSpec(
            "green tea", "Green Tea Bags", "green tea", ("Beverages", "Coffee, Tea & Cocoa", "Tea", "Green"),
            ("individually wrapped", "caffeine free", "with:natural antioxidants", "unsweetened"),
            (("Flavor Name", ("Jasmine", "Mint", "Lemon Ginger", "Honey", "Original")),
             ("Size", ("20 Count", "40 Count", "100 Count"))),
            (4.0, 25.0), extras=("Japanese", "Sencha"), article="", siblings=(),
        ),
        TypeSpec(
            "protein bars", "Protein Bars", "protein bars", ("Snack Foods", "Bars", "Protein Bars"),
            ("high protein", "low sugar", "keto friendly", "individually wrapped", "dairy free", "plant based"),
            (("Flavor Name", ("Chocolate Chip", "Peanut Butter", "Cookie Dough", "Salted Caramel", "Birthday Cake")),
             ("Size", ("12 Count", "15 Count", "24 Count"))),
            (12.0, 48.0), extras=("Snack", "Meal"), article="", siblings=("beef jerky",),
        ),
        TypeSpec(
            "beef jerky", "Beef Jerky", "beef jerky", ("Snack Foods", "Jerky & Dried Meats", "Beef Jerky"),
            ("high protein", "keto friendly", "low fat", "grass fed", "no preservatives"),
            (("Flavor Name", ("Original", "Teriyaki", "Black Pepper", "Sweet & Hot", "Smoked")),
             ("Size", ("3.25 Ounce", "8 Ounce", "16 Ounce"))),
            (6.0, 35.0), extras=("Hickory", "Ranch"), article="some", siblings=("protein bars",),
        ),
        TypeSpec(
            "mixed nuts", "Mixed Nuts", "mixed nuts", ("Snack Foods", "Nuts & Seeds", "Mixed Nuts"),
            ("low sodium", "plant based", "dry roasted", "high protein"),
            (("Flavor Name", ("Salted", "Honey Roasted", "Unsalted", "Sea Salt")),
             ("Size", ("16 Ounce", "32 Ounce", "40 Ounce"))),
            (7.0, 32.0), extras=("Deluxe", "Party"), article="", siblings=(),
        ),
        TypeSpec(
            "olive oil", "Extra Virgin Olive Oil", "olive oil", ("Pantry Staples", "Cooking & Baking", "Oils", "Olive"),
            ("cold pressed", "single origin", "first harvest"),
            (("Size", ("16.9 Fl Oz", "25.3 Fl Oz", "33.8 Fl Oz", "101 Fl Oz")),),
            (9.0, 55.0), extras=("Greek", "Spanish", "Italian"), article="some", siblings=(),
        ),
        TypeSpec(
            "gummy candy", "Gummy Bears", "gummy candy", ("Candy & Chocolate", "Candy", "Gummy Candy"),
            ("sugar free", "fat free", "vegan formula", "individually wrapped", "with:real fruit juice"),
            (("Flavor Name", ("Assorted Fruit", "Sour Mix", "Cherry", "Watermelon", "Tropical")),
             ("Size", ("12 Ounce", "2 Pound", "5 Pound"))),
            (5.0, 28.0), extras=("Classic", "Party"), article="", siblings=(),
        ),
        TypeSpec(
            "hot sauce", "Hot Sauce", "hot sauce", ("Pantry Staples", "Condiments & Salad Dressings", "Hot Sauce"),
            ("sugar free", "low sodium", "fermented", "vegan formula"),
            (("Flavor Name", ("Habanero", "Chipotle", "Garlic", "Original", "Ghost Pepper")),
             ("Item Package Quantity", ("1 Bottle", "3 Bottles", "6 Bottles"))),
            (4.0, 30.0), extras=("Louisiana", "Smoky"), article="some", siblings=(),
        ),
    ),
)

FASHION = CategorySpec(
    name="fashion",
    root="Clothing, Shoes & Jewelry",
    shared_attributes=("machine wash", "relaxed fit", "slim fit"),
    tails=("Everyday Essentials", "Gift for Him or Her", "Classic Collection", "Casual Style"),
    intros=(
        "{brand} makes this {item} for people who want comfort without giving up on looks.",
        "Meet the {brand} {item}, a staple for every wardrobe.",
        "This {item} by {brand} pairs well with almost anything.",
    ),
    closers=(
        "Please check the size chart before ordering.",
        "Imported.",
        "Colors may vary slightly between screens.",
    ),
    generic_bullets=(
        "SIZE CHART - please refer to the chart in the images before ordering.",
        "EASY RETURNS - exchanges are free within 30 days.",
        "GREAT GIFT - perfect for birthdays and holidays.",
    ),
    types=(
        TypeSpec(
            "t-shirt", "T-Shirt", "men's t-shirt", ("Men", "Clothing", "Shirts", "T-Shirts"),
            ("short sleeve", "long sleeve", "with:crew neck", "moisture wicking", "cotton blend"),
            (("Color", COLORS_APPAREL), ("Size", SIZES_APPAREL)),
            (8.0, 30.0), extras=("Graphic", "Basic", "Athletic"), siblings=("hoodie",),
        ),
        TypeSpec(
            "hoodie", "Pullover Hoodie", "men's hoodie", ("Men", "Clothing", "Active", "Active Hoodies"),
            ("long sleeve", "with:kangaroo pocket", "fleece lined", "drawstring closure", "cotton blend"),
            (("Color", COLORS_APPAREL), ("Size", SIZES_APPAREL)),
            (18.0, 55.0), extras=("Athletic", "Heavyweight"), siblings=("t-shirt",),
        ),
        TypeSpec(
            "running shoes", "Running Shoes", "running shoes for women", ("Women", "Shoes", "Athletic", "Running"),
            ("non slip", "rubber sole", "with:arch support", "memory foam", "breathable mesh"),
            (("Size", ("6", "6.5", "7", "7.5", "8", "8.5", "9", "10")), ("Color", ("Black", "White", "Grey", "Pink", "Navy Blue"))),
            (28.0, 95.0), extras=("Road", "Trail", "Tennis"), article="", siblings=(),
        ),
        TypeSpec(
            "jeans", "Jeans", "men's jeans", ("Men", "Clothing", "Jeans"),
            ("button closure", "straight leg", "stretch denim", "five pocket"),
            (("Size", ("30W x 30L", "32W x 30L", "32W x 32L", "34W x 32L", "36W x 34L")),
             ("Color", ("Dark Indigo", "Light Indigo", "Black", "Stone Grey"))),
            (22.0, 70.0), extras=("Classic", "Workwear"), article="", siblings=(),
        ),
        TypeSpec(
            "dress", "Midi Dress", "midi dress for women", ("Women", "Clothing", "Dresses", "Casual"),
            ("short sleeve", "with:side pockets", "high waist", "floral print", "with:v neck"),
            (("Color", ("Black", "Navy Blue", "Wine Red", "Dusty Pink", "Emerald Green", "Floral Blue")), ("Size", SIZES_APPAREL)),
            (19.0, 60.0), extras=("Summer", "Party", "Wrap"), siblings=(),
        ),
        TypeSpec(
            "socks", "Crew Socks", "athletic socks", ("Men", "Clothing", "Socks & Hosiery", "Athletic Socks"),
            ("moisture wicking", "with:arch support", "cushioned sole", "cotton blend"),
            (("Item Package Quantity", ("6 Pairs", "10 Pairs", "12 Pairs")), ("Color", ("Black", "White", "Grey", "Assorted"))),
            (9.0, 30.0), extras=("Athletic", "Performance"), article="", siblings=(),
        ),
        TypeSpec(
            "sunglasses", "Sunglasses", "sunglasses for men",
            ("Men", "Accessories", "Sunglasses & Eyewear Accessories", "Sunglasses"),
            ("with:uv protection", "polarized", "with:metal frame", "scratch resistant"),
            (("Color", ("Black", "Tortoise", "Gold", "Silver", "Blue Mirror")),),
            (12.0, 80.0), extras=("Aviator", "Retro", "Square"), article="", siblings=(),
        ),
        TypeSpec(
            "belt", "Leather Belt", "men's leather belt", ("Men", "Accessories", "Belts"),
            ("genuine leather", "with:alloy buckle", "with:gift box"),
            (("Size", ("32", "34", "36", "38", "40")), ("Color", ("Black", "Brown", "Tan"))),
            (12.0, 45.0), extras=("Dress", "Casual"), siblings=(),
        ),
    ),
)

FURNITURE = CategorySpec(
    name="furniture",
    root="Home & Kitchen",
    shared_attributes=("easy assembly", "heavy duty", "solid wood"),
    tails=("Home Decor", "Modern Design", "Apartment Furniture", "Classic Collection"),
    intros=(
        "The {brand} {item} adds a clean look to any room.",
        "{brand} designed this {item} to be both useful and good looking.",
        "Upgrade your space with the {item} from {brand}.",
    ),
    closers=(
        "All hardware and instructions are included.",
        "Wipe with a damp cloth.",
        "Ships in one box.",
    ),
    generic_bullets=(
        "WORRY FREE PURCHASE - our support team replies within 24 hours.",
        "STURDY BUILD - tested for daily use.",
        "DIMENSIONS - see the images for exact measurements.",
    ),
    types=(
        TypeSpec(
            "office chair", "Office Chair", "office chair",
            ("Furniture", "Home Office Furniture", "Home Office Chairs", "Desk Chairs"),
            ("with:lumbar support", "height adjustable", "with:padded armrests", "ergonomic design", "for:home office"),
            (("Color", ("Black", "Grey", "White", "Blue", "Pink")),),
            (45.0, 260.0), extras=("Mesh", "Executive", "Task"), siblings=("bar stool",),
        ),
        TypeSpec(
            "bookshelf", "Bookshelf", "bookshelf", ("Furniture", "Home Office Furniture", "Bookcases"),
            ("for:living room", "with:storage space", "engineered wood", "space saving", "mid century"),
            (("Color", COLORS_HOME), ("Size", ("3-Tier", "4-Tier", "5-Tier"))),
            (35.0, 180.0), extras=("Ladder", "Corner", "Open"), siblings=("tv stand",),
        ),
        TypeSpec(
            "coffee table", "Coffee Table", "coffee table", ("Furniture", "Living Room Furniture", "Tables", "Coffee Tables"),
            ("for:living room", "with:storage space", "mid century", "with:metal frame", "tempered glass"),
            (("Color", COLORS_HOME),),
            (50.0, 240.0), extras=("Lift Top", "Round", "Farmhouse"), siblings=("tv stand",),
        ),
        TypeSpec(
            "bar stool", "Bar Stools", "bar stools",
            ("Furniture", "Game & Recreation Room Furniture", "Home Bar Furniture", "Barstools"),
            ("height adjustable", "with:metal frame", "for:dining room", "with:back support", "swivel seat"),
            (("Color", ("Black", "Grey", "White", "Walnut", "Cognac")), ("Item Package Quantity", ("Set of 2", "Set of 3", "Set of 4"))),
            (60.0, 280.0), extras=("Counter", "Farmhouse"), article="", siblings=("office chair",),
        ),
        TypeSpec(
            "nightstand", "Nightstand", "nightstand", ("Furniture", "Bedroom Furniture", "Nightstands"),
            ("with:storage drawer", "for:bedroom", "mid century", "with:charging station", "engineered wood"),
            (("Color", COLORS_HOME), ("Item Package Quantity", ("Set of 1", "Set of 2"))),
            (30.0, 150.0), extras=("Bedside", "Rattan"), siblings=("bed frame",),
        ),
        TypeSpec(
            "tv stand", "TV Stand", "tv stand",
            ("Furniture", "Living Room Furniture", "Television Stands & Entertainment Centers"),
            ("for:living room", "with:storage space", "engineered wood", "with:cable management"),
            (("Color", COLORS_HOME), ("Size", ("55 Inch", "65 Inch", "70 Inch"))),
            (60.0, 300.0), extras=("Entertainment Center", "Media Console"), siblings=("bookshelf", "coffee table"),
        ),
        TypeSpec(
            "ottoman", "Storage Ottoman", "storage ottoman", ("Furniture", "Living Room Furniture", "Ottomans"),
            ("with:storage space", "faux leather", "for:living room", "velvet fabric"),
            (("Color", ("Beige", "Grey", "Navy Blue", "Emerald Green", "Brown")),),
            (28.0, 140.0), extras=("Round", "Bench", "Cube"), siblings=(),
        ),
        TypeSpec(
            "bed frame", "Platform Bed Frame", "platform bed frame", ("Furniture", "Bedroom Furniture", "Beds, Frames & Bases", "Beds"),
            ("with:wood slats", "for:bedroom", "with:headboard", "noise reducing"),
            (("Size", ("Twin", "Full", "Queen", "King")),),
            (90.0, 420.0), extras=("Upholstered", "Metal"), siblings=("nightstand",),
        ),
    ),
)

ELECTRONICS = CategorySpec(
    name="electronics",
    root="Electronics",
    shared_attributes=("fast charging", "plug and play", "water resistant"),
    tails=("Compatible with Most Devices", "Home and Office", "Travel Ready", "Latest Model"),
    intros=(
        "The {brand} {item} is built for everyday reliability.",
        "{brand} engineered this {item} to just work, out of the box.",
        "Get more done with the {item} from {brand}.",
    ),
    closers=(
        "Package includes a user manual.",
        "Backed by a 12 month warranty.",
        "Check compatibility with your device before ordering.",
    ),
    generic_bullets=(
        "WHAT YOU GET - the device, a user manual and friendly customer service.",
        "WARRANTY - 12 months of hassle free support.",
        "SAFETY CERTIFIED - tested to international standards.",
    ),
    types=(
        TypeSpec(
            "earbuds", "Bluetooth Earbuds", "wireless earbuds",
            ("Headphones, Earbuds & Accessories", "Headphones & Earbuds", "Earbud Headphones"),
            ("noise cancelling", "with:charging case", "with:built in microphone", "long battery life", "sweat proof"),
            (("Color", COLORS_TECH),),
            (15.0, 120.0), extras=("Sport", "Mini", "True"), article="", siblings=("bluetooth speaker",),
        ),
        TypeSpec(
            "bluetooth speaker", "Bluetooth Speaker", "bluetooth speaker",
            ("Portable Audio & Video", "Portable Speakers & Docks", "Portable Bluetooth Speakers"),
            ("long battery life", "with:built in microphone", "stereo sound", "for:outdoor use", "with:deep bass"),
            (("Color", COLORS_TECH),),
            (19.0, 130.0), extras=("Party", "Mini", "Shower"), siblings=("earbuds",),
        ),
        TypeSpec(
            "usb c charger", "USB C Charger", "usb c charger", ("Accessories & Supplies", "Power Accessories", "Chargers & Adapters"),
            ("with:foldable plug", "dual port", "gan technology", "for:international travel"),
            (("Color", ("Black", "White")), ("Item Package Quantity", ("1 Pack", "2 Pack", "3 Pack"))),
            (9.0, 45.0), extras=("Wall", "Compact"), siblings=("power bank",),
        ),
        TypeSpec(
            "hdmi cable", "HDMI Cable", "hdmi cable", ("Accessories & Supplies", "Audio & Video Accessories", "Cables", "HDMI Cables"),
            ("high speed", "gold plated", "braided nylon", "for:home theater"),
            (("Size", ("3 Feet", "6 Feet", "10 Feet", "15 Feet")), ("Item Package Quantity", ("1 Pack", "2 Pack"))),
            (5.0, 28.0), extras=("Premium", "Ultra"), siblings=(),
        ),
        TypeSpec(
            "power bank", "Power Bank", "power bank", ("Accessories & Supplies", "Batteries, Chargers & Accessories", "Power Banks"),
            ("with:led display", "slim design", "for:international travel", "dual port"),
            (("Capacity", ("10000mAh", "20000mAh", "26800mAh")), ("Color", ("Black", "White", "Blue"))),
            (14.0, 70.0), extras=("Portable", "Magnetic"), siblings=("usb c charger",),
        ),
        TypeSpec(
            "screen protector", "Screen Protector", "screen protector",
            ("Accessories & Supplies", "Cell Phone Accessories", "Screen Protectors"),
            ("tempered glass", "bubble free", "case friendly", "easy install", "scratch resistant"),
            (("Item Package Quantity", ("2 Pack", "3 Pack", "4 Pack")),),
            (5.0, 22.0), extras=("Privacy", "Clear"), siblings=(),
        ),
        TypeSpec(
            "mouse", "Computer Mouse", "wireless mouse",
            ("Computers & Accessories", "Keyboards, Mice & Accessories", "Mice"),
            ("ergonomic design", "silent click", "with:usb receiver", "rechargeable battery"),
            (("Color", ("Black", "White", "Grey", "Pink", "Blue")),),
            (8.0, 60.0), extras=("Optical", "Vertical", "Travel"), siblings=("keyboard",),
        ),
        TypeSpec(
            "keyboard", "Mechanical Keyboard", "mechanical keyboard",
            ("Computers & Accessories", "Keyboards, Mice & Accessories", "Keyboards"),
            ("with:rgb backlight", "for:gaming", "with:wrist rest", "hot swappable", "compact layout"),
            (("Color", ("Black", "White", "Pink", "Grey")), ("Style", ("Red Switch", "Blue Switch", "Brown Switch"))),
            (25.0, 150.0), extras=("Tenkeyless", "Office"), siblings=("mouse",),
        ),
        TypeSpec(
            "webcam", "Webcam", "webcam", ("Computers & Accessories", "Computer Accessories & Peripherals", "Webcams"),
            ("full hd", "with:built in microphone", "for:video calls", "with:privacy cover", "auto focus"),
            (("Color", ("Black", "White")),),
            (18.0, 110.0), extras=("Streaming", "Conference"), siblings=("mouse",),
        ),
    ),
)

CATEGORIES: tuple[CategorySpec, ...] = (BEAUTY, FOOD, FASHION, FURNITURE, ELECTRONICS)

OPENERS = (
    "i need", "i am looking for", "i'm looking for", "i want", "find me", "i would like", "get me",
    "i'm searching for", "can you find", "help me find",
)

BRAND_SYLLABLES = (
    "ka", "lo", "ve", "ri", "na", "so", "mi", "zen", "vo", "lu", "ra", "bel", "dor", "fi", "no", "sa", "vi",
    "ko", "mar", "tel", "qui", "ox", "ly", "pra", "gal", "nor", "wex", "ami", "ter", "cal",
)
# fmt: on

# Words of type phrases, extras and tails that a POS tagger would not call nouns; every other
# word there (and the brand) is a stored title noun.
TITLE_MODIFIERS = frozenset(
    """daily leave matte creamy classic brightening overnight colombian italian japanese greek spanish
    smoky deluxe graphic basic athletic heavyweight retro square casual everyday open round upholstered
    compact portable magnetic premium ultra optical vertical clear true mini executive lift latest
    modern whipped ready compatible most streaming bedside extra virgin de with and or for of in him
    her to""".split()
)


def split_attribute(tagged: str) -> tuple[str, str]:
    """ "with:lumbar support" -> ("with", "lumbar support"); untagged phrases are adjectives ("", phrase)."""
    role, sep, phrase = tagged.partition(":")
    return (role, phrase) if sep else ("", tagged)


def all_attributes() -> set[str]:
    found = set()
    for category in CATEGORIES:
        for tagged in category.shared_attributes:
            found.add(split_attribute(tagged)[1])
        for spec in category.types:
            for tagged in spec.attributes:
                found.add(split_attribute(tagged)[1])
    return found
