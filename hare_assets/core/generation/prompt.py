"""A prompt template: a small named, versioned unit whose hash goes into the request-cache key,
so an edited prompt never reuses old generations."""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from functools import cached_property


class TemplateError(ValueError):
    """A template that cannot be rendered or looked up."""


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    family: str  # a D2 family (web, law, ...) or a D3 task (qa, cloze, ...)
    version: int
    template: str  # str.format fields, literal braces doubled

    @cached_property
    def sha256(self) -> str:
        payload = f"{self.name}\x1f{self.version}\x1f{self.template}".encode("utf-8")
        return hashlib.sha256(payload).hexdigest()

    @cached_property
    def fields(self) -> frozenset[str]:
        """The names `render` needs."""
        return frozenset(f for _, f, _, _ in string.Formatter().parse(self.template) if f)

    @property
    def id(self) -> str:
        return f"{self.name}@v{self.version}"

    def render(self, **fields: object) -> str:
        missing = sorted(self.fields - set(fields))
        if missing:
            raise TemplateError(f"template {self.id} needs fields {missing}; got {sorted(fields)}")
        return self.template.format(**{k: fields[k] for k in self.fields})
