"""Container ids and names: generation, validation, Docker's random "adjective_surname"."""

from __future__ import annotations

import re
import secrets

from minke.errors import InvalidParameter

VALID_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

# A short list in the spirit of moby's namesgenerator: adjectives and notable engineers.
ADJECTIVES = (
    "admiring", "agitated", "amazing", "angry", "awesome", "blissful", "bold", "brave",
    "busy", "charming", "clever", "cool", "compassionate", "confident", "cranky", "dazzling",
    "determined", "distracted", "dreamy", "eager", "ecstatic", "elastic", "elated", "elegant",
    "epic", "fervent", "festive", "flamboyant", "focused", "friendly", "frosty", "gallant",
    "gifted", "goofy", "gracious", "happy", "hardcore", "heuristic", "hopeful", "hungry",
    "infallible", "inspiring", "jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid",
    "magical", "modest", "musing", "mystifying", "naughty", "nervous", "nice", "nifty",
    "nostalgic", "objective", "optimistic", "peaceful", "pensive", "practical", "priceless",
    "quirky", "quizzical", "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly",
    "sleepy", "stoic", "strange", "stupefied", "suspicious", "sweet", "tender", "thirsty",
    "trusting", "unruffled", "upbeat", "vibrant", "vigilant", "vigorous", "wizardly",
    "wonderful", "xenodochial", "youthful", "zealous", "zen",
)
SURNAMES = (
    "albattani", "allen", "almeida", "archimedes", "babbage", "banach", "bardeen", "bartik",
    "bell", "bhabha", "black", "blackwell", "bohr", "booth", "borg", "bose", "brahmagupta",
    "brattain", "brown", "burnell", "cannon", "carson", "cerf", "chandrasekhar", "chaplygin",
    "clarke", "cohen", "curie", "darwin", "davinci", "diffie", "dijkstra", "dubinsky", "easley",
    "einstein", "elion", "engelbart", "euclid", "euler", "fermat", "fermi", "feynman",
    "franklin", "galileo", "gates", "goldberg", "goldstine", "goodall", "hamilton", "haslett",
    "hawking", "heisenberg", "hellman", "hermann", "hodgkin", "hoover", "hopper", "hugle",
    "hypatia", "jackson", "jang", "jennings", "jepsen", "johnson", "joliot", "jones", "kalam",
    "keller", "kepler", "khorana", "kilby", "kirch", "knuth", "lalande", "lamarr", "lamport",
    "leakey", "leavitt", "lederberg", "lehmann", "lewin", "liskov", "lovelace", "lumiere",
    "mahavira", "mayer", "mccarthy", "mcclintock", "meitner", "mendel", "merkle", "mestorf",
    "mirzakhani", "montalcini", "moore", "morse", "napier", "nash", "neumann", "newton",
    "nobel", "noether", "northcutt", "noyce", "panini", "pare", "pascal", "pasteur", "payne",
    "perlman", "pike", "poincare", "poitras", "ptolemy", "raman", "ramanujan", "ride",
    "ritchie", "robinson", "rosalind", "saha", "sammet", "shamir", "shannon", "shaw",
    "shirley", "shockley", "sinoussi", "snyder", "spence", "stonebraker", "sutherland",
    "swanson", "swartz", "taussig", "tesla", "thompson", "torvalds", "turing", "varahamihira",
    "visvesvaraya", "volhard", "wescoff", "wiles", "williams", "wilson", "wing", "wozniak",
    "wright", "yalow", "yonath",
)


def new_id() -> str:
    return secrets.token_hex(32)


def random_name() -> str:
    name = f"{secrets.choice(ADJECTIVES)}_{secrets.choice(SURNAMES)}"
    if name == "boring_wozniak":  # Steve Wozniak is not boring (moby's rule)
        return random_name()
    return name


def validate_name(name: str) -> str:
    """The name without its leading '/', or InvalidParameter with Docker's wording."""
    if not VALID_NAME.match(name):
        raise InvalidParameter(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return name.lstrip("/")
