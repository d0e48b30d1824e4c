"""Genre makers for the sample corpus: one function per source shape, each returning a record dict.

A maker draws everything from the `random.Random` it is given, so the corpus is a pure function of
the seed. Prose is assembled from the topic banks in `banks.py` inside genre frames (web page,
abstract, court opinion, chapter, thread...); math answers are computed, not written.
"""

from __future__ import annotations

import hashlib
import json
import random
from fractions import Fraction
from math import gcd

from hare_assets.core.sample.banks import (
    CITIES,
    FIRST_NAMES,
    SURNAMES,
    USERNAMES,
    Topic,
)

# ---------------------------------------------------------------- shared helpers


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"


def two_people(rng: random.Random) -> tuple[str, str]:
    first, second = rng.sample(FIRST_NAMES, 2)
    return first, second


def fill(rng: random.Random, sentence: str, people: tuple[str, str] | None = None) -> str:
    main, other = people or two_people(rng)
    return sentence.format(person=main, other=other, city=rng.choice(CITIES), year=rng.randint(1890, 2015),
                           n=rng.randint(3, 45))


def facts(rng: random.Random, topic: Topic, k: int) -> list[str]:
    return [fill(rng, s) for s in rng.sample(topic.facts, min(k, len(topic.facts)))]


def paragraphs(rng: random.Random, sentences: list[str], lo: int = 2, hi: int = 4) -> list[str]:
    out, i = [], 0
    while i < len(sentences):
        size = rng.randint(lo, hi)
        out.append(" ".join(sentences[i:i + size]))
        i += size
    return out


def timestamp(rng: random.Random, first_year: int = 2014, last_year: int = 2023) -> str:
    return (f"{rng.randint(first_year, last_year)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            f"T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z")


def slug(text: str) -> str:
    return "-".join("".join(c for c in w.lower() if c.isalnum()) for w in text.split())


def capitalized(phrase: str) -> str:
    return phrase[:1].upper() + phrase[1:]


def sha1_hex(*parts: object) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()


# ---------------------------------------------------------------- web, wiki, academic

WEB_INTROS = (
    "If you have ever wondered about this, you are not alone.",
    "We get a lot of questions on this subject, so here is everything we have learned over the years.",
    "This week on the blog we are digging into one of our favourite topics.",
    "Here is a short, practical guide for complete beginners.",
    "Most articles on this skip the basics, so let us start at the beginning.",
    "A reader from {city} wrote in with a question, and the answer turned into a whole post.",
)
WEB_OUTROS = (
    "Thanks for reading, and let us know in the comments what you would like us to cover next.",
    "If you found this useful, share it with a friend who might enjoy it too.",
    "We will be back next week with a follow-up, so stay tuned.",
    "Have a question we did not answer? Drop us a note and we will try to help.",
    "That is all for today. Happy exploring!",
    "Bookmark this page and come back to it whenever you need a refresher.",
)
SITES = ("dailyguide", "learnsomething", "thehomeblog", "brightcorner", "everydaynotes", "fieldjournal")


def web_page(rng: random.Random, topic: Topic) -> dict:
    title = rng.choice(topic.titles)
    intro = rng.choice(WEB_INTROS).format(city=rng.choice(CITIES))
    body = paragraphs(rng, facts(rng, topic, rng.randint(6, 10)))
    text = "\n\n".join([title, intro, *body, rng.choice(WEB_OUTROS)])
    return {"text": text, "meta": {"url": f"https://www.{rng.choice(SITES)}.com/{slug(title)}",
                                   "timestamp": timestamp(rng), "language": "en", "source": "c4"}}


WIKI_LEADS = (
    "{T} is a subject of study within {field} that has attracted attention from researchers and the public alike.",
    "{T} refers to a body of knowledge and practice in {field}.",
    "In {field}, {t} describes a family of related ideas and observations.",
    "{T} is an area of {field} with a long history of careful observation and debate.",
)
FIELDS = {"astronomy": "astronomy", "cooking": "the culinary arts", "law": "law", "programming": "computer science",
          "biology": "biology", "finance": "economics and finance", "history": "history", "sports": "sport science",
          "mathematics": "mathematics", "philosophy": "philosophy"}


def wiki_article(rng: random.Random, topic: Topic) -> dict:
    term = rng.choice(topic.terms)
    title = capitalized(term)
    lead = rng.choice(WIKI_LEADS).format(T=title, t=term, field=FIELDS[topic.name])
    sentences = facts(rng, topic, rng.randint(6, 10))
    overview, history = sentences[: len(sentences) // 2], sentences[len(sentences) // 2:]
    text = "\n\n".join([title, lead + " " + " ".join(overview), "History", " ".join(history)])
    return {"id": str(rng.randint(10_000, 9_999_999)),
            "url": f"https://en.wikipedia.org/wiki/{title.replace(' ', '_')}", "title": title, "text": text}


ABSTRACT_OPENERS = (
    "We study {a} in the setting of {b}.",
    "Recent work on {b} has left open several questions about {a}.",
    "This paper revisits {a} with a focus on its connection to {b}.",
    "Understanding {a} remains a central challenge for research on {b}.",
)
ABSTRACT_CLAIMS = (
    "We propose a simple model that captures the main effects while remaining easy to estimate.",
    "Our analysis of {n} data sets shows consistent gains over strong baselines.",
    "We derive bounds that are tight up to constant factors and confirm them empirically.",
    "The results suggest that much of the observed variation can be explained by a few interpretable factors.",
    "We release our code and data to support further work in this direction.",
    "A series of ablations isolates the contribution of each component of the method.",
)
ACADEMIC_TOPICS = ("astronomy", "programming", "mathematics", "biology", "finance")


def abstract(rng: random.Random, topic: Topic) -> str:
    a, b = rng.sample(topic.terms, 2)
    claims = [fill(rng, c) for c in rng.sample(ABSTRACT_CLAIMS, 3)]
    return " ".join([rng.choice(ABSTRACT_OPENERS).format(a=a, b=b), *claims])


def arxiv_paper(rng: random.Random, topic: Topic) -> dict:
    intro = paragraphs(rng, facts(rng, topic, rng.randint(5, 8)), 2, 3)
    text = "\n\n".join([abstract(rng, topic), "\\section{Introduction}", *intro])
    yymm = f"{rng.randint(15, 23)}{rng.randint(1, 12):02d}"
    arxiv_id = f"{yymm}.{rng.randint(1000, 19999):05d}"
    return {"text": text, "meta": {"arxiv_id": arxiv_id, "language": "en", "timestamp": timestamp(rng),
                                   "url": f"https://arxiv.org/abs/{arxiv_id}", "yymm": yymm}}


JOURNALS = ("J Clin Microbiol", "BMC Public Health", "Front Immunol", "PLoS One", "Sleep Med", "Nutrients")


def pubmed_abstract(rng: random.Random, topic: Topic) -> dict:
    a, b = rng.sample(topic.terms, 2)
    n, months = rng.randint(40, 900), rng.choice((6, 12, 18, 24))
    pct = rng.randint(12, 48)
    background = " ".join(facts(rng, topic, 2))
    text = (f"BACKGROUND: {background} Little is known about the relationship between {a} and {b} in adults.\n"
            f"METHODS: We enrolled {n} participants and followed them for {months} months. "
            f"Samples were collected at baseline and at the end of follow-up.\n"
            f"RESULTS: Participants in the intervention group showed a {pct}% change in the primary outcome "
            f"compared with controls. {fill(rng, rng.choice(topic.facts))}\n"
            f"CONCLUSIONS: These findings link {a} with {b} and support larger controlled trials.")
    return {"pmid": str(rng.randint(20_000_000, 38_000_000)), "title": f"{capitalized(a)} and {b}: a cohort study",
            "text": text, "journal": rng.choice(JOURNALS), "year": rng.randint(2005, 2023)}


CITATION_STYLES = ("[{n}]", "({name} et al., {year})", "({name}, {year})")
S2ORC_TOPICS = ("biology", "astronomy", "history", "finance", "programming")


def s2orc_paper(rng: random.Random, topic: Topic) -> dict:
    def cited(sentence: str) -> str:
        mark = rng.choice(CITATION_STYLES).format(n=rng.randint(1, 40), name=rng.choice(SURNAMES),
                                                  year=rng.randint(1995, 2020))
        return sentence[:-1] + f" {mark}."

    body = paragraphs(rng, [cited(s) for s in facts(rng, topic, rng.randint(6, 9))], 3, 4)
    title = f"{capitalized(rng.choice(topic.terms))}: evidence and open questions"
    text = "\n\n".join([title, abstract(rng, topic), "Introduction", *body])
    return {"paper_id": str(rng.randint(10_000_000, 99_999_999)), "title": title, "text": text,
            "year": rng.randint(2000, 2021), "fields_of_study": [capitalized(FIELDS[topic.name])]}


PHIL_MOVES = (
    "In this paper I argue that the standard view rests on an assumption that its defenders rarely make explicit.",
    "Consider an objection that many readers will find natural.",
    "One might reply that the example is too artificial to carry much weight.",
    "I do not think this reply succeeds, for the following reason.",
    "The upshot is that we should revise, rather than abandon, the principle in question.",
    "It will help to distinguish two readings of the central claim.",
    "On the first reading the claim is plausible but weak; on the second it is strong but doubtful.",
    "I conclude by sketching how the account extends to cases of shared responsibility.",
)


def philosophy_paper(rng: random.Random, topic: Topic) -> dict:
    claims = facts(rng, topic, 6)
    sentences = [PHIL_MOVES[0], *claims[:4], *rng.sample(PHIL_MOVES[1:], 4), *claims[4:]]
    title = f"On {rng.choice(topic.terms)}"
    return {"text": "\n\n".join(paragraphs(rng, sentences, 3, 4)),
            "meta": {"title": title, "authors": [person(rng)], "year": rng.randint(1995, 2021)}}


# ---------------------------------------------------------------- fiction

MODERN_LINKS = (
    "{person} did not answer right away.", "Neither of them wanted to be the first to say it.",
    "It had been a long week, and it was only Tuesday.", "{other} laughed, but there was no humour in it.",
    "Later, {person} would remember this as the moment everything changed.",
    "The silence stretched until it became almost comfortable.",
    "{person} checked the time again and tried not to think about the phone call.",
    "Somewhere down the street a dog began to bark.",
)
VICTORIAN_LINKS = (
    "It was upon a grey morning in the autumn that {person} first resolved to speak plainly.",
    "The candles had burned low upon the mantel before either of them spoke again.",
    "{other} was a person of few words and fewer indulgences.",
    "There are some sorrows which, once admitted, can never again be wholly dismissed.",
    "The carriage rattled away down the lane, and the house fell quiet once more.",
    "{person} bowed gravely and begged leave to withdraw.",
    "Such was the state of affairs when the letter arrived from town.",
    "It must not be supposed that {other} was insensible to the honour thus conferred.",
)
FANFIC_LINKS = (
    "{person} rolled their eyes so hard it almost hurt.", "\"You are impossible,\" {other} muttered, grinning anyway.",
    "Okay, so maybe this was not the best plan they had ever had.", "{other} bumped their shoulder gently.",
    "The academy corridors were empty at this hour, which was exactly the point.",
    "{person} tried very hard not to smile and failed completely.",
    "Three weeks ago they had barely been speaking to each other.", "Nobody had warned them about this part.",
)
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")
BOOK_WORDS = ("The", "Last", "Quiet", "Long", "Winter", "Harbour", "Garden", "Letters", "Road", "House", "North")


def narrative(rng: random.Random, topic: Topic, links: tuple[str, ...], n_sentences: int) -> list[str]:
    people = two_people(rng)
    pool = [fill(rng, s, people) for s in rng.sample(topic.scenes, min(5, len(topic.scenes)))]
    pool += [fill(rng, s, people) for s in rng.sample(links, 4)]
    pool.append(f"{people[0]} remembered something {people[1]} had once said: {fill(rng, rng.choice(topic.facts))}")
    rng.shuffle(pool)
    return paragraphs(rng, pool[:n_sentences], 2, 3)


def book_title(rng: random.Random) -> str:
    return " ".join(rng.sample(BOOK_WORDS, 3))


def book_chapter(rng: random.Random, topic: Topic) -> dict:
    text = "\n\n".join([f"Chapter {rng.randint(1, 30)}", *narrative(rng, topic, MODERN_LINKS, 10)])
    return {"text": text, "meta": {"short_book_title": book_title(rng),
                                   "publication_date": rng.randint(1950, 2015),
                                   "url": f"https://www.example-books.com/b/{rng.randint(1000, 99999)}"}}


def pg19_book(rng: random.Random, topic: Topic) -> dict:
    text = "\n\n".join([f"CHAPTER {rng.choice(ROMAN)}.", *narrative(rng, topic, VICTORIAN_LINKS, 10)])
    book_id = rng.randint(1000, 60000)
    return {"text": text, "short_book_title": book_title(rng), "publication_date": rng.randint(1840, 1920),
            "url": f"http://www.gutenberg.org/ebooks/{book_id}"}


def fanfic(rng: random.Random, topic: Topic) -> dict:
    note = rng.choice(("A/N: Thank you so much for all the kind reviews on the last chapter!",
                       "A/N: This one took forever to write, sorry for the wait.",
                       "A/N: Set after the events of part one. Enjoy!"))
    body = narrative(rng, topic, FANFIC_LINKS, 10)
    title = book_title(rng)
    return {"text": "\n\n".join([note, *body]),
            "meta": {"title": title, "rating": rng.choice(("General Audiences", "Teen And Up Audiences")),
                     "fandom": "Original Work", "words": sum(len(p.split()) for p in body)}}


# ---------------------------------------------------------------- forums

SE_SITES = {"programming": "softwareengineering", "mathematics": "math", "cooking": "cooking",
            "astronomy": "astronomy", "biology": "biology", "finance": "money"}
SE_ASKS = (
    "I have been reading about this for a while and I am still confused.",
    "I could not find a clear answer in the documentation or in older questions here.",
    "This came up in a discussion with a colleague and we could not agree.",
    "Apologies if this is a basic question, but the explanations I found contradict each other.",
)
SE_ANSWER_OPENERS = ("Short answer: it depends, but mostly yes.", "There are a few things going on here.",
                     "Good question, and a common source of confusion.", "The key idea is simpler than it looks.")


def stackexchange_post(rng: random.Random, topic: Topic) -> dict:
    question = rng.choice(topic.questions)
    body = f"{rng.choice(SE_ASKS)} {fill(rng, rng.choice(topic.facts))} Is that the whole story?"
    answer = " ".join([rng.choice(SE_ANSWER_OPENERS), *facts(rng, topic, rng.randint(4, 7)),
                       "Hope this helps."])
    site = SE_SITES[topic.name]
    qid = rng.randint(1000, 480000)
    return {"text": f"Q:\n\n{question}\n\n{body}\n\nA:\n\n{answer}",
            "meta": {"language": "en", "url": f"https://{site}.stackexchange.com/questions/{qid}",
                     "timestamp": timestamp(rng), "source": "stackexchange", "question_score": rng.randint(0, 80)}}


HN_TAKES = (
    "I have worked on this for years and the article gets the basics right.",
    "Counterpoint: the hard part is never the technology, it is the incentives.",
    "This matches my experience, though the details vary a lot by team.",
    "Somewhat related, and I think people underestimate this:",
    "Good write-up. One thing missing is the cost side of the equation.",
    "I was skeptical at first, but the numbers in the post are hard to argue with.",
)
HN_TOPICS = ("programming", "finance", "astronomy", "history", "biology")


def hn_thread(rng: random.Random, topic: Topic) -> dict:
    title = rng.choice(topic.titles)
    users = rng.sample(USERNAMES, rng.randint(3, 4))
    pool = facts(rng, topic, 3 * len(users))  # drawn once, so no fact repeats within a thread
    comments = [f"{user}: {rng.choice(HN_TAKES)} {' '.join(pool[3 * i: 3 * i + rng.randint(1, 3)])}"
                for i, user in enumerate(users)]
    return {"text": "\n\n".join([title, *comments]),
            "meta": {"id": rng.randint(20_000_000, 39_000_000), "title": title, "by": rng.choice(USERNAMES),
                     "time": rng.randint(1_400_000_000, 1_700_000_000)}}


# ---------------------------------------------------------------- law

COURTS = ("UNITED STATES COURT OF APPEALS FOR THE NINTH CIRCUIT", "SUPREME COURT OF THE STATE OF OREGON",
          "UNITED STATES DISTRICT COURT FOR THE DISTRICT OF MINNESOTA", "COURT OF APPEALS OF WISCONSIN")
HOLDINGS = ("AFFIRMED.", "REVERSED and REMANDED.", "AFFIRMED in part, REVERSED in part.", "VACATED and REMANDED.")
OPINION_MOVES = (
    "We review the district court's grant of summary judgment de novo.",
    "The appellant raises three arguments, none of which persuades us.",
    "We turn first to the question of whether the claim was timely.",
    "The record does not support the appellant's reading of the agreement.",
    "Because the issue was not raised below, we decline to consider it for the first time on appeal.",
    "The trial court did not abuse its discretion in excluding the testimony.",
)


def court_opinion(rng: random.Random, topic: Topic) -> dict:
    plaintiff, defendant = person(rng), rng.choice(("Harbor Logistics, Inc.", "City of Fairview",
                                                    "Northwind Property LLC", "Delta Mutual Insurance Co."))
    judge = rng.choice(SURNAMES).upper()
    docket = f"No. {rng.randint(10, 23)}-{rng.randint(1000, 9999)}"
    body = paragraphs(rng, rng.sample(OPINION_MOVES, 3) + facts(rng, topic, rng.randint(5, 7)), 3, 4)
    text = "\n\n".join([rng.choice(COURTS), f"{plaintiff}, Plaintiff-Appellant, v. {defendant}, Defendant-Appellee.",
                        docket, "OPINION", f"{judge}, Judge:", *body, rng.choice(HOLDINGS)])
    return {"text": text, "meta": {"case_name": f"{plaintiff} v. {defendant}", "court": text.split("\n")[0],
                                   "date_filed": timestamp(rng, 1995, 2022)[:10], "docket": docket}}


def legal_document(rng: random.Random, topic: Topic) -> dict:
    kind = rng.choice(("agreement", "regulation", "memo"))
    clauses = facts(rng, topic, rng.randint(6, 8))
    if kind == "agreement":
        party_a, party_b = person(rng), rng.choice(("Brightline Services LLC", "Oakmont Holdings, Inc."))
        head = (f"THIS AGREEMENT is made on {timestamp(rng)[:10]} between {party_a} and {party_b} "
                f"(together, the \"Parties\").")
        body = [f"{i}. {c}" for i, c in enumerate(clauses, start=1)]
    elif kind == "regulation":
        section = rng.randint(100, 990)
        head = f"PART {section} - GENERAL PROVISIONS"
        body = [f"§ {section}.{i} {c}" for i, c in enumerate(clauses, start=1)]
    else:
        head = f"MEMORANDUM\n\nTO: {person(rng)}\nFROM: {person(rng)}\nRE: Research on {rng.choice(topic.terms)}"
        body = paragraphs(rng, clauses, 3, 4)
    return {"text": "\n\n".join([head, *body]), "created_timestamp": timestamp(rng, 2000, 2021)[:10],
            "downloaded_timestamp": "2022-06-15",
            "url": f"https://www.example-courtrecords.gov/doc/{rng.randint(1, 99999)}"}


# ---------------------------------------------------------------- math

def word_problem(rng: random.Random) -> tuple[str, list[str], int]:
    """(question, solution steps, numeric answer), with every number computed."""
    name = rng.choice(FIRST_NAMES)
    kind = rng.randrange(6)
    if kind == 0:
        a, p, b, q = rng.randint(3, 12), rng.randint(2, 9), rng.randint(2, 10), rng.randint(1, 5)
        return (f"{name} buys {a} notebooks at ${p} each and {b} pens at ${q} each. How much does {name} spend in "
                f"total?", [f"The notebooks cost {a} x {p} = ${a * p}.", f"The pens cost {b} x {q} = ${b * q}.",
                            f"Together that is {a * p} + {b * q} = ${a * p + b * q}."], a * p + b * q)
    if kind == 1:
        s, h = rng.choice((40, 50, 60, 75, 80)), rng.randint(2, 6)
        return (f"A train travels at {s} kilometres per hour for {h} hours. How far does it travel?",
                [f"Distance equals speed times time, so {s} x {h} = {s * h} kilometres."], s * h)
    if kind == 2:
        price, pct = rng.choice((40, 60, 80, 120, 200)), rng.choice((10, 20, 25, 50))
        off = price * pct // 100
        return (f"A jacket costs ${price} and is on sale for {pct}% off. What is the sale price?",
                [f"The discount is {pct}% of {price}, which is {off} dollars.",
                 f"The sale price is {price} - {off} = ${price - off}."], price - off)
    if kind == 3:
        k, m = rng.randint(2, 6), rng.randint(2, 5)
        n = k * m + rng.randint(3, 20)
        return (f"{name} has {n} marbles and gives {k} marbles to each of {m} friends. How many marbles are left?",
                [f"{name} gives away {k} x {m} = {k * m} marbles.", f"{n} - {k * m} = {n - k * m} marbles remain."],
                n - k * m)
    if kind == 4:
        l, w = rng.randint(4, 30), rng.randint(3, 20)
        return (f"A rectangular garden is {l} metres long and {w} metres wide. How many metres of fence are needed "
                f"to go around it?", [f"The perimeter is 2 x ({l} + {w}) = 2 x {l + w} = {2 * (l + w)} metres."],
                2 * (l + w))
    rate, weeks, start = rng.choice((5, 10, 15, 20)), rng.randint(4, 12), rng.choice((0, 10, 20, 30))
    goal = start + rate * weeks
    return (f"{name} has ${start} and saves ${rate} every week. How many weeks until {name} has ${goal}?",
            [f"{name} needs {goal} - {start} = ${goal - start} more.",
             f"At ${rate} a week that takes {goal - start} / {rate} = {weeks} weeks."], weeks)


def linear_equation(rng: random.Random) -> tuple[str, list[str], int]:
    x, a, b = rng.randint(-9, 12), rng.randint(2, 9), rng.choice([i for i in range(-20, 21) if i])
    c = a * x + b
    sign, undo = ("+", f"Subtract {b} from") if b >= 0 else ("-", f"Add {-b} to")
    return (f"Solve for x: {a}x {sign} {abs(b)} = {c}.",
            [f"{undo} both sides to get {a}x = {c - b}.", f"Divide both sides by {a} to get x = {x}."], x)


def fraction_sum(rng: random.Random) -> tuple[str, list[str], Fraction]:
    p, q = Fraction(rng.randint(1, 4), rng.randint(5, 9)), Fraction(rng.randint(1, 3), rng.randint(2, 6))
    common = p.denominator * q.denominator
    total = p + q
    return (f"What is {p} + {q}?",
            [f"Rewrite both fractions over the common denominator {common}: "
             f"{p.numerator * q.denominator}/{common} + {q.numerator * p.denominator}/{common}.",
             f"Add the numerators to get {p.numerator * q.denominator + q.numerator * p.denominator}/{common}, "
             f"which simplifies to {total}."], total)


def khan_problems(rng: random.Random, topic: Topic) -> dict:
    blocks = []
    for make in rng.sample((linear_equation, fraction_sum, word_problem), 3):
        question, steps, answer = make(rng)
        blocks.append(f"Problem: {question}\nSolution: {' '.join(steps)} The answer is {answer}.")
    hint = f"Hint: {fill(rng, rng.choice(topic.facts))}"
    return {"text": "\n\n".join([*blocks, hint]),
            "meta": {"exercise": rng.choice(("linear_equations_1", "adding_fractions", "word_problems")),
                     "source": "khan_academy"}}


def dm_pair(rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(5)
    if kind == 0:
        var, x, a, b = rng.choice("kqtwy"), rng.randint(-9, 9), rng.randint(2, 9), rng.randint(-30, 30)
        return f"Solve {a}*{var} + {b} = {a * x + b} for {var}.", f"{x}."
    if kind == 1:
        a, b, c = rng.randint(-50, 50), rng.randint(1, 60), rng.randint(-40, 40)
        return f"What is {a} - {b} + {c}?", f"{a - b + c}."
    if kind == 2:
        a, b = rng.randint(50, 999), rng.randint(3, 19)
        return f"Calculate the remainder when {a} is divided by {b}.", f"{a % b}."
    if kind == 3:
        a, b, c = rng.randint(1, 5), rng.randint(-9, 9), rng.randint(-4, 6)
        return f"Let f(x) = {a}*x**2 + {b}. What is f({c})?", f"{a * c * c + b}."
    a, b = rng.randint(2, 12) * rng.randint(2, 9), rng.randint(2, 12) * rng.randint(2, 9)
    return f"What is the greatest common divisor of {a} and {b}?", f"{gcd(a, b)}."


def dm_math(rng: random.Random, topic: Topic) -> dict:
    pairs = [dm_pair(rng) for _ in range(rng.randint(8, 10))]
    return {"text": "\n".join(f"Question: {q}\nAnswer: {a}" for q, a in pairs),
            "meta": {"module": "mixed", "difficulty": rng.choice(("train-easy", "train-medium", "train-hard"))}}


def orca_problem(rng: random.Random, topic: Topic) -> dict:
    question, steps, answer = word_problem(rng)
    extra_q, extra_steps, extra_answer = word_problem(rng)
    solution = (f"Let's work through this carefully. {' '.join(steps)} So the answer is {answer}.\n\n"
                f"As a check, consider a similar problem: {extra_q} {' '.join(extra_steps)} "
                f"That gives {extra_answer}, which uses the same reasoning.")
    return {"question": question, "answer": solution, "text": f"{question}\n\n{solution}"}


def openwebmath_post(rng: random.Random, topic: Topic) -> dict:
    n = rng.randint(4, 9)
    odd = " + ".join(str(2 * k - 1) for k in range(1, n + 1))
    title = rng.choice(topic.titles)
    example = (f"For example, with $n = {n}$ we get ${odd} = {n * n}$, and indeed ${n}^2 = {n * n}$.")
    body = paragraphs(rng, facts(rng, topic, rng.randint(4, 6)), 2, 3)
    footer = f"Posted by {rng.choice(USERNAMES)}. {rng.randint(2, 40)} comments so far, thanks for reading."
    text = "\n\n".join([f"# {title}", *body, example, footer])
    return {"url": f"https://mathblog.example.net/{slug(title)}", "text": text, "date": timestamp(rng)[:10],
            "metadata": json.dumps({"extraction_info": {"found_math": True}, "score": rng.randint(1, 20)})}


# ---------------------------------------------------------------- code

# (module stem, entity, numeric field, plural, what the module is for)
CODE_DOMAINS = (
    ("recipes", "Ingredient", "grams", "ingredients", "scaling recipes"),
    ("orbits", "Planet", "period_days", "planets", "comparing planetary orbits"),
    ("ledger", "Transaction", "amount", "transactions", "tracking a household budget"),
    ("roster", "Player", "points", "players", "team statistics"),
    ("samples", "Sample", "gc_content", "samples", "summarizing sequencing runs"),
    ("catalog", "Book", "pages", "books", "a small library catalogue"),
)

# Code files are composed from snippets (a random subset, in random order) so no two files share
# most of their lines. Slots: {Entity} {entity} {field} {Field} {plural} {Plural} {n}.
PY_HEADER = ('"""{purpose_cap}: {plural} loaded from disk and summarized."""\nfrom __future__ import annotations\n\n'
             'import csv\nimport json\nimport statistics\nfrom dataclasses import dataclass\n'
             'from pathlib import Path\n\n\n@dataclass\nclass {Entity}:\n    name: str\n    {field}: float\n')
PY_SNIPPETS = (
    'def load_{plural}_json(path: Path) -> list[{Entity}]:\n    rows = json.loads(path.read_text())\n'
    '    return [{Entity}(row["name"], float(row["{field}"])) for row in rows]\n',
    'def load_{plural}_csv(path: Path) -> list[{Entity}]:\n    with open(path, newline="") as handle:\n'
    '        return [{Entity}(r["name"], float(r["{field}"])) for r in csv.DictReader(handle)]\n',
    'def total_{field}(items: list[{Entity}]) -> float:\n    return sum(item.{field} for item in items)\n',
    'def above(items: list[{Entity}], threshold: float = {n}) -> list[{Entity}]:\n'
    '    """Keep the {plural} whose {field} exceeds the threshold."""\n'
    '    return [item for item in items if item.{field} > threshold]\n',
    'def summary(items: list[{Entity}]) -> dict[str, float]:\n    values = [item.{field} for item in items]\n'
    '    if not values:\n        return {{"count": 0}}\n'
    '    return {{"count": len(values), "mean": statistics.mean(values), "median": statistics.median(values)}}\n',
    'def top(items: list[{Entity}], n: int = {n}) -> list[{Entity}]:\n'
    '    return sorted(items, key=lambda item: item.{field}, reverse=True)[:n]\n',
    'def by_initial(items: list[{Entity}]) -> dict[str, list[{Entity}]]:\n'
    '    groups: dict[str, list[{Entity}]] = {{}}\n'
    '    for item in items:\n        groups.setdefault(item.name[:1].upper(), []).append(item)\n    return groups\n',
    'def to_markdown(items: list[{Entity}]) -> str:\n    lines = ["| name | {field} |", "|---|---|"]\n'
    '    lines += [f"| {{item.name}} | {{item.{field}:.2f}} |" for item in items]\n    return "\\n".join(lines)\n',
)
PY_FOOTER = ('\n\nif __name__ == "__main__":\n    import sys\n\n'
             '    for row in load_{plural}_json(Path(sys.argv[1])):\n        print(row)\n')
JS_HEADER = "// {purpose_cap}: helpers shared by the web client.\n'use strict';\n\nconst DEFAULT_LIMIT = {n};\n"
JS_SNIPPETS = (
    "function total{Field}(items) {{\n  return items.reduce((sum, item) => sum + item.{field}, 0);\n}}\n",
    "function sortBy{Field}(items, descending = true) {{\n  const copy = [...items];\n"
    "  copy.sort((a, b) => (descending ? b.{field} - a.{field} : a.{field} - b.{field}));\n  return copy;\n}}\n",
    "async function fetch{Plural}(baseUrl, limit = DEFAULT_LIMIT) {{\n"
    "  const response = await fetch(`${{baseUrl}}/api/{plural}?limit=${{limit}}`);\n"
    "  if (!response.ok) {{\n    throw new Error(`request failed with status ${{response.status}}`);\n  }}\n"
    "  return response.json();\n}}\n",
    "function groupByInitial(items) {{\n  return items.reduce((groups, item) => {{\n"
    "    const key = item.name.charAt(0).toUpperCase();\n    (groups[key] = groups[key] || []).push(item);\n"
    "    return groups;\n  }}, {{}});\n}}\n",
    "function format{Entity}(item) {{\n  return `${{item.name}}: ${{item.{field}.toFixed(2)}}`;\n}}\n",
    "function debounce(fn, waitMs = 250) {{\n  let timer = null;\n  return (...args) => {{\n"
    "    clearTimeout(timer);\n    timer = setTimeout(() => fn(...args), waitMs);\n  }};\n}}\n",
    "function isValid{Entity}(item) {{\n  return typeof item.name === 'string' && Number.isFinite(item.{field});\n}}\n",
)


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def function_name(snippet: str) -> str:
    return snippet.split("(", 1)[0].split()[-1]


def code_file(rng: random.Random, topic: Topic) -> dict:
    stem, entity, field, plural, purpose = rng.choice(CODE_DOMAINS)
    slots = {"purpose_cap": capitalized(purpose), "Entity": entity, "entity": entity.lower(), "field": field,
             "Field": camel(field), "plural": plural, "Plural": camel(plural), "n": rng.randint(3, 25)}
    if rng.random() < 0.5:
        lang, ext = "Python", "py"
        chosen = sorted(rng.sample(range(len(PY_SNIPPETS)), rng.randint(3, 5)))
        parts = [PY_HEADER] + [PY_SNIPPETS[i] for i in chosen]
        content = "\n\n".join(p.format(**slots) for p in parts)
        if 0 in chosen:  # the entry point reads the JSON loader's format
            content += PY_FOOTER.format(**slots)
    else:
        lang, ext = "JavaScript", "js"
        snippets = [s.format(**slots) for s in rng.sample(JS_SNIPPETS, rng.randint(3, 5))]
        exports = ", ".join(function_name(s) for s in snippets)
        content = "\n".join([JS_HEADER.format(**slots), *snippets, f"module.exports = {{ {exports} }};\n"])
    owner = rng.choice(USERNAMES).replace("_", "-")
    lines = content.splitlines()
    return {"content": content, "lang": lang, "max_stars_repo_path": f"src/{stem}_{rng.randint(1, 99)}.{ext}",
            "max_stars_repo_name": f"{owner}/{stem}-tools", "max_stars_count": rng.randint(0, 300),
            "size": len(content.encode()), "ext": ext, "hexsha": sha1_hex(content),
            "avg_line_length": round(len(content) / len(lines), 2), "max_line_length": max(map(len, lines)),
            "alphanum_fraction": round(sum(c.isalnum() for c in content) / len(content), 4)}


# (title, problem, broken snippet, explanation, fixed snippet); {E}/{f}/{p} are filled from CODE_DOMAINS
SO_PROBLEMS = (
    ("KeyError when reading {p} from a dict in Python",
     "I load {p} into a dictionary and then look one up by name, but I get a KeyError for names that I am sure "
     "exist. The file was written by another script.",
     "{p} = load()\nprint({p}['First'])",
     "Dictionary keys are case-sensitive and the file probably stores the names with different capitalization "
     "or trailing spaces. Normalize the keys when you load them, or use get() with a default.",
     "{p} = {{k.strip().lower(): v for k, v in load().items()}}\nprint({p}.get('first'))"),
    ("Why does my JavaScript function return a Promise instead of the {p}?",
     "I call an async function that fetches {p} from our API, but when I log the result I see Promise "
     "pending instead of the data.",
     "const {p} = fetch{P}(url);\nconsole.log({p}.length);",
     "An async function always returns a Promise. You need to await it inside another async function, or "
     "attach a then() callback.",
     "const {p} = await fetch{P}(url);\nconsole.log({p}.length);"),
    ("Sorting a list of {E} objects by {f} in Python",
     "I have a list of {E} objects and I want them ordered from the largest {f} to the smallest. Calling "
     "sort() gives me a TypeError about comparing instances.",
     "items.sort()",
     "Python does not know how to compare your objects. Pass a key function that extracts the attribute, and "
     "use reverse=True for descending order.",
     "items.sort(key=lambda item: item.{f}, reverse=True)"),
    ("SQL query counts every {E} twice after a JOIN",
     "After joining the {p} table with the tags table, my COUNT comes out twice as large as expected.",
     "SELECT COUNT(*) FROM {p} JOIN tags ON tags.item_id = {p}.id;",
     "Each row of {p} is repeated once per matching tag, so COUNT(*) counts the joined rows. Count the "
     "distinct ids instead.",
     "SELECT COUNT(DISTINCT {p}.id) FROM {p} JOIN tags ON tags.item_id = {p}.id;"),
    ("Mutable default argument keeps old {p} between calls",
     "My helper collects {p} into a list, but every call returns the {p} from previous calls as well.",
     "def collect(item, bucket=[]):\n    bucket.append(item)\n    return bucket",
     "Default values are evaluated once, when the function is defined, so every call shares the same list. "
     "Use None as the default and create the list inside the function.",
     "def collect(item, bucket=None):\n    bucket = [] if bucket is None else bucket\n    bucket.append(item)\n"
     "    return bucket"),
    ("git push rejected after I amended a commit on my {p} branch",
     "I amended my last commit on the branch that adds {p} support, and now git refuses to push it.",
     "git commit --amend\ngit push origin {p}-support",
     "Amending rewrites the commit, so the remote branch and your local branch have diverged. If nobody else "
     "works on the branch, force-push with lease, which refuses to overwrite commits you have not seen.",
     "git push --force-with-lease origin {p}-support"),
)


def stackoverflow_post(rng: random.Random, topic: Topic) -> dict:
    stem, entity, field, plural, _ = rng.choice(CODE_DOMAINS)
    title, problem, broken, why, fixed = (s.format(E=entity, f=field, p=plural, P=camel(plural))
                                          for s in rng.choice(SO_PROBLEMS))
    extra = " ".join(facts(rng, topic, 2))
    text = (f"{title}\n\n{problem} Here is the code:\n\n    {broken.replace(chr(10), chr(10) + '    ')}\n\n"
            f"What am I doing wrong?\n\nAnswer:\n\n{why} {extra}\n\n    {fixed.replace(chr(10), chr(10) + '    ')}\n\n"
            "That should fix it.")
    return {"text": text, "meta": {"question_id": rng.randint(100_000, 78_000_000), "score": rng.randint(0, 150),
                                   "tags": [stem, "python" if "Python" in title else "javascript"]}}


# ---------------------------------------------------------------- D2 / D3 open sets

AUDIENCES = ("college_students", "high_school_students", "young_children", "general")
TEXTBOOK_OPENERS = (
    "Imagine you are standing in front of a class that has never heard of {t}.",
    "Let us begin with a concrete situation that makes {t} easy to picture.",
    "Before any definitions, consider why {t} matters in everyday life.",
)
TEXTBOOK_CLOSERS = (
    "Exercise: explain the main idea of this unit to a friend in three sentences.",
    "Exercise: find one example of this idea in your own neighbourhood and describe it.",
    "Review question: which of the facts above surprised you most, and why?",
)


def textbook_unit(rng: random.Random, topic: Topic) -> dict:
    term = rng.choice(topic.terms)
    audience = rng.choice(AUDIENCES)
    body = paragraphs(rng, facts(rng, topic, rng.randint(8, 11)), 3, 4)
    text = "\n\n".join([rng.choice(TEXTBOOK_OPENERS).format(t=term), *body, rng.choice(TEXTBOOK_CLOSERS)])
    return {"prompt": (f"Write a long and very detailed course unit for a textbook on \"{capitalized(term)}\" "
                       f"intended for {audience.replace('_', ' ')}. Be rigorous and engaging."),
            "text": text, "seed_data": rng.choice(("web_samples_v2", "stanford", "openstax", "wikihow")),
            "format": "textbook", "audience": audience}


def dolly_record(rng: random.Random, topic: Topic) -> dict:
    category = rng.choice(("open_qa", "closed_qa", "summarization", "brainstorming", "general_qa"))
    sentences = facts(rng, topic, rng.randint(7, 9))
    question = rng.choice(topic.questions)
    context, instruction, response = "", question, " ".join(sentences)
    if category == "closed_qa":
        context, instruction = " ".join(sentences[:5]), f"Using the passage, answer this: {question}"
    elif category == "summarization":
        context = " ".join(sentences + facts(rng, topic, 3))
        instruction = "Summarize the main points of this passage in a short paragraph."
        response = "The passage makes several related points. " + response
    elif category == "brainstorming":
        instruction = f"Give me some ideas for learning more about {rng.choice(topic.terms)}."
        response = "\n".join(f"{i}. {s}" for i, s in enumerate(sentences, start=1))
    return {"instruction": instruction, "context": context, "response": response, "category": category}


HERMES_SOURCES = ("airoboros2.2", "CamelAI", "EvolInstruct_70k", "cot_alpaca_gpt4", "metamath")


def hermes_record(rng: random.Random, topic: Topic) -> dict:
    turns = []
    if rng.random() < 0.4:
        turns.append({"from": "system", "value": "You are a helpful assistant who explains things clearly."})
    turns.append({"from": "human", "value": rng.choice(topic.questions)})
    answer = "\n\n".join(paragraphs(rng, facts(rng, topic, rng.randint(6, 9)), 2, 3))
    turns.append({"from": "gpt", "value": answer})
    return {"conversations": turns, "source": rng.choice(HERMES_SOURCES)}


REASONING_LINES = (
    "It helps to write down each quantity before doing any arithmetic.",
    "Every step below uses only the numbers given in the problem.",
    "We keep track of the units throughout so the final answer makes sense.",
    "Nothing in the problem changes over time, so we can combine the quantities directly.",
    "Breaking the problem into smaller parts makes each calculation easy to check.",
)


def autocot_record(rng: random.Random, topic: Topic) -> dict:
    question, steps, answer = word_problem(rng)
    asked = question.rsplit(". ", 1)[-1]
    rationale = " ".join(["Let's think step by step.", f"The problem asks: {asked}",
                          *rng.sample(REASONING_LINES, 3), *steps,
                          f"As a check, we work backwards from {answer} and recover the numbers given in the "
                          "question, so the calculation is consistent.", f"Therefore, the answer is {answer}."])
    return {"question": question, "rationale": rationale, "answer": str(answer)}


METAMATH_TYPES = ("GSM_Rephrased", "GSM_AnsAug", "GSM_SV", "GSM_FOBAR", "MATH_AnsAug")


def metamath_record(rng: random.Random, topic: Topic) -> dict:
    """meta-math/MetaMathQA: {type, query, original_question, response}; responses end "The answer is: X"."""
    question, steps, answer = word_problem(rng)
    return {"type": rng.choice(METAMATH_TYPES), "query": question, "original_question": question,
            "response": " ".join(steps) + f"\nThe answer is: {answer}"}


FOLLOW_UPS = ("Can you give me an example?", "Why does that matter?", "Could you explain that more simply?",
              "What should I read next about this?")


def ultrachat_record(rng: random.Random, topic: Topic) -> dict:
    """HuggingFaceH4/ultrachat_200k (train_sft): {prompt, prompt_id, messages: [{content, role}, ...]}."""
    prompt = rng.choice(topic.questions)
    messages = [{"content": prompt, "role": "user"},
                {"content": " ".join(facts(rng, topic, rng.randint(3, 5))), "role": "assistant"}]
    if rng.random() < 0.6:
        messages += [{"content": rng.choice(FOLLOW_UPS), "role": "user"},
                     {"content": " ".join(facts(rng, topic, rng.randint(2, 4))), "role": "assistant"}]
    return {"prompt": prompt, "prompt_id": hashlib.sha256(prompt.encode()).hexdigest(), "messages": messages}
