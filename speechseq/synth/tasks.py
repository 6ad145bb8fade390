"""Sentence generators for the synthetic corpora: plain functions of a numpy Generator.

Each returns lower-case words without punctuation, plus what the task needs beside them:
``digits_sentence`` and ``words_sentence`` the words only, ``commands_sentence`` one BIO
slot tag per word, ``translate_sentence`` target texts keyed by language (fr, de, es).
``SPOKEN`` maps a transcript word to what espeak-ng is given to say for it.
"""

from __future__ import annotations

import numpy as np

# transcript word -> text espeak-ng speaks (letters it would otherwise read as a word)
SPOKEN = {"pm": "P M", "am": "A M"}

DIGIT_WORDS = ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _pick(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


def digits_sentence(rng: np.random.Generator) -> list[str]:
    """A connected digit string of 1-7 digits; 0 is "oh" or "zero" (TIDIGITS-like)."""
    n = int(rng.integers(1, 8))
    return [_pick(rng, DIGIT_WORDS) for _ in range(n)]


# --- commands: travel and slot filling ------------------------------------------------------

CITIES = (
    "taipei", "boston", "denver", "atlanta", "dallas", "houston", "chicago", "seattle", "portland",
    "phoenix", "miami", "orlando", "tampa", "detroit", "cleveland", "pittsburgh", "philadelphia",
    "baltimore", "washington", "new york", "newark", "los angeles", "san francisco", "san diego",
    "san jose", "oakland", "las vegas", "salt lake city", "kansas city", "saint louis", "memphis",
    "nashville", "charlotte", "raleigh", "indianapolis", "columbus", "cincinnati", "milwaukee",
    "minneapolis", "omaha", "toronto", "montreal", "vancouver", "calgary", "ottawa", "london",
    "paris", "berlin", "madrid", "lisbon", "rome", "milan", "vienna", "prague", "warsaw",
    "amsterdam", "brussels", "dublin", "edinburgh", "oslo", "stockholm", "helsinki", "copenhagen",
    "zurich", "geneva", "athens", "istanbul", "cairo", "nairobi", "lagos", "johannesburg",
    "dubai", "delhi", "mumbai", "bangkok", "singapore", "jakarta", "manila", "seoul", "tokyo",
    "osaka", "beijing", "shanghai", "hong kong", "sydney", "melbourne", "auckland", "lima",
    "bogota", "santiago", "buenos aires", "mexico city", "havana", "honolulu", "anchorage",
)  # fmt: skip
AIRLINES = (
    "united", "delta", "american", "southwest", "alaska", "jetblue", "lufthansa", "air france",
    "british airways", "air canada", "qantas", "emirates", "klm", "iberia", "eva air",
    "china airlines", "korean air", "swiss", "finnair", "turkish airlines",
)  # fmt: skip
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december")  # fmt: skip
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ORDINALS = (
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
    "eighteenth", "nineteenth", "twentieth", "twenty first", "twenty second", "twenty third",
    "twenty fourth", "twenty fifth", "twenty sixth", "twenty seventh", "twenty eighth",
    "twenty ninth", "thirtieth", "thirty first",
)  # fmt: skip
HOURS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")  # fmt: skip
MINUTES = ("oh five", "ten", "fifteen", "twenty", "twenty five", "thirty", "thirty five", "forty", "forty five", "fifty", "fifty five")  # fmt: skip
PERIODS = ("morning", "afternoon", "evening", "night")
CLASSES = ("first class", "business class", "economy", "coach", "premium economy")
MEALS = ("breakfast", "lunch", "dinner", "a snack", "a vegetarian meal")
COUNTS = ("two", "three", "four", "five", "six")

# a template is a list of literals and slot fillers "{filler:slot}"
COMMAND_TEMPLATES = (
    "arrive in {city:toloc.city_name} on {date:arrive_date}",
    "leave {city:fromloc.city_name} at {time:depart_time}",
    "i want to fly from {city:fromloc.city_name} to {city:toloc.city_name}",
    "i want to fly from {city:fromloc.city_name} to {city:toloc.city_name} on {date:depart_date}",
    "show me flights from {city:fromloc.city_name} to {city:toloc.city_name} on {day:depart_date.day_name}",
    "show me the {airline:airline_name} flights to {city:toloc.city_name}",
    "book a {class:class_type} ticket from {city:fromloc.city_name} to {city:toloc.city_name}",
    "list {airline:airline_name} flights from {city:fromloc.city_name} in the {period:depart_time.period_of_day}",
    "i need a flight to {city:toloc.city_name} arriving before {time:arrive_time}",
    "find a round trip from {city:fromloc.city_name} to {city:toloc.city_name} leaving {date:depart_date}",
    "what flights leave {city:fromloc.city_name} on {day:depart_date.day_name} {period:depart_time.period_of_day}",
    "are there any flights from {city:fromloc.city_name} to {city:toloc.city_name} with {meal:meal_description}",
    "i would like to leave {city:fromloc.city_name} on {date:depart_date} at {time:depart_time}",
    "get me to {city:toloc.city_name} by {time:arrive_time}",
    "cancel my flight to {city:toloc.city_name} on {date:depart_date}",
    "how much is a {class:class_type} fare from {city:fromloc.city_name} to {city:toloc.city_name}",
    "reserve a hotel in {city:city_name} for {count:number_of_nights} nights",
    "rent a car in {city:city_name} on {day:depart_date.day_name}",
    "which airlines fly from {city:fromloc.city_name} to {city:toloc.city_name}",
    "is there a {airline:airline_name} flight from {city:fromloc.city_name} after {time:depart_time}",
    "please book {count:number_of_seats} seats to {city:toloc.city_name} on {date:depart_date}",
    "what time does the last flight to {city:toloc.city_name} leave on {day:depart_date.day_name}",
    "i am flying {class:class_type} to {city:toloc.city_name} next {day:depart_date.day_name}",
    "change my {city:fromloc.city_name} flight to the {ordinal:depart_date.day_number} of {month:depart_date.month_name}",
)  # fmt: skip


def _time_words(rng: np.random.Generator) -> list[tuple[str, str]]:
    """A clock time as (word, part): "five thirty pm", "noon"; parts are "time"."""
    r = rng.random()
    if r < 0.08:
        return [(_pick(rng, ("noon", "midnight")), "time")]
    words = [_pick(rng, HOURS)]
    if rng.random() < 0.6:
        words += _pick(rng, MINUTES).split()
    if rng.random() < 0.7:
        words.append(_pick(rng, ("am", "pm")))
    return [(w, "time") for w in words]


def _date_words(rng: np.random.Generator) -> list[tuple[str, str]]:
    """A date as (word, part) pairs; parts are ATIS-like (month_name, day_number, day_name)."""
    month = [(_pick(rng, MONTHS), "month_name")]
    day = [(w, "day_number") for w in _pick(rng, ORDINALS).split()]
    r = rng.random()
    if r < 0.5:
        return month + day
    if r < 0.7:
        return [(_pick(rng, DAYS), "day_name")] + month + day
    if r < 0.85:
        return [("the", "O")] + day + [("of", "O")] + month
    return [(_pick(rng, DAYS), "day_name")]


def _fill(rng: np.random.Generator, filler: str) -> list[tuple[str, str]]:
    """(word, part) pairs for a filler; part "" means the slot name itself."""
    simple = {
        "city": CITIES,
        "airline": AIRLINES,
        "class": CLASSES,
        "meal": MEALS,
        "count": COUNTS,
        "period": PERIODS,
        "day": DAYS,
        "month": MONTHS,
        "ordinal": ORDINALS,
    }
    if filler in simple:
        return [(w, "") for w in _pick(rng, simple[filler]).split()]
    if filler == "time":
        return _time_words(rng)
    if filler == "date":
        return _date_words(rng)
    raise ValueError(f"unknown filler {filler}")


def commands_sentence(rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """A travel request from the template grammar: (words, BIO tags), one tag per word.

    >>> commands_sentence(np.random.default_rng(1))  # doctest: +SKIP
    (['leave', 'boston', 'at', 'five', 'thirty', 'pm'], ['O', 'B-fromloc.city_name', 'O', 'B-depart_time.time', ...])
    """
    words: list[str] = []
    tags: list[str] = []
    for token in _pick(rng, COMMAND_TEMPLATES).split():
        if not token.startswith("{"):
            words.append(token)
            tags.append("O")
            continue
        filler, slot = token[1:-1].split(":")
        prev_label = None
        for word, part in _fill(rng, filler):
            label = "O" if part == "O" else slot if part == "" else f"{slot}.{part}"
            words.append(word)
            if label == "O":
                tags.append("O")
            else:
                tags.append(("I-" if label == prev_label else "B-") + label)
            prev_label = label
    return words, tags


def commands_vocabulary() -> set[str]:
    """Every word the commands grammar can produce."""
    vocab: set[str] = set()
    for group in (
        CITIES,
        AIRLINES,
        MONTHS,
        DAYS,
        ORDINALS,
        HOURS,
        MINUTES,
        PERIODS,
        CLASSES,
        MEALS,
        COUNTS,
    ):
        for item in group:
            vocab.update(item.split())
    for t in COMMAND_TEMPLATES:
        vocab.update(w for w in t.split() if not w.startswith("{"))
    vocab.update(("noon", "midnight", "am", "pm", "the", "of"))
    return vocab


# --- words: vocabulary for segment embedders and spoken-term search -----------------------

SOUND_ALIKE_PAIRS = (
    ("fear", "near"), ("fame", "name"), ("bat", "pat"), ("cat", "hat"), ("light", "night"),
    ("bear", "pear"), ("rain", "train"), ("ship", "sheep"), ("bit", "beat"), ("fan", "van"),
    ("pen", "ten"), ("coat", "goat"), ("mail", "nail"), ("rice", "price"), ("boat", "vote"),
    ("sink", "think"), ("day", "they"), ("wine", "line"), ("cold", "gold"), ("mouse", "house"),
    ("bake", "lake"), ("road", "load"), ("tie", "pie"), ("seal", "meal"), ("chair", "share"),
)  # fmt: skip
OTHER_WORDS = (
    "apple", "river", "garden", "window", "market", "silver", "doctor", "teacher", "morning",
    "evening", "winter", "summer", "yellow", "purple", "orange", "green", "blue", "water",
    "bread", "butter", "coffee", "music", "paper", "pencil", "table", "kitchen", "castle",
    "forest", "mountain", "island", "ocean", "planet", "rocket", "engine", "bridge", "tunnel",
    "station", "airport", "hospital", "library", "museum", "theatre", "camera", "picture",
    "story", "letter", "number", "money", "family", "friend", "brother", "sister", "mother",
    "father", "children", "animal", "rabbit", "tiger", "monkey", "dolphin", "eagle", "spider",
    "flower", "tomato", "potato", "banana", "lemon", "cherry", "sugar", "pepper", "honey",
    "travel", "listen", "answer", "follow", "remember", "open", "close", "carry", "bring",
    "quickly", "slowly", "always", "never", "today", "tomorrow", "yesterday", "together",
    "little", "large", "happy", "quiet", "bright", "heavy", "simple", "careful", "famous",
    "computer", "telephone", "weather", "holiday", "journey", "question", "problem", "minute",
)  # fmt: skip
WORDS_VOCAB = tuple(w for pair in SOUND_ALIKE_PAIRS for w in pair) + OTHER_WORDS


def words_sentence(rng: np.random.Generator) -> list[str]:
    """3-7 words of WORDS_VOCAB; a third of the sentences hold both words of a sound-alike pair."""
    n = int(rng.integers(3, 8))
    words = [_pick(rng, WORDS_VOCAB) for _ in range(n)]
    if rng.random() < 0.33:
        a, b = _pick(rng, SOUND_ALIKE_PAIRS)
        i, j = rng.choice(n, size=2, replace=False)
        words[int(i)], words[int(j)] = a, b
    return words


# --- translate: English speech, French / German / Spanish targets ---------------------------

LANGS = ("fr", "de", "es")


def clean_text(s: str, keep_hyphens: bool) -> str:
    """Lower-case words without punctuation; intra-word hyphens/apostrophes kept if asked."""
    s = s.lower().replace(",", " ").replace(".", " ").replace("!", " ").replace("?", " ")
    if not keep_hyphens:
        s = s.replace("-", " ").replace("'", "")
    return " ".join(s.split())


def _n2w(n: int, lang: str, to: str = "cardinal") -> str:
    from num2words import num2words

    return num2words(n, lang=lang, to=to)


MONTHS_T = {
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"),
    "de": ("januar", "februar", "märz", "april", "mai", "juni", "juli", "august", "september", "oktober", "november", "dezember"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"),
}  # fmt: skip
# (english, fr, de, es) plural nouns, masculine in fr/es where it matters
NOUNS = (
    ("tickets", "billets", "karten", "billetes"),
    ("books", "livres", "bücher", "libros"),
    ("cats", "chats", "katzen", "gatos"),
    ("euros", "euros", "euro", "euros"),
    ("days", "jours", "tage", "días"),
    ("students", "étudiants", "studenten", "estudiantes"),
)
NOUN_TEMPLATES = (
    ("i would like {n} {x}", "je voudrais {n} {x}", "ich möchte {n} {x}", "quisiera {n} {x}"),
    ("there are {n} {x}", "il y a {n} {x}", "es gibt {n} {x}", "hay {n} {x}"),
    ("{n} {x} please", "{n} {x} s'il vous plaît", "{n} {x} bitte", "{n} {x} por favor"),
    (
        "we need {n} {x}",
        "nous avons besoin de {n} {x}",
        "wir brauchen {n} {x}",
        "necesitamos {n} {x}",
    ),
)
PHRASES = (
    ("good morning", "bonjour", "guten morgen", "buenos días"),
    ("good evening", "bonsoir", "guten abend", "buenas noches"),
    ("thank you very much", "merci beaucoup", "vielen dank", "muchas gracias"),
    ("where is the station", "où est la gare", "wo ist der bahnhof", "dónde está la estación"),
    ("how much does it cost", "combien ça coûte", "wie viel kostet das", "cuánto cuesta"),
    ("i do not understand", "je ne comprends pas", "ich verstehe nicht", "no entiendo"),
    ("see you tomorrow", "à demain", "bis morgen", "hasta mañana"),
    ("the weather is nice today", "il fait beau aujourd'hui", "das wetter ist heute schön", "hace buen tiempo hoy"),
    ("i am hungry", "j'ai faim", "ich habe hunger", "tengo hambre"),
    ("what time is it", "quelle heure est-il", "wie spät ist es", "qué hora es"),
    ("the train is late", "le train est en retard", "der zug hat verspätung", "el tren llega tarde"),
    ("please speak slowly", "parlez lentement s'il vous plaît", "bitte sprechen sie langsam", "hable despacio por favor"),
    ("my name is anna", "je m'appelle anna", "ich heiße anna", "me llamo anna"),
    ("the door is open", "la porte est ouverte", "die tür ist offen", "la puerta está abierta"),
    ("i like coffee", "j'aime le café", "ich mag kaffee", "me gusta el café"),
    ("where are you from", "d'où venez-vous", "woher kommen sie", "de dónde es usted"),
)  # fmt: skip


def _time_targets(h: int, m: int) -> tuple[str, dict[str, str]]:
    en_min = "" if m == 0 else (" oh " + _n2w(m, "en")) if m < 10 else " " + _n2w(m, "en")
    en = f"at {_n2w(h, 'en')}{en_min}"
    fr_h = "une heure" if h == 1 else f"{_n2w(h, 'fr')} heures"
    de_h = "ein uhr" if h == 1 else f"{_n2w(h, 'de')} uhr"
    es_h = "a la una" if h == 1 else f"a las {_n2w(h, 'es')}"
    mins = {lang: "" if m == 0 else " " + _n2w(m, lang) for lang in LANGS}
    return en, {
        "fr": f"à {fr_h}{mins['fr']}",
        "de": f"um {de_h}{mins['de']}",
        "es": f"{es_h}{' y' + mins['es'] if m else ''}",
    }


def _date_targets(month: int, day: int) -> tuple[str, dict[str, str]]:
    en = f"on {MONTHS[month]} {_n2w(day, 'en', 'ordinal')}"
    fr_day = "premier" if day == 1 else _n2w(day, "fr")
    es_day = "primero" if day == 1 else _n2w(day, "es")
    return en, {
        "fr": f"le {fr_day} {MONTHS_T['fr'][month]}",
        "de": f"am {_n2w(day, 'de', 'ordinal')}n {MONTHS_T['de'][month]}",
        "es": f"el {es_day} de {MONTHS_T['es'][month]}",
    }


def translate_sentence(rng: np.random.Generator) -> tuple[list[str], dict[str, str]]:
    """English words and their fr/de/es translations: a number, a year, a time, a date, a
    counted noun phrase or a short phrase. Numbers are written out with num2words in each
    language (German reorders: twenty one -> einundzwanzig)."""
    kind = _pick(rng, ("number", "year", "time", "date", "noun", "noun", "phrase"))
    if kind == "number":
        n = int(rng.integers(0, 100)) if rng.random() < 0.6 else int(rng.integers(100, 10000))
        en = _n2w(n, "en")
        targets = {lang: _n2w(n, lang) for lang in LANGS}
    elif kind == "year":
        y = int(rng.integers(1900, 2031))
        en = f"in {_n2w(y, 'en', 'year')}"
        yt = {lang: _n2w(y, lang, "year") for lang in LANGS}
        targets = {"fr": f"en {yt['fr']}", "de": f"im jahr {yt['de']}", "es": f"en {yt['es']}"}
    elif kind == "time":
        en, targets = _time_targets(
            int(rng.integers(1, 13)),
            int(rng.choice([0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55])),
        )
    elif kind == "date":
        en, targets = _date_targets(int(rng.integers(12)), int(rng.integers(1, 29)))
    elif kind == "noun":
        n = int(rng.integers(2, 100))
        if n % 10 == 1:  # "vingt et un(e)", "veintiún": gender agreement is out of scope
            n += 1
        noun = NOUNS[int(rng.integers(len(NOUNS)))]
        tpl = NOUN_TEMPLATES[int(rng.integers(len(NOUN_TEMPLATES)))]
        en = tpl[0].format(n=_n2w(n, "en"), x=noun[0])
        targets = {
            lang: tpl[k + 1].format(n=_n2w(n, lang), x=noun[k + 1]) for k, lang in enumerate(LANGS)
        }
    else:
        p = PHRASES[int(rng.integers(len(PHRASES)))]
        en = p[0]
        targets = dict(zip(LANGS, p[1:], strict=True))
    return clean_text(en, keep_hyphens=False).split(), {
        k: clean_text(v, keep_hyphens=True) for k, v in targets.items()
    }
