"""Deterministic synthetic web-like corpus for the D1 benchmark, with planted duplicates and noise.

Every document is a pure function of (seed, index), so a corpus of any size is reproducible and
can be generated in parallel. Documents average about 870 characters of template-generated
English prose (a few hundred content words, so word 5-gram shingles rarely collide by chance).

Kinds (share of N, drawn per index):

* clean        English prose, several paragraphs, every line ends a sentence;
* pii          clean prose with planted emails, phone numbers, public IPv4 addresses, card numbers;
* links        clean prose with http(s) / www. / bare-domain links;
* non_english  French, German or Spanish prose (both tools should drop it);
* truncated    clean prose cut in the middle of a sentence;
* repetitive   a few lines repeated many times (Gopher / line-repetition rules should drop it);
* short        one short sentence;
* symbols      mostly numbers and punctuation (a table dump);
* exact_dup    a copy of an earlier `clean` document, verbatim or with whitespace / case changes;
* near_dup     a copy of an earlier `clean` document with a few words substituted and/or a
               sentence dropped or appended.

`planted_pairs()` lists (duplicate id, original id, kind, true word-5-gram Jaccard) for every
exact / near duplicate. Originals are always `clean` documents, so both tools should keep one.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path

SEED = 20240617
KINDS = (
    ("clean", 0.62), ("pii", 0.07), ("links", 0.06), ("non_english", 0.04), ("truncated", 0.03),
    ("repetitive", 0.03), ("short", 0.02), ("symbols", 0.02), ("exact_dup", 0.05), ("near_dup", 0.06),
)
TARGET_CHARS = 840

NAMES = ("Maria", "James", "Aisha", "Chen", "Olga", "Tomas", "Priya", "Samuel", "Yuki", "Fatima", "Lucas",
         "Ingrid", "Kwame", "Elena", "Rahul", "Sofia", "Daniel", "Amara", "Noah", "Leila", "Victor", "Hana",
         "Oscar", "Nadia", "Peter", "Grace", "Omar", "Clara", "Diego", "Zara")
PLACES = ("the valley", "the old harbor", "the northern district", "the river town", "the coastal city",
          "the mountain village", "the industrial quarter", "the university campus", "the county archive",
          "the regional hospital", "the public library", "the city council", "the farming cooperative",
          "the research station", "the central market", "the railway depot", "the museum",
          "the water authority", "the local school", "the small island")
ADJ = ("small", "large", "careful", "quiet", "bright", "ancient", "modern", "simple", "complex", "rural",
       "urban", "local", "regional", "national", "private", "public", "steady", "sudden", "gradual",
       "remarkable", "ordinary", "detailed", "brief", "lengthy", "practical", "theoretical", "early", "late",
       "common", "rare", "strong", "weak", "costly", "cheap", "fragile", "durable", "popular", "obscure",
       "formal", "informal", "useful", "careless", "honest", "cautious", "bold", "narrow", "wide", "deep",
       "shallow", "warm", "cold", "dry", "humid", "green", "heavy", "light", "rapid", "slow", "fair",
       "uneven", "healthy", "seasonal", "annual", "monthly", "digital", "printed", "familiar", "curious",
       "critical", "gentle", "robust", "stable", "noisy", "crowded", "empty", "elegant", "plain", "vital")
NOUNS = ("report", "bridge", "garden", "river", "committee", "farmer", "teacher", "student", "engineer",
         "doctor", "nurse", "library", "museum", "village", "market", "harvest", "storm", "winter",
         "summer", "journey", "letter", "machine", "engine", "network", "budget", "policy", "survey",
         "experiment", "sample", "method", "theory", "result", "pattern", "signal", "record", "archive",
         "painting", "song", "novel", "festival", "tradition", "recipe", "kitchen", "window", "roof",
         "road", "railway", "station", "harbor", "ship", "forest", "meadow", "mountain", "valley",
         "climate", "season", "crop", "tool", "workshop", "factory", "company", "worker", "manager",
         "council", "law", "court", "trial", "witness", "journal", "article", "chapter", "lecture",
         "course", "exam", "project", "design", "model", "map", "border", "treaty", "language",
         "dialect", "community", "family", "neighbor", "child", "parent", "elder", "coin", "price",
         "trade", "cargo", "bird", "insect", "flower", "tree", "seed", "soil", "well", "pipe", "lamp",
         "clock", "camera", "photograph", "film", "stage", "audience", "choir", "athlete", "team",
         "match", "coach", "volunteer", "donation", "hospital", "clinic", "vaccine", "patient", "diet",
         "habit", "routine", "schedule", "deadline", "meeting", "proposal", "argument", "question",
         "answer", "problem", "solution", "estimate", "measurement", "instrument", "telescope", "planet",
         "comet", "orbit", "ocean", "glacier", "desert", "canyon", "island", "castle", "tower", "wall")
VERBS_PAST = ("described", "studied", "built", "repaired", "measured", "visited", "changed", "improved",
              "protected", "examined", "collected", "painted", "wrote", "read", "opened", "closed",
              "supported", "questioned", "explained", "followed", "replaced", "discovered", "recorded",
              "planned", "organized", "reviewed", "tested", "shared", "carried", "delivered", "restored",
              "mapped", "observed", "compared", "published", "funded", "designed", "cleaned", "moved",
              "announced", "praised", "criticized", "ignored", "welcomed", "finished", "started",
              "noticed", "remembered", "described", "translated", "counted", "sold", "bought", "grew")
VERBS_BASE = ("describe", "study", "build", "repair", "measure", "visit", "change", "improve", "protect",
              "examine", "collect", "explain", "follow", "replace", "discover", "record", "plan",
              "organize", "review", "test", "share", "carry", "deliver", "restore", "observe", "compare",
              "publish", "design", "clean", "move", "finish", "start", "notice", "remember", "count")
ADV = ("slowly", "quickly", "carefully", "quietly", "openly", "rarely", "often", "finally", "recently",
       "eventually", "suddenly", "gradually", "clearly", "briefly", "mostly", "partly", "easily", "gladly")
PREP = ("near", "behind", "across", "inside", "beyond", "around", "along", "under", "over", "without",
        "during", "after", "before", "beside", "through", "toward")
CONNECT = ("However", "Meanwhile", "Later", "As a result", "In the end", "At first", "Since then",
           "For this reason", "In practice", "By contrast", "Even so", "In many cases", "Years later")
AUX = ("would", "could", "should", "might", "must", "will", "can")

_TEMPLATES = (
    "The {a} {n} {vp} the {n2} {p} {pl}.",
    "{N} {vp} that the {n} {x} {vb} the {a} {n2} {adv}.",
    "{C}, the {n} of {pl} {vp} a {a} {n2}.",
    "In {year}, {N} {vp} the {a} {n} and {vp2} its {n2}.",
    "Many people {p} {pl} {vp} the {n} because the {n2} was {a}.",
    "{C}, {N} and {N2} {vp} a {a} {n} {p} the {n2}.",
    "Why did the {n} {vb} the {a} {n2} {p} {pl}?",
    "The {n2} of the {n} was {a}, and the {n3} was {a2}.",
    "A {a} {n} {x} {vb} the {n2} if the {n3} {vp} {adv}.",
    "{N} {adv} {vp} the {n} {p} {pl} with a {a} {n2}.",
    "According to the {n}, the {a} {n2} {vp} {pl} in {year}.",
    "Nobody {p} {pl} {vp} how the {a} {n} {vp2} the {n2}.",
)

FOREIGN = {
    "fr": ("Le {n} {a} a {v} la {n2} près de la {n3} pendant l'hiver.",
           "Les habitants du village ont {v} que le {n} était très {a}.",
           "Dans la ville, la {n2} a été {v} par le conseil municipal après une longue discussion.",
           "Il faut que le {n} soit {a} avant la fin de la saison, selon les responsables.",
           "Nous avons {v} le {n} avec nos voisins et nos enfants dans la {n2}.",
           {"n": ("jardin", "pont", "marché", "projet", "rapport", "chemin", "musée", "budget"),
            "n2": ("maison", "rivière", "route", "école", "bibliothèque", "forêt", "usine"),
            "n3": ("montagne", "gare", "place", "mairie", "ferme", "plage"),
            "a": ("ancien", "grand", "petit", "nouveau", "important", "difficile", "calme"),
            "v": ("construit", "visité", "réparé", "décrit", "étudié", "protégé", "mesuré")}),
    "de": ("Der {a} {n} wurde im letzten Sommer von der Gemeinde {v}.",
           "Die Bewohner der Stadt haben lange über den {n} und die {n2} gesprochen.",
           "Nach dem Regen war die {n2} neben dem {n3} fast vollständig {v}.",
           "Wir müssen den {n} noch vor dem Winter {v}, sagte die Leiterin der Schule.",
           "Es ist nicht einfach, einen so {a}en {n} in kurzer Zeit zu bauen.",
           {"n": ("Garten", "Markt", "Bericht", "Weg", "Turm", "Plan", "Bahnhof", "Hafen"),
            "n2": ("Brücke", "Straße", "Schule", "Kirche", "Mauer", "Wiese", "Fabrik"),
            "n3": ("Fluss", "Wald", "Berg", "Platz", "Hof", "See"),
            "a": ("alt", "groß", "klein", "neu", "wichtig", "schwierig", "ruhig"),
            "v": ("gebaut", "besucht", "repariert", "beschrieben", "untersucht", "geschützt", "gemessen")}),
    "es": ("El {n} {a} fue {v} por los vecinos durante el invierno pasado.",
           "Los habitantes del pueblo dijeron que la {n2} estaba cerca del {n3}.",
           "Después de la tormenta, la {n2} fue {v} por el ayuntamiento con mucho cuidado.",
           "Es necesario que el {n} sea {a} antes del final de la temporada.",
           "Hemos {v} el {n} con nuestros amigos y nuestras familias en la {n2}.",
           {"n": ("jardín", "puente", "mercado", "proyecto", "informe", "camino", "museo", "presupuesto"),
            "n2": ("casa", "calle", "escuela", "biblioteca", "fábrica", "plaza", "iglesia"),
            "n3": ("río", "bosque", "monte", "puerto", "campo", "lago"),
            "a": ("antiguo", "grande", "pequeño", "nuevo", "importante", "difícil", "tranquilo"),
            "v": ("construido", "visitado", "reparado", "descrito", "estudiado", "protegido", "medido")}),
}
TLDS = ("com", "org", "net", "io", "edu", "co.uk", "de")
_WORD_RE = re.compile(r"[^\W_]+")


def _kind_of(index: int, seed: int) -> str:
    r = random.Random((seed << 24) ^ (index * 2654435761)).random()
    acc = 0.0
    for kind, share in KINDS:
        acc += share
        if r < acc:
            return kind
    return "clean"


def _sentence(rng: random.Random) -> str:
    t = rng.choice(_TEMPLATES)
    return t.format(
        a=rng.choice(ADJ), a2=rng.choice(ADJ), n=rng.choice(NOUNS), n2=rng.choice(NOUNS), n3=rng.choice(NOUNS),
        vp=rng.choice(VERBS_PAST), vp2=rng.choice(VERBS_PAST), vb=rng.choice(VERBS_BASE), p=rng.choice(PREP),
        pl=rng.choice(PLACES), N=rng.choice(NAMES), N2=rng.choice(NAMES), C=rng.choice(CONNECT),
        x=rng.choice(AUX), adv=rng.choice(ADV), year=rng.randrange(1850, 2024))


def _paragraphs(sentences: list[str], rng: random.Random) -> str:
    """Sentences grouped into 2-4 paragraphs separated by blank lines."""
    n_par = min(len(sentences), rng.randint(2, 4))
    cuts = sorted(rng.sample(range(1, len(sentences)), n_par - 1)) if n_par > 1 else []
    bounds = [0, *cuts, len(sentences)]
    return "\n\n".join(" ".join(sentences[a:b]) for a, b in zip(bounds, bounds[1:]))


def _prose_sentences(rng: random.Random, target: int) -> list[str]:
    out: list[str] = []
    size = 0
    while size < target:
        s = _sentence(rng)
        out.append(s)
        size += len(s) + 1
    return out


def _target(rng: random.Random) -> int:
    return max(500, min(1400, int(rng.gauss(TARGET_CHARS, 150))))


def _pii_sentence(rng: random.Random) -> str:
    name = rng.choice(NAMES)
    choice = rng.randrange(5)
    if choice == 0:
        return (f"You can write to {name} at {name.lower()}.{rng.choice(NOUNS)}{rng.randrange(100)}@"
                f"{rng.choice(('example', 'mailhost', 'postbox'))}.{rng.choice(('com', 'org', 'net'))} for details.")
    if choice == 1:
        return (f"For bookings call {name} on +{rng.choice((1, 44, 49, 33, 61))} {rng.randrange(200, 999)} "
                f"{rng.randrange(100, 999)} {rng.randrange(1000, 9999)} during office hours.")
    if choice == 2:
        return (f"The office number is ({rng.randrange(201, 989)}) {rng.randrange(200, 999)}-"
                f"{rng.randrange(1000, 9999)}, and {name} answers most calls.")
    if choice == 3:
        ip = f"{rng.choice((23, 45, 77, 88, 104, 151, 185, 203))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        return f"The server of the {rng.choice(NOUNS)} was reached at {ip} before the outage."
    # A 16-digit Visa-like number whose last digit is the Luhn check digit.
    body = [4, *(rng.randrange(10) for _ in range(14))]
    total = sum((d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 == 0 else d for i, d in enumerate(body))
    card = "".join(map(str, body)) + str((10 - total % 10) % 10)
    return f"{name} paid with the card {card[:4]} {card[4:8]} {card[8:12]} {card[12:]} at the counter."


def _link_sentence(rng: random.Random) -> str:
    dom = f"{rng.choice(NOUNS)}{rng.choice(('hub', 'news', 'lab', 'info', 'daily'))}.{rng.choice(TLDS)}"
    path = f"{rng.choice(NOUNS)}/{rng.choice(ADJ)}-{rng.choice(NOUNS)}-{rng.randrange(1000)}"
    form = rng.randrange(3)
    if form == 0:
        return f"The full {rng.choice(NOUNS)} is available at https://{dom}/{path}."
    if form == 1:
        return f"More photographs can be found on www.{dom}/{path} and in the printed {rng.choice(NOUNS)}."
    return f"See {dom}/{path} for the {rng.choice(ADJ)} {rng.choice(NOUNS)} and its sources."


def _foreign(rng: random.Random) -> str:
    lang = rng.choice(tuple(FOREIGN))
    *templates, slots = FOREIGN[lang]
    target = _target(rng)
    out, size = [], 0
    while size < target:
        s = rng.choice(templates).format(**{k: rng.choice(v) for k, v in slots.items()})
        out.append(s)
        size += len(s) + 1
    return _paragraphs(out, rng)


def _clean_text(index: int, seed: int) -> tuple[list[str], random.Random]:
    rng = random.Random(seed * 1_000_003 + index)
    return _prose_sentences(rng, _target(rng)), rng


def shingle_jaccard(a: str, b: str, k: int = 5) -> float:
    """Exact Jaccard of the lowercased word k-gram sets (the quantity MinHash estimates)."""
    def sh(t: str) -> set[tuple[str, ...]]:
        w = _WORD_RE.findall(t.lower())
        return {tuple(w[i:i + k]) for i in range(max(1, len(w) - k + 1))}
    sa, sb = sh(a), sh(b)
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


def _original_index(index: int, seed: int, rng: random.Random) -> int:
    """An earlier `clean` document (index 0 is always available as a fallback)."""
    for _ in range(64):
        j = rng.randrange(index) if index else 0
        if _kind_of(j, seed) == "clean":
            return j
    return 0


def document(index: int, seed: int = SEED) -> tuple[str, str, int | None]:
    """(text, kind, original index for duplicates else None)."""
    kind = _kind_of(index, seed)
    if index == 0:
        kind = "clean"
    if kind in ("exact_dup", "near_dup"):
        rng = random.Random(seed * 7_000_003 + index)
        j = _original_index(index, seed, rng)
        sentences, orng = _clean_text(j, seed)
        if kind == "exact_dup":
            text = _paragraphs(sentences, orng)
            variant = rng.randrange(3)
            if variant == 1:  # whitespace changes
                text = text.replace("\n\n", "\n\n\n").replace(". ", ".  ", 3)
            elif variant == 2:  # case change of the first sentence
                first, _, rest = text.partition(". ")
                text = first.upper() + ". " + rest
            return text, kind, j
        sentences = list(sentences)
        edit = rng.randrange(3)
        if edit in (0, 2):  # substitute 1-3 content words
            for _ in range(rng.randint(1, 3)):
                si = rng.randrange(len(sentences))
                words = sentences[si].split(" ")
                wi = rng.randrange(len(words))
                if words[wi].isalpha() and words[wi].islower():
                    words[wi] = rng.choice(NOUNS + ADJ)
                sentences[si] = " ".join(words)
        if edit in (1, 2):  # drop or append a sentence
            if rng.random() < 0.5 and len(sentences) > 6:
                del sentences[rng.randrange(len(sentences))]
            else:
                sentences.append(_sentence(rng))
        return _paragraphs(sentences, orng), kind, j

    rng = random.Random(seed * 1_000_003 + index)
    if kind == "non_english":
        return _foreign(rng), kind, None
    if kind == "short":
        return _sentence(rng), kind, None
    if kind == "symbols":
        rows = [" | ".join(f"{rng.randrange(10**5)}.{rng.randrange(100):02d}" for _ in range(6))
                for _ in range(rng.randint(12, 18))]
        return "Table 4.\n" + "\n".join(rows), kind, None
    if kind == "repetitive":
        lines = [_sentence(rng) for _ in range(2)]
        return "\n".join(lines[i % 2] for i in range(rng.randint(10, 16))), kind, None
    sentences = _prose_sentences(rng, _target(rng))
    if kind == "pii":
        for _ in range(rng.randint(1, 3)):
            sentences.insert(rng.randrange(len(sentences) + 1), _pii_sentence(rng))
    elif kind == "links":
        for _ in range(rng.randint(1, 2)):
            sentences.insert(rng.randrange(len(sentences) + 1), _link_sentence(rng))
    text = _paragraphs(sentences, rng)
    if kind == "truncated":
        cut = int(len(text) * rng.uniform(0.55, 0.85))
        while cut < len(text) and text[cut - 1] in ".?!":
            cut += 1
        text = text[:cut].rstrip()
        if text[-1] in ".?!":
            text = text[:-1] + " and the"
    return text, kind, None


def clean_texts(n: int, start: int = 0, seed: int = SEED) -> list[str]:
    """The texts of the first `n` clean documents from index `start` on (no planted noise or duplicates)."""
    out, i = [], start
    while len(out) < n:
        if i and _kind_of(i, seed) == "clean":
            out.append(document(i, seed)[0])
        i += 1
    return out


def doc_id(index: int) -> str:
    return f"doc-{index:08d}"


def iter_documents(start: int, stop: int, seed: int = SEED) -> Iterator[tuple[str, str, str, int | None]]:
    """(id, text, kind, original index) for indices in [start, stop)."""
    for i in range(start, stop):
        text, kind, orig = document(i, seed)
        yield doc_id(i), text, kind, orig


def write_corpus(out_dir: Path, n_docs: int, shards: int, seed: int = SEED, batch: int = 20_000) -> dict:
    """Writes `shards` Parquet files (id, source, category, part, text, meta) plus planted.parquet
    (id, original_id, kind, jaccard) and kinds.parquet (id, kind). Returns a summary dict."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    (out_dir / "input").mkdir(parents=True, exist_ok=True)
    per_shard = -(-n_docs // shards)
    planted_rows: dict[str, list] = {"id": [], "original_id": [], "kind": [], "jaccard": []}
    kind_rows: dict[str, list] = {"id": [], "kind": []}
    chars = 0
    for s in range(shards):
        lo, hi = s * per_shard, min(n_docs, (s + 1) * per_shard)
        writer = None
        for b in range(lo, hi, batch):
            ids, texts = [], []
            for did, text, kind, orig in iter_documents(b, min(hi, b + batch), seed):
                ids.append(did)
                texts.append(text)
                chars += len(text)
                kind_rows["id"].append(did)
                kind_rows["kind"].append(kind)
                if orig is not None:
                    planted_rows["id"].append(did)
                    planted_rows["original_id"].append(doc_id(orig))
                    planted_rows["kind"].append(kind)
                    planted_rows["jaccard"].append(shingle_jaccard(text, document(orig, seed)[0]))
            n = len(ids)
            t = pa.table({"id": ids, "source": ["synthetic_web"] * n, "category": ["CommonCrawl"] * n,
                          "part": ["d1"] * n, "text": texts, "meta": ["{}"] * n})
            if writer is None:
                writer = pq.ParquetWriter(out_dir / "input" / f"shard-{s:03d}.parquet", t.schema)
            writer.write_table(t)
        if writer is not None:
            writer.close()
    pq.write_table(pa.table(planted_rows), out_dir / "planted.parquet")
    pq.write_table(pa.table(kind_rows), out_dir / "kinds.parquet")
    return {"docs": n_docs, "mean_chars": chars / max(1, n_docs), "planted_pairs": len(planted_rows["id"])}
