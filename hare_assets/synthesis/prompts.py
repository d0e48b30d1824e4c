"""Named, versioned prompt templates for D2 (textbook synthesis) and D3 (NLP-task data).

    from hare_assets.synthesis.prompts import choose_template, templates_for
    t = choose_template("Law", seed_id="doc-123")        # deterministic per seed id
    prompt = t.render(seed=snippet, words=1000)         # D2 fields: seed, words
    t.sha256                                             # changes whenever name, version or text change
    templates_for("multiple_choice")[0].render(document=text)   # D3 fields: document

Written for this project in the spirit of the HARE paper (arXiv 2406.11410, section 2): D2 asks for a
long, detailed textbook course unit *inspired by* a seed snippet (rigorous, engaging, applied with
concrete examples, no title or introduction, a length target), with prompts per seed category (Table 4:
Web, Wiki, News, Academic, Books, Law, Code, Math). D3 turns a D2 document into task data (Q&A,
multiple choice as JSON, cloze, summarization, true/false, title generation, keyword extraction).
There are three prompts per D2 category and per D3 task; where a template shows an example, the model
is told to learn from it and not copy it. Every template's output format is the one `validators.py` parses.

A template is a small named unit: changing its text means bumping `version`, and its `sha256` goes
into the request-cache key, so an edited prompt never reuses old generations.
"""

from __future__ import annotations

import hashlib

from hare_assets.core.generation.prompt import PromptTemplate, TemplateError

D2_FAMILIES = ("web", "wiki", "news", "academic", "books", "law", "code", "math")
D3_TASKS = ("qa", "multiple_choice", "cloze", "summarization", "true_false", "title_generation",
            "keyword_extraction")


# --------------------------------------------------------------------------------------------- D2
# Shared wording for the textbook course unit; each family adds what its seeds need.

_UNIT_RULES = """
Requirements:
- Rigor: cover the concepts in depth, explaining each one fully before moving on, rather than listing many \
briefly.
- Engagement: write in an academic yet engaging voice that keeps a motivated student reading.
- Application: ground every idea in concrete, worked examples{examples}.
- Do not write a title or an introduction; begin directly with the substance of the unit.
- Do not mention the extract, these instructions, or that you are an AI.
- Write at least {{words}} words."""


def _unit(examples: str) -> str:
    return _UNIT_RULES.format(examples=examples)


_D2: list[PromptTemplate] = [
    # web (RedPajamaC4)
    PromptTemplate("web_course_unit", "web", 1, """\
Here is an extract from a web page:
<extract>
{seed}
</extract>

Write a long and very detailed course unit for a textbook, inspired by the extract above, for college \
students. Choose a topic the extract touches on that is worth teaching, not the page itself.
""" + _unit(" drawn from everyday life, practical decisions or real organisations")),
    PromptTemplate("web_how_to_guide", "web", 1, """\
The following text comes from a general web page:
<extract>
{seed}
</extract>

Using it only as inspiration, write a detailed textbook section that teaches a high-school or early \
college reader a practical skill or body of knowledge related to the extract. Proceed step by step, \
say why each step matters, and point out common mistakes.
""" + _unit(" with realistic numbers, scenarios and outcomes")),
    PromptTemplate("web_concept_deep_dive", "web", 1, """\
Web page extract:
<extract>
{seed}
</extract>

Identify the one idea in the extract that an educated adult would most benefit from understanding \
well, and write a detailed textbook section that explains it from the ground up: what it is, how it \
works, why it matters, and where people commonly get it wrong. End with three review questions.
""" + _unit(" from work, health, money or technology, each followed through to its consequence")),
    # wiki (RedPajamaWiki)
    PromptTemplate("wiki_course_unit", "wiki", 1, """\
Here is an extract from an encyclopedia article:
<extract>
{seed}
</extract>

Write a long and very detailed textbook course unit on a subject related to the extract, aimed at \
university students. Go beyond the facts in the extract: explain causes, context, mechanisms and \
consequences, and connect the subject to neighbouring fields.
""" + _unit(", such as specific dates, figures, places, experiments or cases")),
    PromptTemplate("wiki_explainer", "wiki", 1, """\
Encyclopedia snippet:
<extract>
{seed}
</extract>

Write an in-depth textbook chapter section for curious young learners (ages 12 to 16) that teaches \
the knowledge behind this snippet. Use simple words but do not oversimplify: every claim must be \
accurate, and every new term must be explained when it first appears.
""" + _unit(" and comparisons to things a young reader already knows")),
    PromptTemplate("wiki_historical_development", "wiki", 1, """\
Encyclopedia extract:
<extract>
{seed}
</extract>

Write a detailed textbook course unit that traces how the subject of the extract developed over \
time: the problems or questions that came first, the people, ideas and discoveries that changed it, \
and how it is understood today. Explain each turning point rather than listing events.
""" + _unit(" of specific turning points, with the evidence or reasoning behind each")),
    # news (HackerNews)
    PromptTemplate("news_course_unit", "news", 1, """\
Here is a discussion from a technology news forum:
<extract>
{seed}
</extract>

Write a long and very detailed course unit for a textbook, inspired by the topics raised in the \
discussion, for students of computer science, business or technology policy. Teach the underlying \
ideas, not the discussion.
""" + _unit(", such as case studies, code or system designs, and market or policy scenarios")),
    PromptTemplate("news_case_study", "news", 1, """\
News-forum extract:
<extract>
{seed}
</extract>

Write a textbook case-study section that uses a question raised in the extract as the starting point \
for teaching the relevant principles, weighing the arguments on several sides and ending with \
exercises for the reader.
""" + _unit(", with named (hypothetical if needed) actors, numbers and trade-offs")),
    PromptTemplate("news_technology_primer", "news", 1, """\
Technology news extract:
<extract>
{seed}
</extract>

Write a detailed textbook section that explains, from first principles, the technology, business \
model or scientific idea behind the news in the extract, for a reader with no background in it. \
Build each concept on the previous one and say what limits or risks it has.
""" + _unit(", such as a small system walked through component by component or a cost calculation")),
    # academic (RedPajamaArxiv)
    PromptTemplate("academic_course_unit", "academic", 1, """\
Here is an extract from a research paper:
<extract>
{seed}
</extract>

Write a long and very detailed course unit for a graduate-level textbook on the concepts behind the \
extract. Define the objects involved, state the key results precisely, give derivations or proof \
sketches where they aid understanding, and explain why the results matter.
""" + _unit(", such as small calculations, datasets or experiments worked through in full")),
    PromptTemplate("academic_tutorial", "academic", 1, """\
Research extract:
<extract>
{seed}
</extract>

Write a rigorous tutorial section for advanced undergraduates that builds up, from first principles, \
the background a reader needs to understand the extract, and then explains its contribution.
""" + _unit(" and at least one exercise with a full solution")),
    PromptTemplate("academic_lecture_notes", "academic", 1, """\
Extract from a scientific article:
<extract>
{seed}
</extract>

Write detailed lecture notes, as they would appear in a university course textbook, on the method or \
theory the extract relies on. Present the definitions, the main statements with their assumptions, \
and the intuition behind them, and compare the approach with one alternative.
""" + _unit(", such as a toy instance of the method computed by hand")),
    # books (Fanfics)
    PromptTemplate("books_course_unit", "books", 1, """\
Here is an extract from a work of fiction:
<extract>
{seed}
</extract>

Write a long and very detailed course unit for a literature or creative-writing textbook, inspired by \
the extract. Teach narrative craft and literary analysis, such as point of view, characterisation, \
pacing, dialogue, theme and genre conventions.
""" + _unit(", quoting or inventing short passages and analysing them closely")),
    PromptTemplate("books_story_lesson", "books", 1, """\
Story extract:
<extract>
{seed}
</extract>

Write an engaging textbook section for young readers that uses a new, original short story inspired \
by the extract to teach a piece of everyday knowledge or a social or ethical lesson. After the story, \
explain what it teaches and ask the reader questions about it.
""" + _unit(" woven into the story and the discussion after it")),
    PromptTemplate("books_historical_background", "books", 1, """\
Fiction extract:
<extract>
{seed}
</extract>

Write a detailed textbook course unit on the real-world knowledge behind the extract: the history, \
culture, science, places or professions that its setting and characters draw on. Teach that \
knowledge accurately, using the story only as the starting point.
""" + _unit(" of real events, customs, techniques or facts, each explained in context")),
    # law (Pile-of-law, FreeLaw)
    PromptTemplate("law_course_unit", "law", 1, """\
Here is an extract from a legal document:
<extract>
{seed}
</extract>

Write a long and very detailed course unit for a law textbook, inspired by the extract, for law \
students. Explain the legal concepts and doctrines involved, the reasoning courts and legislators use, \
and how the rules apply in practice.
""" + _unit(", such as hypothetical fact patterns analysed issue by issue")),
    PromptTemplate("law_plain_language", "law", 1, """\
Legal extract:
<extract>
{seed}
</extract>

Write a detailed textbook section that explains, in plain language for non-lawyers, the legal rights, \
duties and procedures related to the extract, and what a person in a realistic situation should do.
""" + _unit(" of everyday situations, with the legal outcome of each explained")),
    PromptTemplate("law_issue_analysis", "law", 1, """\
Extract from a legal text:
<extract>
{seed}
</extract>

Write a detailed textbook unit that teaches the legal analysis of a problem related to the extract in \
the issue, rule, application, conclusion structure: state the legal issue, the governing rules and \
their sources, apply them carefully to the facts, and reach a reasoned conclusion, noting the \
strongest counterargument.
""" + _unit(": two contrasting hypothetical fact patterns, each analysed in that structure")),
    # code (The-Stack, StackOverflow)
    PromptTemplate("code_course_unit", "code", 1, """\
Here is an extract from a source file or a programming Q&A:
<extract>
{seed}
</extract>

Write a long and very detailed course unit for a programming textbook, inspired by the extract. Teach \
the programming concepts, language features, algorithms or APIs it uses, explaining why the code works \
and when to use each technique.
""" + _unit(": complete, correct code listings with their output, explained line by line where it helps")),
    PromptTemplate("code_debugging_lesson", "code", 1, """\
Programming extract:
<extract>
{seed}
</extract>

Write a detailed textbook section on a software-engineering skill related to the extract, such as \
debugging, testing, performance or API design. Show a flawed version of a program, diagnose the \
problem, and develop the corrected version.
""" + _unit(": complete, runnable code and the reasoning behind every change")),
    PromptTemplate("code_build_from_scratch", "code", 1, """\
Code extract:
<extract>
{seed}
</extract>

Write a detailed programming textbook section that has the reader build, step by step, a small but \
complete program that uses the main technique in the extract. Introduce one idea per step, show the \
code after each step, and explain the design choices and their alternatives.
""" + _unit(": complete code listings that run as shown, with example input and output")),
    # math (OpenWebMath)
    PromptTemplate("math_course_unit", "math", 1, """\
Here is an extract from a mathematical web page:
<extract>
{seed}
</extract>

Write a long and very detailed course unit for a mathematics textbook, inspired by the extract, for \
college students. State definitions and theorems precisely, prove or justify them, and show how they \
are used.
""" + _unit(": worked problems with every step of the calculation shown")),
    PromptTemplate("math_problem_solving", "math", 1, """\
Mathematical extract:
<extract>
{seed}
</extract>

Write a detailed textbook section that teaches problem solving with the mathematics behind the \
extract to high-school students: explain the idea, then solve several problems of increasing \
difficulty, and finish with practice problems and their answers.
""" + _unit(": word problems from science, money and daily life, with each step shown")),
    PromptTemplate("math_theorem_walkthrough", "math", 1, """\
Extract with mathematical content:
<extract>
{seed}
</extract>

Write a rigorous textbook course unit around one theorem, formula or technique related to the \
extract: motivate it, state it precisely, prove it step by step, show how it is applied, and discuss \
the misconceptions students often have about it.
""" + _unit(": at least two worked problems, one routine and one that needs insight, with full solutions")),
]

# --------------------------------------------------------------------------------------------- D3
# Every D3 template takes {document}; its output format is the one validators.py parses.

_DOC = """\
<document>
{document}
</document>"""

_D3: list[PromptTemplate] = [
    # qa: "Question: ...\nAnswer: ..."
    PromptTemplate("qa_factual", "qa", 1, _DOC + """

Write one question that can be answered from the document above, and its answer. The question must \
make sense on its own, without the document. The answer must be correct, complete and supported by \
the document. Reply in exactly this format and nothing else:
Question: <the question>
Answer: <the answer>"""),
    PromptTemplate("qa_reasoning", "qa", 1, _DOC + """

Write one question about the document above that needs reasoning or explanation (why, how, or what \
would happen if), not just copying a phrase. Answer it in two to five sentences using only what the \
document says. Use exactly this format:
Question: <the question>
Answer: <the answer>"""),
    PromptTemplate("qa_study_set", "qa", 1, _DOC + """

Write three different question-and-answer pairs that together cover the main points of the document \
above, from a basic fact to a deeper idea. Each question must be answerable from the document alone \
and each answer must be one to three sentences. Use exactly this format for each pair:
Question: <the question>
Answer: <the answer>"""),
    # multiple_choice: JSON {"question", "options": [4], "answer"}
    PromptTemplate("mc_json_example", "multiple_choice", 1, _DOC + """

Write one multiple-choice question that tests understanding of the document above. Give exactly four \
options: one correct and three plausible but wrong. Output only a JSON object with the keys \
"question", "options" (a list of four strings) and "answer" (the correct option, copied exactly).

Here is an example of the format, about a different text:
{{"question": "Which gas do plants take in from the air for photosynthesis?", "options": ["Oxygen", \
"Carbon dioxide", "Nitrogen", "Helium"], "answer": "Carbon dioxide"}}

Learn from the given example, do not copy it: your question must be about the document above."""),
    PromptTemplate("mc_json_hard", "multiple_choice", 1, _DOC + """

Create a challenging multiple-choice question about a key idea of the document above, the kind found \
in a university exam. All four options must be similar in length and style, and only one may be \
correct. Reply with a single JSON object and nothing else, following the example's format:
{{"question": "A loan of $1,000 grows at 5% simple interest per year. What is owed after 3 years?", \
"options": ["$1,050", "$1,150", "$1,157.63", "$1,500"], "answer": "$1,150"}}
Learn from the given example, do not copy it."""),
    PromptTemplate("mc_json_application", "multiple_choice", 1, _DOC + """

Write one multiple-choice question that asks the reader to apply an idea from the document above to \
a new situation the document does not describe. Give four options, exactly one correct. Reply with a \
JSON object only, with the keys "question", "options" (four strings) and "answer" (the correct option \
text), as in this example about another subject:
{{"question": "A recipe for 4 people needs 300 g of rice. How much rice is needed for 6 people?", \
"options": ["350 g", "400 g", "450 g", "600 g"], "answer": "450 g"}}
Learn from the given example, do not copy it."""),
    # cloze: "Text: ... ____ ...\nAnswer: ..."
    PromptTemplate("cloze_key_term", "cloze", 1, _DOC + """

Choose one important sentence from the document above and replace a key word or short phrase in it \
with a blank written as ____ (four underscores). The missing words must be recoverable from context. \
Reply in exactly this format:
Text: <the sentence with ____>
Answer: <the missing words>"""),
    PromptTemplate("cloze_passage", "cloze", 1, _DOC + """

Write a short passage of two to four sentences that restates a fact or idea from the document above, \
with one key term replaced by ____ (four underscores). Example of the format, about another topic:
Text: Water boils at ____ degrees Celsius at sea level.
Answer: 100
Learn from the example, do not copy it. Reply with the Text and Answer lines only."""),
    PromptTemplate("cloze_definition", "cloze", 1, _DOC + """

Find a term that the document above defines or explains, and write one sentence that defines it in \
your own words, with the term itself replaced by ____ (four underscores). Reply in exactly this format:
Text: <the definition with ____ in place of the term>
Answer: <the term>"""),
    # summarization: "Summary: ..."
    PromptTemplate("summary_short", "summarization", 1, _DOC + """

Summarize the document above in two to four sentences. Keep the most important facts and ideas, add \
nothing that is not in the document, and write in your own words. Reply as:
Summary: <the summary>"""),
    PromptTemplate("summary_student_notes", "summarization", 1, _DOC + """

Write a concise summary of the document above that a student could use to revise for an exam: one \
short paragraph with the main point first, then the essential supporting details. It must be much \
shorter than the document. Reply as:
Summary: <the summary>"""),
    PromptTemplate("summary_one_sentence", "summarization", 1, _DOC + """

State the main point of the document above in a single sentence of at most thirty words, the way a \
teacher would sum up a lesson. Reply as:
Summary: <one sentence>"""),
    # true_false: "Statement: ...\nAnswer: True|False"
    PromptTemplate("tf_statement", "true_false", 1, _DOC + """

Write one statement about the document above that is either clearly true or clearly false according \
to the document, and say which. Reply in exactly this format:
Statement: <the statement>
Answer: <True or False>"""),
    PromptTemplate("tf_misconception", "true_false", 1, _DOC + """

Write a statement that a careless reader of the document above might believe, which the document \
shows to be true or false. Example of the format, about another topic:
Statement: The Moon produces its own light.
Answer: False
Learn from the example, do not copy it. Reply with the Statement and Answer lines only."""),
    PromptTemplate("tf_changed_detail", "true_false", 1, _DOC + """

Pick one specific detail from the document above (a number, a name, a cause or a result) and write a \
statement about it. Either keep the detail correct, or change it so that the statement becomes false. \
Reply in exactly this format:
Statement: <the statement>
Answer: <True or False>"""),
    # title_generation: "Title: ..."
    PromptTemplate("title_plain", "title_generation", 1, _DOC + """

Write a short, informative title for the document above (at most twelve words). Reply as:
Title: <the title>"""),
    PromptTemplate("title_textbook", "title_generation", 1, _DOC + """

The document above is a section of a textbook. Give it a section heading that tells a student exactly \
what it teaches, in at most twelve words. Reply with one line:
Title: <the heading>"""),
    PromptTemplate("title_engaging", "title_generation", 1, _DOC + """

Write an engaging but accurate title for the document above, as it could appear in a popular-science \
magazine, in at most twelve words. Do not use a question as the title. Reply as:
Title: <the title>"""),
    # keyword_extraction: "Keywords: a, b, c"
    PromptTemplate("keywords_terms", "keyword_extraction", 1, _DOC + """

List the three to eight most important technical terms or key phrases that appear in the document \
above, as they are written there, most important first. Reply with one line:
Keywords: <term 1>, <term 2>, ..."""),
    PromptTemplate("keywords_index", "keyword_extraction", 1, _DOC + """

You are building the index of a textbook. Pick between three and eight index entries for the \
document above: words or short phrases taken from the document that a reader would look up. Reply \
with one line, entries separated by commas:
Keywords: <entry>, <entry>, ..."""),
    PromptTemplate("keywords_study_guide", "keyword_extraction", 1, _DOC + """

A student preparing for an exam on the document above needs a list of the concepts to learn. Give \
three to eight key concepts, each written exactly as it appears in the document. Reply with one line:
Keywords: <concept>, <concept>, ..."""),
]

TEMPLATES: tuple[PromptTemplate, ...] = tuple(_D2 + _D3)
_BY_FAMILY: dict[str, tuple[PromptTemplate, ...]] = {
    fam: tuple(t for t in TEMPLATES if t.family == fam) for fam in D2_FAMILIES + D3_TASKS
}
_BY_NAME = {t.name: t for t in TEMPLATES}
assert len(_BY_NAME) == len(TEMPLATES), "template names must be unique"


def _family_key(family_or_task: str) -> str:
    return family_or_task.strip().lower().replace("-", "_").replace(" ", "_")


def templates_for(family_or_task: str) -> list[PromptTemplate]:
    """The templates of a D2 family (case-insensitive: "Law" or "law") or a D3 task."""
    key = _family_key(family_or_task)
    if key not in _BY_FAMILY:
        raise TemplateError(f"no templates for {family_or_task!r}; families: {list(D2_FAMILIES)}, "
                            f"tasks: {list(D3_TASKS)}")
    return list(_BY_FAMILY[key])


def get_template(name: str) -> PromptTemplate:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise TemplateError(f"unknown template {name!r}") from None


def choose_template(family: str, seed_id: str) -> PromptTemplate:
    """One of the family's templates, picked by a hash of the seed id (stable across runs)."""
    options = templates_for(family)
    h = int.from_bytes(hashlib.sha256(str(seed_id).encode("utf-8")).digest()[:8], "big")
    return options[h % len(options)]
