"""The `remove_links` edit rule: URLs, www. links and bare domains with a path (pure code)."""

from __future__ import annotations

import re

# URL body: no whitespace, quotes, angle/curly brackets, backslash (LaTeX \url{...} keeps its braces);
# PII placeholders inside a URL belong to it.
_URL_CHARS = r"(?:[^\s<>\"{}|\\^`\[\]]|<(?:IP|EMAIL|PHONE|CREDIT_CARD)>)"
_TLDS = (r"com|org|net|edu|gov|mil|int|io|co|ai|app|dev|info|biz|me|tv|ly|gl|gg|xyz|online|site|"
         r"us|uk|ca|au|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|pl|cz|ru|ua|jp|cn|kr|in|br|mx|ar|eu|nz|za|ie|pt|gr|tr")
_LINK = re.compile(
    r"(?P<pre>[ \t]*)(?<![\w@.\-/\\])(?P<url>"
    rf"(?:(?:https?|ftps?)://|www\d{{0,3}}\.){_URL_CHARS}+"
    rf"|(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+(?:{_TLDS})/{_URL_CHARS}*"
    r")(?P<post>[ \t]*)",
    re.I)
# Cheap necessary condition for _LINK (it is slow to scan: it may start at any space).
_LINK_HINT = re.compile(r"://|[Ww]{3}\d{0,3}\.|\.[A-Za-z]{2,6}/")
_TRAILING_PUNCT = ".,;:!?'\"*"


def _split_url_tail(url: str) -> tuple[str, str]:
    """A URL's trailing sentence punctuation and unbalanced closing parenthesis are not part of it."""
    end = len(url)
    while end:
        ch = url[end - 1]
        if ch in _TRAILING_PUNCT:
            end -= 1
        elif ch == ")" and url.count("(", 0, end) < url.count(")", 0, end):
            end -= 1
        else:
            break
    return url[:end], url[end:]


def remove_links(text: str) -> tuple[str, dict[str, int]]:
    """Removes http(s)/ftp URLs, www. links and bare domains with a path (example.com/foo); the
    surrounding spaces are merged so no double space or space before punctuation is left."""
    # Every link form has "://", "www" or a "/" after a domain: plain substring tests first.
    if not ("/" in text or "www" in text.lower()) or not _LINK_HINT.search(text):
        return text, {}
    n = 0

    def repl(m: re.Match) -> str:
        nonlocal n
        url, tail = _split_url_tail(m.group("url"))
        if not url or url.endswith("://") or url.lower().rstrip("0123456789") == "www":
            return m.group(0)
        n += 1
        pre, post = m.group("pre"), m.group("post")
        if tail:  # "(see URL)." -> "(see)."
            return tail + post
        nxt = m.string[m.end():m.end() + 1]
        if nxt == "" or nxt == "\n" or nxt in ".,;:!?)]}":
            return ""
        if pre and post:
            return " "
        return pre if pre else ""

    out = _LINK.sub(repl, text)
    if not n:
        return text, {}
    return out, {"links": n}
