import pytest

from hare_assets.cleaning.links import remove_links
from hare_assets.cleaning.normalize import normalize
from hare_assets.cleaning.pii import scrub_pii
from hare_assets.cleaning.rules import (
    DROP_RULES,
    Scored,
    failing_rule,
    rule_set_for,
    score_batch,
)
from hare_assets.core.settings import Cleaning

CFG = Cleaning()

ENGLISH = ("The committee met on Tuesday to discuss the new budget proposal. Members raised concerns about the "
           "cost of the program and asked for more details about how the money would be spent over the next "
           "five years.")
FRENCH = ("Le comité s'est réuni mardi pour discuter de la nouvelle proposition budgétaire. Les membres ont "
          "exprimé des inquiétudes quant au coût du programme et ont demandé plus de détails sur la manière "
          "dont l'argent serait dépensé au cours des cinq prochaines années.")
GERMAN = ("Der Ausschuss traf sich am Dienstag, um den neuen Haushaltsvorschlag zu besprechen. Die Mitglieder "
          "äußerten Bedenken hinsichtlich der Kosten des Programms und baten um weitere Einzelheiten zur "
          "Verwendung der Mittel in den nächsten fünf Jahren.")
CODE = '''def moving_average(values, window):
    """Return the moving average of a list of numbers over a fixed window size."""
    if window <= 0:
        raise ValueError("window must be positive")
    out = []
    for i in range(len(values) - window + 1):
        out.append(sum(values[i:i + window]) / window)
    return out'''
MATH = (r"Let $f(x) = x^2 + 3x - 4$. We want the roots of $f$. By the quadratic formula, "
        r"$$x = \frac{-3 \pm \sqrt{9 + 16}}{2} = \frac{-3 \pm 5}{2},$$ so the roots are $x = 1$ and $x = -4$, "
        r"and the sum of the roots is $\sum_{i=1}^{2} x_i = -3$, as Vieta's formulas predict: $\boxed{-3}$")


def cfg(**kw) -> Cleaning:
    return CFG.model_copy(update=kw)


def clean(text: str, category: str | None, config: Cleaning = CFG) -> tuple[Scored, str | None]:
    """One document through the production path: `score_batch`, then the first failing drop rule of
    its category's rule set (what `signals.filter_signals` applies to the stored signals)."""
    scored = score_batch([text], [category], config)[0]
    return scored, failing_rule(scored.signals, rule_set_for(category, config), config)


def reason(text: str, category: str | None, config: Cleaning = CFG) -> str | None:
    """The rejection reason of one document (None: kept)."""
    return clean(text, category, config)[1]


# --- normalize ---------------------------------------------------------------------------------------

def test_normalize_nfc_controls_spaces_and_blank_lines():
    text = "Cafe\u0301 menu\x00\x07 is  here \r\nSecond\tline   with   gaps  \n\n\n\n\n\nAfter\u00a0five blank lines"
    out, edits = normalize(text)
    assert out == "Café menu is here\nSecond\tline with gaps\n\n\nAfter five blank lines"
    assert edits == {"normalize": 1}


def test_normalize_keeps_indentation_and_two_blank_lines_and_is_idempotent():
    text = "def f():\n    return 1\n\n\nprint(f())"
    assert normalize(text) == (text, {})
    out, _ = normalize("a   b\n\n\n\n\nc")
    assert normalize(out) == (out, {})


# --- scrub_pii ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("phone", [
    "+44 20 7946 0958", "(555) 123-4567", "555-867-5309", "555.867.5309", "+1 (555) 123-4567",
    "+14155552671", "1-800-555-1234", "+33 1 23 45 67 89", "+91-9876543210", "+44 (0)20 7946 0958",
])
def test_phone_numbers_replaced(phone):
    out, edits = scrub_pii(f"Call me at {phone} tomorrow.")
    assert out == "Call me at <PHONE> tomorrow.", out
    assert edits == {"pii_phone": 1}


@pytest.mark.parametrize("text", [
    "In 1999 and again in 2024 the value rose.",
    "Pi is about 3.14159 and e is 2.71828.",
    "The meeting is on 2024-01-02 or 12/25/2024 at 12:30:45.",
    "Upgrade from version 1.2.3 to 10.0.19041.1 or v2.7.18.1 today.",
    "See section 1.2.3.4 and Theorem 12.1.3.2 for details.",
    "We have 3 + 4 = 7 and 1234567 - 89 = 1234478 and 1,234,567,890.",
    "Compute 3 +12 345 678 901 and report it.",
    r"Then $\frac{1}{2} + \sqrt{16} = 4.5$ and $x_{123} = 456$.",
    "ISBN 978-3-16-148410-0 and the order 123-45-6789.",
    "std::vector<int>::iterator it; auto t = a::b::c;",
    "Card-like but not Luhn: 4111 1111 1111 1112 and 1234567890123456.",
    "A private host 192.168.1.1 and loopback 127.0.0.1 and ::1 stay.",
])
def test_pii_non_matches_left_alone(text):
    assert scrub_pii(text) == (text, {})


def test_email_card_ip_replaced_with_counts():
    text = ("Write to john.doe+news@example.co.uk or jane@mail.example.com. Card 4111 1111 1111 1111, "
            "also 4111-1111-1111-1111 and 5555555555554444 and Amex 3782 822463 10005. "
            "Server 93.184.216.34 and 8.8.8.8 and 2a03:2880:f10d:83:face:b00c:0:25de.")
    out, edits = scrub_pii(text)
    assert out == ("Write to <EMAIL> or <EMAIL>. Card <CREDIT_CARD>, also <CREDIT_CARD> and <CREDIT_CARD> and "
                   "Amex <CREDIT_CARD>. Server <IP> and <IP> and <IP>.")
    assert edits == {"pii_email": 2, "pii_credit_card": 4, "pii_ip": 3}


def test_latex_survives_pii_and_links():
    assert scrub_pii(MATH) == (MATH, {})
    assert remove_links(MATH) == (MATH, {})


# --- remove_links -----------------------------------------------------------------------------------

def test_links_removed_text_kept():
    text = ("See https://example.com/a_(b) for details. Visit www.test.org, or example.com/foo/bar. "
            "Read (http://x.org/y?q=1&r=2). Mirror at ftp://files.example.net/pub.")
    out, edits = remove_links(text)
    assert out == "See for details. Visit, or. Read (). Mirror at."
    assert edits == {"links": 5}


def test_link_at_line_start_and_url_with_ip_placeholder():
    out, edits = remove_links("https://example.com/x is a site\nand http://<IP>/admin too")
    assert out == "is a site\nand too"
    assert edits == {"links": 2}


@pytest.mark.parametrize("text", [
    "Amazon.com is a company, e.g. a big one.",
    "Use and/or, 1/2 cup, 60 km/h and 3.5/4 here.",
    "Open src/main.py and docs/index.html and self.width/2 now.",
    r"The ratio $\frac{a.b}{c}/2$ holds.",
    "The protocol prefix http:// alone is not a link.",
])
def test_link_non_matches(text):
    assert remove_links(text) == (text, {})


# --- drop rules ----------------------------------------------------------------------------------------

def test_english_prose_kept_with_signals():
    doc, why = clean(ENGLISH, "C4")
    assert why is None and doc.text == ENGLISH and doc.edits == {}
    assert doc.signals["words"] == len(ENGLISH.split())
    assert doc.signals["language"] == "en" and doc.signals["language_score"] > 0.9
    assert set(doc.signals) == {"scored", "chars", "words", "non_alpha_fraction", "duplicate_line_fraction",
                              "duplicate_paragraph_fraction", "boilerplate_fraction", "terminal_punctuation",
                              "language", "language_score"}
    assert doc.signals["scored"] is True and doc.signals["chars"] == len(ENGLISH)


@pytest.mark.parametrize("text", [FRENCH, GERMAN])
def test_french_and_german_dropped_as_not_english(text):
    doc, why = clean(text, "Wiki")
    assert why == "not_english"
    assert doc.signals["language"] in ("fr", "de")


def test_low_language_score_dropped():
    assert reason(ENGLISH, "C4", cfg(language_threshold=0.999)) == "not_english"


def test_too_short_and_too_long():
    assert reason("A short sentence.", "C4") == "too_short"
    assert reason(ENGLISH, "C4", cfg(min_words=len(ENGLISH.split()))) is None
    assert reason(ENGLISH, "C4", cfg(max_words=10)) == "too_long"
    assert reason("", "C4") == "too_short"


def test_non_alpha():
    table = "Totals: " + " ".join(f"{i * 37 % 1000}.{i % 100:02d} | {i * 91 % 997} | +{i}%" for i in range(30)) + "."
    doc, why = clean(table, "C4")
    assert why == "non_alpha" and doc.signals["non_alpha_fraction"] > CFG.max_non_alpha_fraction
    assert reason(ENGLISH + " It cost 1,250 dollars in 2023.", "C4") is None


def test_duplicate_lines():
    spam = "\n".join(["Click here to subscribe to our newsletter today."] * 4
                     + ["This article explains how the local council plans to repair the old bridge."] * 1
                     + ["The work will begin next spring and should take about three months."])
    doc, why = clean(spam, "C4")
    assert why == "duplicate_lines" and doc.signals["duplicate_line_fraction"] == pytest.approx(0.5)
    distinct = "\n".join(ENGLISH.split(". "))
    assert clean(distinct, "C4")[0].signals["duplicate_line_fraction"] == 0


def test_duplicate_paragraphs():
    story = "\n".join([ENGLISH, "The vote was postponed until the next meeting of the full council in spring.",
                       "Several residents spoke in favour of the plan.", "Others worried about the noise.",
                       "The mayor promised a public hearing in April.", "A local paper covered the debate.",
                       "Engineers will inspect the bridge before any work starts.", "The session ended at nine."])
    note = "Read the full minutes of the meeting in the council archive."
    repeated = "\n\n".join([story, note, note, note])
    doc, why = clean(repeated, "C4")
    assert why == "duplicate_paragraphs" and doc.signals["duplicate_paragraph_fraction"] == pytest.approx(0.5)
    assert doc.signals["duplicate_line_fraction"] <= CFG.max_duplicate_line_fraction  # lines alone do not catch it
    assert reason(story, "C4") is None
    assert reason(repeated, "C4", cfg(max_duplicate_paragraph_fraction=0.5)) is None


def test_boilerplate():
    page = "\n".join(["Home | News | Sport | Weather | Contact", "We use cookies to improve your experience.",
                      "Accept all cookies and continue.", "Privacy policy and terms of use apply.",
                      "The council met on Tuesday and voted to repair the old bridge over the river.",
                      "All rights reserved. Back to top."])
    doc, why = clean(page, "C4")
    assert why == "boilerplate" and doc.signals["boilerplate_fraction"] > CFG.max_boilerplate_fraction
    # One notice under a real article, a long paragraph that says "click here", and a recipe with cookies: kept.
    article = ENGLISH + "\n" + ENGLISH.replace("Tuesday", "Friday") + "\nWe use cookies on this site."
    assert 0 < clean(article, "C4")[0].signals["boilerplate_fraction"] < CFG.max_boilerplate_fraction
    assert reason(article, "C4") is None
    long_line = ENGLISH[:-1] + ", and the clerk said to click here for the agenda of the next session."
    assert clean(long_line, "C4")[0].signals["boilerplate_fraction"] == 0
    recipe = ("Chilling cookie dough overnight lets the flour hydrate and deepens the flavour of the butter. "
              "Bake the cookies at a moderate heat until the edges turn golden and the centres stay soft.")
    assert clean(recipe, "C4")[0].signals["boilerplate_fraction"] == 0
    assert reason(page, "Code") != "boilerplate"  # not a code rule


def test_incomplete_ending():
    truncated = ENGLISH[: ENGLISH.rindex("over the") - 1]
    assert reason(truncated, "C4") == "incomplete_ending"
    for end in ['"', "’", "”", ")", "…", ":", "!", "?"]:
        assert reason(ENGLISH[:-1] + " indeed" + end, "C4") is None, end
    assert reason(truncated, "C4", cfg(require_terminal_punctuation=False)) is None


def test_first_failing_rule_is_the_reason():
    # Short, truncated and French at once: too_short comes first in the order.
    assert reason("Le comité s'est réuni mardi pour", "C4") == "too_short"


# --- per-category rule sets -------------------------------------------------------------------------

def test_rule_sets_per_category():
    prose = rule_set_for("C4", CFG)
    assert prose == ("normalize", "scrub_pii", "remove_links", "oversized", "too_short", "too_long", "non_alpha",
                     "duplicate_lines", "duplicate_paragraphs", "boilerplate", "incomplete_ending", "not_english")
    code = rule_set_for("Code", CFG)
    assert not {"non_alpha", "boilerplate", "incomplete_ending", "not_english"} & set(code)
    assert {"scrub_pii", "remove_links", "too_short", "duplicate_lines", "duplicate_paragraphs"} <= set(code)
    math = rule_set_for("Math", CFG)
    assert "non_alpha" not in math and {"incomplete_ending", "not_english"} <= set(math)
    assert rule_set_for("Khan Academy", CFG) == math
    assert "incomplete_ending" not in rule_set_for("C4", cfg(require_terminal_punctuation=False))
    assert set(prose) - {"normalize", "scrub_pii", "remove_links"} == set(DROP_RULES)


def test_code_without_final_period_kept_but_scrubbed():
    text = CODE + "\n# contact: dev@example.org, docs at https://example.org/docs/api"
    doc, why = clean(text, "Code")
    assert why is None, (why, doc)
    assert "<EMAIL>" in doc.text and "https://" not in doc.text
    assert "    if window <= 0:" in doc.text  # indentation intact
    assert doc.edits == {"pii_email": 1, "links": 1}
    assert doc.signals["language"] is None  # code skips language ID
    assert reason(CODE, "C4") is not None  # the same text as prose fails


def test_math_latex_survives_and_non_alpha_skipped():
    doc, why = clean(MATH, "Math")
    assert why is None, (why, doc)
    assert doc.text == MATH
    dense = r"Simplify $\frac{(x+1)^2 - (x-1)^2}{4x} = \frac{4x}{4x} = 1$ for $x \neq 0$, so $f(x) = 1$ on $\mathbb{R} \setminus \{0\}$ and $g(2) = 2^{3} + 3 \cdot 2 = 14$ holds too."
    assert reason(dense, "Math") is None
    assert reason(dense, "C4") == "non_alpha"


def test_math_answer_ending_in_a_number_is_complete():
    text = ("What is the remainder when 1,234 is divided by 7 in the following problem from the practice set? "
            "We divide and find the remainder 2")
    assert reason(text, "Math") is None
    assert reason(text, "C4") == "incomplete_ending"


# --- signals, thresholds, batch -----------------------------------------------------------------------

def test_thresholds_reapplied_from_signals_without_recomputation():
    doc, _ = clean(ENGLISH, "C4")
    rules = rule_set_for("C4", CFG)
    assert failing_rule(doc.signals, rules, CFG) is None
    assert failing_rule(doc.signals, rules, cfg(min_words=100)) == "too_short"
    assert failing_rule(doc.signals, rules, cfg(language="fr")) == "not_english"


def test_score_batch_matches_one_document_at_a_time():
    texts = [ENGLISH, FRENCH, CODE, MATH, "tiny", ENGLISH.replace("Tuesday", "Tuesday (mail bob@example.com)")]
    cats = ["C4", "Wiki", "Code", "Math", "C4", "News"]
    batch = score_batch(texts, cats, CFG)
    reasons = [failing_rule(s.signals, rule_set_for(c, CFG), CFG) for s, c in zip(batch, cats)]
    assert reasons == [None, "not_english", None, None, "too_short", None]
    for t, c, s, why in zip(texts, cats, batch, reasons):
        assert clean(t, c) == (s, why)
    assert batch[5].edits == {"pii_email": 1} and "<EMAIL>" in batch[5].text
    with pytest.raises(ValueError):
        score_batch(["a"], [], CFG)
