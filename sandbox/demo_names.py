"""Word lists the scenario generator draws realistic-looking people, companies and deals from.

All e-mail domains the generator builds end in reserved example domains (RFC 2606), so no
generated address can belong to anyone."""

FIRST_NAMES = (
    "Ann", "Anna", "Aaron", "Abigail", "Adam", "Ada", "Aisha", "Alan", "Alex", "Alice", "Amir", "Amy",
    "Andre", "Andrew", "Angela", "Anton", "Astrid", "Ben", "Bianca", "Bilal", "Brian", "Bruno", "Carla",
    "Carlos", "Caroline", "Chen", "Chloe", "Chris", "Claire", "Daniel", "Daria", "David", "Diana",
    "Diego", "Dmitri", "Elena", "Elif", "Eliza", "Emil", "Emma", "Erik", "Eva", "Farah", "Felix",
    "Fiona", "Frank", "Freya", "Gabriel", "Grace", "Greta", "Hana", "Hannah", "Hassan", "Helen", "Henrik",
    "Hugo", "Ian", "Ida", "Ingrid", "Isaac", "Ivan", "Jack", "James", "Jana", "Jasmine", "Jens", "Joan",
    "Johan", "John", "Jonas", "Jorge", "Julia", "Karin", "Kate", "Kenji", "Klara", "Lars", "Laura",
    "Leila", "Leo", "Lina", "Linda", "Lucas", "Lucia", "Luis", "Maja", "Marco", "Maria", "Mark", "Marta",
    "Martin", "Maya", "Mei", "Michael", "Mira", "Mohammed", "Nadia", "Nils", "Nina", "Noah", "Nora",
    "Olga", "Oliver", "Omar", "Oscar", "Paul", "Paula", "Peter", "Priya", "Rafael", "Rahul", "Rebecca",
    "Rosa", "Ruth", "Sam", "Sara", "Sean", "Sofia", "Sophie", "Stefan", "Susan", "Tariq", "Tess",
    "Thomas", "Tim", "Tobias", "Tom", "Uma", "Valeria", "Victor", "Vera", "Wei", "William", "Yara",
    "Yusuf", "Zara",
)

LAST_NAMES = (
    "Adams", "Ahmed", "Alvarez", "Andersson", "Bailey", "Baker", "Becker", "Bergström", "Berg", "Brown",
    "Campbell", "Carter", "Castro", "Chen", "Clark", "Cohen", "Collins", "Cruz", "Davies", "Diaz",
    "Dubois", "Edwards", "Eriksson", "Evans", "Fischer", "Fischer-Lang", "Foster", "Garcia", "Gomez",
    "Green", "Gupta", "Hall", "Hansen", "Harris", "Hassan", "Hughes", "Ito", "Jackson", "Jensen",
    "Johansson", "Johnson", "Jones", "Kaur", "Khan", "Kim", "King", "Klein", "Kowalski", "Larsen", "Lee",
    "Lewis", "Li", "Lindqvist", "Lopez", "Martin", "Martinez", "Meyer", "Miller", "Moore", "Morales",
    "Morris", "Murphy", "Nguyen", "Nielsen", "Novak", "Olsen", "Ortiz", "Park", "Patel", "Perez",
    "Petrov", "Phillips", "Price", "Ramos", "Reed", "Reyes", "Richter", "Rivera", "Roberts", "Rossi",
    "Russo", "Santos", "Schmidt", "Schneider", "Scott", "Shah", "Silva", "Singh", "Smith", "Sousa",
    "Stewart", "Suzuki", "Tanaka", "Taylor", "Thompson", "Torres", "Turner", "Walker", "Wang", "Ward",
    "Weber", "White", "Williams", "Wilson", "Wood", "Wright", "Yamamoto", "Young", "Zhang",
)

# Surnames with an apostrophe (they end up in e-mail local parts: o'brien@…).
APOSTROPHE_LAST_NAMES = ("O'Brien", "O'Connor", "O'Neil", "D'Angelo", "O'Malley", "D'Souza", "O'Hara")

# (first, last, ascii first, ascii last): names outside ASCII, with the transliteration a mail
# admin would have picked for the address.
UNICODE_PEOPLE = (
    ("Zoë", "Müller", "zoe", "mueller"),
    ("Łukasz", "Wiśniewski", "lukasz", "wisniewski"),
    ("太郎", "山田", "taro", "yamada"),
    ("花子", "佐藤", "hanako", "sato"),
    ("Søren", "Kierkegård", "soren", "kierkegard"),
    ("José", "Núñez", "jose", "nunez"),
    ("Björn", "Åström", "bjorn", "astrom"),
    ("Αλέξης", "Παπαδόπουλος", "alexis", "papadopoulos"),
    ("Дмитрий", "Иванов", "dmitry", "ivanov"),
    ("François", "Lefèvre", "francois", "lefevre"),
    ("Çağla", "Öztürk", "cagla", "ozturk"),
    ("Nguyễn", "Thị Hương", "nguyen", "thi.huong"),
)

# Company names are "<first> <second> <suffix>"; a serial number picks one combination, so
# names repeat only every len(a)*len(b)*len(suffixes) companies (domains never repeat).
ORG_FIRST = (
    "Northwind", "Blue Harbor", "Granite", "Silver Birch", "Red Oak", "Summit", "Harborview", "Ironwood",
    "Lakeside", "Brightwater", "Cedar", "Evergreen", "Falcon", "Golden Gate", "Highland", "Juniper",
    "Keystone", "Lighthouse", "Maple", "Meridian", "Nordic", "Oakridge", "Pinecrest", "Quarry", "Riverbend",
    "Sapphire", "Stonebridge", "Sunrise", "Tidewater", "Union", "Vertex", "Westfield", "Willow", "Zenith",
    "Aurora", "Beacon", "Compass", "Delta", "Echo", "Fjord", "Glacier", "Horizon", "Atlas", "Boreal",
    "Cobalt", "Driftwood", "Ember", "Foxglove", "Heron", "Kestrel",
)
ORG_SECOND = (
    "Logistics", "Analytics", "Foods", "Health", "Robotics", "Capital", "Media", "Energy", "Software",
    "Labs", "Outfitters", "Freight", "Insurance", "Pharma", "Textiles", "Consulting", "Dynamics",
    "Systems", "Builders", "Brewing", "Ceramics", "Clinics", "Devices", "Electric", "Farms", "Foundry",
    "Games", "Holdings", "Hotels", "Instruments", "Marine", "Metals", "Motors", "Networks", "Optics",
    "Paper", "Partners", "Plastics", "Realty", "Retail", "Security", "Solar", "Studios", "Telecom",
    "Tools", "Travel", "Ventures", "Water", "Wireless", "Works",
)
# (suffix, domain ending): every suffix has its own reserved ending, so (first, second, suffix)
# maps to a distinct domain.
ORG_SUFFIXES = (
    ("Inc.", "example.com"), ("LLC", "example.net"), ("Ltd", "example.org"), ("GmbH", "de.example"),
    ("AB", "se.example"), ("SA", "fr.example"), ("BV", "nl.example"), ("Oy", "fi.example"),
    ("K.K.", "jp.example"), ("Pty Ltd", "au.example"),
)

# Words for very long (but valid, ≤ 255 characters) company names.
LONG_NAME_WORDS = (
    "International", "Association", "Cooperative", "Federation", "Regional", "Municipal", "Agricultural",
    "Maritime", "Scientific", "Educational", "Consolidated", "Industrial", "Development", "Research",
    "Benevolent", "Society", "Committee", "Trust", "Administration", "Manufacturing", "Distribution",
)

TITLES = (
    "CEO", "CTO", "CFO", "COO", "VP Sales", "VP Marketing", "Head of Operations", "Sales Manager",
    "Account Executive", "Marketing Manager", "Procurement Lead", "IT Director", "Office Manager",
    "Product Manager", "Engineer", "Consultant", "Buyer", "Analyst", "Founder", "Partner",
)

PRODUCTS = (
    "Annual renewal", "Platform upgrade", "Pilot project", "Enterprise licence", "Support contract",
    "Onboarding package", "Expansion seats", "Data migration", "Training programme", "Hardware refresh",
    "Consulting retainer", "Q3 order", "Q4 order", "Framework agreement", "Managed service",
)

# Salesforce StageName -> HubSpot dealstage (pipeline "default").
STAGES = (
    ("Prospecting", "appointmentscheduled"),
    ("Qualification", "qualifiedtobuy"),
    ("Needs Analysis", "presentationscheduled"),
    ("Value Proposition", "decisionmakerboughtin"),
    ("Negotiation/Review", "contractsent"),
    ("Closed Won", "closedwon"),
    ("Closed Lost", "closedlost"),
)

LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Not Converted")
