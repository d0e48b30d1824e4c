"""The topic-label prompt (topics.llm_labels); parsed by topics.clustering.parse_topic_label."""

from __future__ import annotations

from hare_assets.core.generation.prompt import PromptTemplate

TOPIC_LABEL = PromptTemplate("topic_label", "topic_label", 1, """\
A group of documents was clustered together. Its most distinctive terms are: {terms}.
Extracts from documents near the centre of the group:
{examples}

Name the subject these documents share, in two to five words, as it could appear in a library \
catalogue. Reply with one line:
Topic: <the subject>""")
