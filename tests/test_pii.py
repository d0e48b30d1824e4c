"""PII scrubbing: at least 30 planted cases of each kind, each replaced by its exact placeholder, and
look-alikes (versions, dates, times, math, ISBNs, private addresses, ...) left untouched."""

from __future__ import annotations

import ipaddress
import random

import pytest

from hare_assets.cleaning.pii import scrub_pii

CONTEXTS = ("Contact {} today.", "({})", "Reach it at {}, then wait.", "{}", "See: {}; done.", "Line one\n{}\nLine two")


def planted(values: list[str], placeholder: str):
    """(text, expected) pairs: each value in one of the contexts, replaced by the placeholder."""
    return [pytest.param(CONTEXTS[i % len(CONTEXTS)].format(v), CONTEXTS[i % len(CONTEXTS)].format(placeholder), id=v)
            for i, v in enumerate(values)]


# --- emails --------------------------------------------------------------------------------------------

EMAILS = [f"{local}@{domain}" for local, domain in zip(
    ["john.doe", "jane_doe+news", "x", "first.last", "user123", "a.b.c.d", "info", "sales-team", "J.Smith",
     "noreply", "o.brien", "test%user", "support", "mary-ann", "dev+ci", "hr.dept", "k", "anna.k99", "TOM",
     "li.wei", "m_ahmed", "paolo.rossi", "sven", "ines+1", "b2b", "admin", "hello", "r.feynman", "u.s.er",
     "z-z", "zoë", "ivan.petrov"],
    ["example.com", "mail.example.co.uk", "y.io", "company-name.org", "mail.server.net", "sub.domain.de",
     "example.travel", "shop.example", "uni.edu", "service.example.com", "example.ie", "example.fr",
     "help.example.nl", "ex-ample.com", "ci.example.dev", "corp.example.jp", "a.bc", "post.example.cz",
     "EXAMPLE.COM", "example.cn", "example.pk", "example.it", "example.se", "example.es", "trade.example.biz",
     "localhost.example", "example.museum", "caltech.example.edu", "x.example.org", "z.example.info",
     "example.no", "yandex.example.ru"])]


@pytest.mark.parametrize("text,expected", planted(EMAILS, "<EMAIL>"))
def test_emails(text, expected):
    assert scrub_pii(text) == (expected, {"pii_email": 1})


# --- phone numbers -------------------------------------------------------------------------------------

PHONES = [
    # international (+country code)
    "+44 20 7946 0958", "+1 (555) 123-4567", "+14155552671", "+33 1 23 45 67 89", "+91-9876543210",
    "+44 (0)20 7946 0958", "+49 30 12345678", "+81 3-1234-5678", "+61 2 9876 5432", "+86 10 1234 5678",
    "+7 495 123-45-67", "+55 11 91234-5678", "+34 912 345 678", "+39 06 1234 5678", "+31 20 123 4567",
    "+46 8 123 456 78", "+27 21 123 4567", "+353 1 234 5678", "+65 6123 4567", "+82 2-312-3456",
    "+1-202-555-0143", "+41.44.668.18.00",
    # North American
    "(555) 123-4567", "555-867-5309", "555.867.5309", "1-800-555-1234", "(212) 555 0199", "1 (800) 555-1234",
    # national formats with a trunk 0 (UK, DE, FR, JP, AU, IT, and 00 + country code)
    "020 7946 0958", "07700 900123", "0161 496 0000", "030 12345678", "089/12345678", "(030) 1234 5678",
    "01 23 45 67 89", "06.12.34.56.78", "03-1234-5678", "090-1234-5678", "(02) 9876 5432", "0412 345 678",
    "0044 20 7946 0958", "06 1234 5678",
]


@pytest.mark.parametrize("text,expected", planted(PHONES, "<PHONE>"))
def test_phone_numbers(text, expected):
    assert scrub_pii(text) == (expected, {"pii_phone": 1})


# --- IP addresses --------------------------------------------------------------------------------------

def _public_ipv4(n: int) -> list[str]:
    rng, out = random.Random(4), []
    while len(out) < n:
        ip = ".".join(str(rng.randrange(1, 255)) for _ in range(4))
        if ipaddress.ip_address(ip).is_global:
            out.append(ip)
    return out + ["8.8.8.8", "1.1.1.1", "93.184.216.34", "151.101.1.69"]


def _public_ipv6(n: int) -> list[str]:
    rng, out = random.Random(6), []
    prefixes = ("2001:4860", "2606:4700", "2a00:1450", "2a03:2880", "2600:1f18", "2400:cb00", "2c0f:fb50", "2a01:4f8")
    while len(out) < n:
        groups = [*prefixes[len(out) % len(prefixes)].split(":"), *(f"{rng.randrange(1 << 16):x}" for _ in range(6))]
        form = len(out) % 3
        if form == 1:  # a run of zero groups, written ::
            groups[3:6] = ["0", "0", "0"]
            addr = ":".join(groups[:3]) + "::" + ":".join(groups[6:])
        elif form == 2:  # upper case, leading zeros kept
            addr = ":".join(g.zfill(4).upper() for g in groups)
        else:
            addr = ":".join(groups)
        if ipaddress.ip_address(addr).is_global:
            out.append(addr)
    return out + ["2001:4860:4860::8888", "2606:4700:4700::1111", "2a03:2880:f10d:83:face:b00c:0:25de",
                  "2001:4860:4860:0:0:0:0:8844", "2a00:1450:4001:82a::200e"]


@pytest.mark.parametrize("text,expected", planted(_public_ipv4(30), "<IP>"))
def test_ipv4(text, expected):
    assert scrub_pii(text) == (expected, {"pii_ip": 1})


@pytest.mark.parametrize("text,expected", planted(_public_ipv6(30), "<IP>"))
def test_ipv6(text, expected):
    assert scrub_pii(text) == (expected, {"pii_ip": 1})


def test_ipv4_mapped_ipv6_loses_its_ipv4_part():
    assert scrub_pii("Mapped ::ffff:8.8.8.8 here.") == ("Mapped ::ffff:<IP> here.", {"pii_ip": 1})


def test_ip_with_port_and_at_sentence_end():
    assert scrub_pii("Open 93.184.216.34:8080 or [2606:4700:4700::1111]:443, then 8.8.8.8.") == (
        "Open <IP>:8080 or [<IP>]:443, then <IP>.", {"pii_ip": 3})


# --- payment cards --------------------------------------------------------------------------------------

def _luhn_complete(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return body + str((10 - total % 10) % 10)


def _cards() -> list[str]:
    rng = random.Random(16)
    out = []
    # (prefix, length, grouping): Visa, Mastercard (51-55 and 2221-2720), Amex, Discover, Diners, JCB, 19-digit Visa.
    kinds = [("4", 16, (4, 4, 4, 4)), ("5", 16, (4, 4, 4, 4)), ("2221", 16, (4, 4, 4, 4)), ("2720", 16, (4, 4, 4, 4)),
             ("34", 15, (4, 6, 5)), ("37", 15, (4, 6, 5)), ("6011", 16, (4, 4, 4, 4)), ("36", 14, (4, 6, 4)),
             ("35", 16, (4, 4, 4, 4)), ("4", 19, (4, 4, 4, 4, 3))]
    for i in range(33):
        prefix, length, grouping = kinds[i % len(kinds)]
        if prefix == "5":
            prefix = str(rng.randrange(51, 56))
        body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
        number = _luhn_complete(body)
        sep = (" ", "-", "")[i % 3]
        if sep:
            parts, pos = [], 0
            for g in grouping:
                parts.append(number[pos:pos + g])
                pos += g
            number = sep.join(parts)
        out.append(number)
    return out + ["4111 1111 1111 1111", "5555555555554444", "3782 822463 10005"]


@pytest.mark.parametrize("text,expected", planted(_cards(), "<CREDIT_CARD>"))
def test_credit_cards(text, expected):
    assert scrub_pii(text) == (expected, {"pii_credit_card": 1})


def test_counts_when_kinds_mix():
    text = ("Mail jane@example.com or bob@example.org, call +44 20 7946 0958 or 020 7946 0958, pay with "
            "4111 1111 1111 1111, from 93.184.216.34 and 2606:4700:4700::1111.")
    assert scrub_pii(text) == (
        "Mail <EMAIL> or <EMAIL>, call <PHONE> or <PHONE>, pay with <CREDIT_CARD>, from <IP> and <IP>.",
        {"pii_email": 2, "pii_phone": 2, "pii_credit_card": 1, "pii_ip": 2})


# --- look-alikes that are not PII ------------------------------------------------------------------------

LOOKALIKES = [
    # versions and section numbers
    "Upgrade from version 1.2.3 to 10.0.19041.1 or v2.7.18.1 today.", "Python 3.11.7 and numpy 2.3.5 work.",
    "See section 1.2.3.4 and Theorem 12.1.3.2 for details.", "Firmware release 0.12.3.4 fixed it.",
    # dates and times
    "The meeting is on 2024-01-02 or 12/25/2024 at 12:30:45.", "Born 01.02.2024 10:30, married 25.12.2023.",
    "Logged at 2023/11/05 23:59:59.999 UTC.", "On 5 May 2021, at 10:30, it rained.",
    "Between 1999 and 2004 and again from 2010 to 2024 the value rose.",
    # arithmetic, decimals, scientific notation, LaTeX
    "We have 3 + 4 = 7 and 1234567 - 89 = 1234478 and 1,234,567,890.", "Compute 3 +12 345 678 901 and report it.",
    "Pi is about 3.14159 and e is 2.71828; 2^32 = 4294967296.", "Set x = 1.5e-10 and y = (1 - 2) * 3.",
    r"Then $\frac{1}{2} + \sqrt{16} = 4.5$ and $x_{123} = 456$.", "Totals: 0.5 0.25 0.125 0.0625.",
    "The sum 123 456 789 + 987 654 321 is 1 111 111 110.",
    # ISBNs, identifiers, codes
    "ISBN 978-3-16-148410-0 and ISBN 0-306-40615-2.", "ISBN-10: 0306406152 and ISBN 9780306406157.",
    "The order 123-45-6789 shipped to ZIP 90210-1234.", "Card-like but not Luhn: 4111 1111 1111 1112 and 1234567890123456.",
    "Part no. 1234-5678-9012 and serial 00001234.", "Coordinates 40.7128, -74.0060 and price $1,299.99.",
    # private / reserved addresses, MACs, C++ and clock times
    "A private host 192.168.1.1 and loopback 127.0.0.1 and ::1 stay.", "Subnet 10.0.0.0/8 and 172.16.5.4 are internal.",
    "Docs use 2001:db8::1 and link-local fe80::1ff:fe23:4567:890a.", "The MAC is 00:1A:2B:3C:4D:5E.",
    "std::vector<int>::iterator it; auto t = a::b::c;", "Lap times 1:23:45 and 12:30.",
    "Call extension 1234 in room 101.", "Email me at name at example dot com.",
]


@pytest.mark.parametrize("text", LOOKALIKES)
def test_lookalikes_left_alone(text):
    assert scrub_pii(text) == (text, {})


def test_enough_planted_cases_of_each_kind():
    assert min(len(EMAILS), len(PHONES), len(_public_ipv4(30)), len(_public_ipv6(30)), len(_cards())) >= 30
    assert len(LOOKALIKES) >= 30
