"""The `scrub_pii` edit rule: emails, payment-card numbers, public IP addresses and phone numbers
become typed placeholders (pure code; README: what is and is not detected)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])")

# The digit patterns below start with a character class and check the character before it with a
# lookbehind placed after it (`\d(?<![\w.-]\d)`), so the regex engine can skip ahead to candidates.

# 13-19 digits: grouped 4-4-4-4(-3), Amex 4-6-5, Diners 4-6-4, or contiguous. Validated by Luhn.
_CARD = re.compile(
    r"\d(?<![\w.,+-]\d)(?:\d{3}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{3})?|\d{3}([ -])\d{6}\2\d{4,5}|\d{12,18})"
    r"(?![\w]|[.,-]?\d)")

_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?![\w:]|\.\d)")
_IPV4 = re.compile(r"\d(?<![\w.-]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?![\w-]|\.\d)")
# Words right before a dotted number that make it a version / section number, not an address.
_NUMBERING_CONTEXT = re.compile(
    r"(?i)(?:\b(?:v|ver|version|release|rel|rev|revision|build|update|patch|firmware|section|sec|"
    r"chapter|ch|theorem|thm|lemma|corollary|proposition|definition|eq|equation|figure|fig|table|"
    r"tab|step|rule|article|art|paragraph|para|no)\.?|§)\s*$")

# International: +CC then groups separated by space / dot / dash, optional (area); or compact +E.164.
# Not after "<digit or operator> " so arithmetic like "3 +12 345 678" stays.
_PHONE_INTL = re.compile(
    r"\+(?<![\w+]\+)(?<![\d)\]}=+*/^<>-] \+)(?:\d{8,15}|\d{1,3}(?:[ .-]?\(\d{1,4}\)[ .-]?\d{1,10})?"
    r"(?:[ .-]\d{1,10}){1,6})(?![\w]|[.-]?\d)")
# North American: (555) 123-4567, 555-867-5309, 555.867.5309 (same separator twice), optional 1- prefix.
_PHONE_US = re.compile(
    r"[\d(](?<![\w+.-][\d(])(?:(?<=\()\d{3}\)[ .-]?\d{3}[ .-]\d{4}"  # (555) 123-4567
    r"|(?<=\d)(?:\d{2}([.-])\d{3}\1\d{4}"  # 555-867-5309
    r"|(?<=1)[ .-](?:\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}|\d{3}([.-])\d{3}\2\d{4})))"  # 1-555-867-5309
    r"(?![\w]|[.-]?\d)")

# National formats with a trunk 0: 020 7946 0958, 07700 900123, 030/1234567, (030) 1234 5678,
# 01 23 45 67 89, 06.12.34.56.78, 03-1234-5678, 0044 20 7946 0958. The first gap's separator is
# used for every gap (so "01.02.2024 10:30" stops at the date's 8 digits); 9-15 digits in all.
_PHONE_NATIONAL = re.compile(
    r"[(0](?<![\w+.\-/][(0])"
    r"(?:(?<=\()0\d{1,4}\) ?\d{2,8}(?:([ -])\d{2,8}(?:\1\d{2,8}){0,2})?"  # (030) 1234 5678
    r"|(?<=0)\d{1,4}([ ./-])\d{2,8}(?:\2\d{2,8}){0,3})"  # 020 7946 0958, 01.23.45.67.89
    r"(?![\w]|[.\-/]?\d)")

_NON_DIGIT = re.compile(r"\D")
_DIGIT = re.compile(r"\d")
ONLY_PUBLIC_IPS = True  # like datatrove's PIIFormatter: private/loopback/documentation addresses stay


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i & 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _card_like(s: str) -> bool:
    digits = _NON_DIGIT.sub("", s)
    if not 13 <= len(digits) <= 19 or not _luhn_ok(digits):
        return False
    if len(digits) == len(s):  # ungrouped: also require a card network's leading digits
        return digits[0] in "3456" or "2221" <= digits[:4] <= "2720"
    return True


def _ip_ok(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return addr.is_global or not ONLY_PUBLIC_IPS


def _numbering_before(text: str, pos: int) -> bool:
    return _NUMBERING_CONTEXT.search(text, max(0, pos - 24), pos) is not None


def scrub_pii(text: str) -> tuple[str, dict[str, int]]:
    """Emails -> <EMAIL>, payment-card numbers (Luhn) -> <CREDIT_CARD>, public IPv4/IPv6 -> <IP>,
    phone numbers (international +CC, North American, national trunk-0 formats) -> <PHONE>.
    Years, dates, decimals, version numbers, ISBNs and LaTeX do not match (README: what is and
    is not detected)."""
    counts: dict[str, int] = {}

    def sub(pattern: re.Pattern, kind: str, placeholder: str, accept: Callable[[re.Match], bool], t: str) -> str:
        n = 0

        def repl(m: re.Match) -> str:
            nonlocal n
            if accept(m):
                n += 1
                return placeholder
            return m.group(0)

        t = pattern.sub(repl, t)
        if n:
            counts[kind] = counts.get(kind, 0) + n
        return t

    def ipv6_ok(m: re.Match) -> bool:
        s = m.group(0)
        if not any(c.isdigit() for c in s) or sum(1 for g in s.split(":") if g) < 3:
            return False  # C++ `a::b`, clock times and similar
        try:
            return _ip_ok(ipaddress.IPv6Address(s))
        except ValueError:
            return False

    def ipv4_ok(m: re.Match) -> bool:
        s = m.group(0)
        if _numbering_before(m.string, m.start()):
            return False  # "section 1.2.3.4", "version 2.7.18.1"
        try:
            return _ip_ok(ipaddress.IPv4Address(s))
        except ValueError:
            return False

    def phone_ok(m: re.Match) -> bool:
        return 8 <= len(_NON_DIGIT.sub("", m.group(0))) <= 15

    def national_ok(m: re.Match) -> bool:
        return 9 <= len(_NON_DIGIT.sub("", m.group(0))) <= 15

    t = text
    if "@" in t:
        t = sub(_EMAIL, "pii_email", "<EMAIL>", lambda m: True, t)
    # Each digit pattern needs a minimum number of digits in the text: counting them (in C for
    # ASCII) skips most scans of ordinary prose, whose only digits are a year or two.
    digits = _digit_count(t)
    if digits == 0:
        return t, counts
    if digits >= 13:
        t = sub(_CARD, "pii_credit_card", "<CREDIT_CARD>", lambda m: _card_like(m.group(0)), t)
    if "::" in t or t.count(":") >= 7:
        t = sub(_IPV6, "pii_ip", "<IP>", ipv6_ok, t)
    if digits >= 4 and "." in t:
        t = sub(_IPV4, "pii_ip", "<IP>", ipv4_ok, t)
    if digits >= 8 and "+" in t:
        t = sub(_PHONE_INTL, "pii_phone", "<PHONE>", phone_ok, t)
    if digits >= 9 and "0" in t:
        t = sub(_PHONE_NATIONAL, "pii_phone", "<PHONE>", national_ok, t)
    if digits >= 10:
        t = sub(_PHONE_US, "pii_phone", "<PHONE>", lambda m: True, t)
    return t, counts


_ASCII_DIGITS = b"0123456789"


def _digit_count(text: str) -> int:
    """Characters `\\d` matches (ASCII text: bytes.translate in C; else the regex, for all scripts' digits)."""
    if text.isascii():
        raw = text.encode("ascii")
        return len(raw) - len(raw.translate(None, _ASCII_DIGITS))
    return len(_DIGIT.findall(text))
