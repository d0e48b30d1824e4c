"""Slot filling: queries of an API from its templates and its arguments' values or generators, each with its
target call (pure code). The offline sample's data, and the few-shot examples of the generation prompt."""

from __future__ import annotations

import random
import re

from hare_assets.core.settings import Api, ApiArgument
from hare_assets.tool.calls import Call

# Politeness and phrasing around a template, so a template yields many distinct queries.
PREFIXES = ("", "please ", "hey, ", "could you ", "hi! ", "quick one: ", "I'd like you to ", "ok, ")
SUFFIXES = ("", " please", " now", ", thanks", " right away", " for me", " asap", "!")
FIRST_NAMES = ("anna", "ben", "chloe", "dev", "elena", "farid", "grace", "hugo", "ines", "jamal", "kim", "leo",
               "mia", "nadia", "omar", "paula", "quinn", "raj", "sara", "tom", "uma", "victor", "wen", "yusuf")
DOMAINS = ("example.com", "mail.com", "work.org", "school.edu", "startup.io", "family.net")
NONSENSE = ("purple", "gravity", "spoon", "elephant", "whisper", "seventeen", "banana", "cloud", "sideways",
            "marble", "tuesday", "jelly", "orbit", "umbrella", "tickle", "pebble", "quantum", "noodle", "asdf",
            "zigzag", "lantern", "moss", "velvet", "hmm", "blorp", "the", "of", "running", "under", "sing")
_SLOT = re.compile(r"\{(\w+)\}")


def phone_number(rng: random.Random) -> str:
    style = rng.randrange(3)
    digits = "".join(rng.choice("0123456789") for _ in range(10 if style else rng.randint(7, 10)))
    if style == 0:
        return digits
    if style == 1:
        return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    return f"+{rng.randint(1, 99)} {digits[:3]} {digits[3:]}"


def email_address(rng: random.Random) -> str:
    sep = rng.choice((".", "_", ""))
    return f"{rng.choice(FIRST_NAMES)}{sep}{rng.choice(FIRST_NAMES)}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"


def gibberish(rng: random.Random) -> str:
    return " ".join(rng.choice(NONSENSE) for _ in range(rng.randint(2, 5)))


GENERATORS = {"phone_number": phone_number, "email_address": email_address, "gibberish": gibberish}


def slot_value(arg: ApiArgument, rng: random.Random) -> str:
    if arg.generator is not None:
        return GENERATORS[arg.generator](rng)
    return rng.choice(arg.values or arg.enum)


def fill(api: Api, rng: random.Random) -> tuple[str, Call]:
    """One query of `api` and its target call."""
    template = rng.choice(api.templates)
    args = {a.name: slot_value(a, rng) for a in api.arguments if "{" + a.name + "}" in template}
    text = _SLOT.sub(lambda m: args[m.group(1)] if m.group(1) in args else GENERATORS[m.group(1)](rng), template)
    prefix, suffix = rng.choice(PREFIXES), rng.choice(SUFFIXES)
    if prefix:
        text = text[0].lower() + text[1:] if not text[:2].isupper() else text
    query = (prefix + text + suffix).strip()
    return query[0].upper() + query[1:], Call(api.name, args)


def query_key(query: str) -> str:
    """Queries that differ only in case, spacing or punctuation are the same query (never in both splits)."""
    return re.sub(r"[\W_]+", " ", query.lower()).strip()


def template_samples(api: Api, n: int, rng: random.Random, taken: set[str], max_tries_per_sample: int = 50
                     ) -> list[tuple[str, Call]]:
    """Up to `n` queries whose keys are not in `taken` (which grows with them); fewer when the templates and
    values run out of distinct combinations."""
    out: list[tuple[str, Call]] = []
    for _ in range(n * max_tries_per_sample):
        if len(out) == n:
            break
        query, call = fill(api, rng)
        if query_key(query) not in taken:
            taken.add(query_key(query))
            out.append((query, call))
    return out
