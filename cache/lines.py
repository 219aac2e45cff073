"""Which lines of the cited passages a question is about, and whether two questions are about
the same part of them.

One passage often answers several questions: a budget list holds the cloud and the LLM budget,
a milestone list the beta and the production dates. Two questions citing that passage ask for
the same information only if their best-matching lines are the same line, or one sits under
the other in the outline (a risk and its mitigation, a heading and its bullet). Sibling lines
(two budget lines under "Budget:") are different answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Line = tuple[int, int]  # (passage, line) within the cited passages


@dataclass(frozen=True)
class Outline:
    words: dict[Line, set[str]]  # the words of every non-blank line
    parent: dict[Line, Line | None]

    @classmethod
    def of(cls, passages: list[str], normalise: Callable[[str], list[str]]) -> Outline:
        words: dict[Line, set[str]] = {}
        parent: dict[Line, Line | None] = {}
        for p, text in enumerate(passages):
            stack: list[tuple[float, Line]] = []
            for i, raw in enumerate(text.splitlines()):
                if not raw.strip():
                    continue
                depth = _depth(raw)
                while stack and stack[-1][0] >= depth:
                    stack.pop()
                parent[(p, i)] = stack[-1][1] if stack else None
                words[(p, i)] = set(normalise(raw))
                stack.append((depth, (p, i)))
        return cls(words, parent)

    def best(self, question_words: set[str], same: Callable[[str, str], bool]) -> set[Line]:
        """The lines sharing most of the question's words (all of them on a tie; none if no word matches)."""
        scores = {
            line: sum(any(same(q, w) for w in words) for q in question_words) for line, words in self.words.items()
        }
        top = max(scores.values(), default=0)
        return {line for line, score in scores.items() if score == top} if top else set()

    def related(self, a: Line, b: Line) -> bool:
        return a == b or self._above(a, b) or self._above(b, a)

    def _above(self, upper: Line, line: Line) -> bool:
        node = self.parent.get(line)
        while node is not None:
            if node == upper:
                return True
            node = self.parent.get(node)
        return False


def _depth(line: str) -> float:
    """Headings outrank everything; otherwise indentation ranks (a tab counts four spaces)."""
    stripped = line.lstrip()
    if stripped.startswith("#"):
        return -10 + (len(stripped) - len(stripped.lstrip("#")))
    expanded = line.replace("\t", "    ")
    return len(expanded) - len(expanded.lstrip())


def same_part(outline: Outline, a: set[str], b: set[str], same: Callable[[str, str], bool]) -> bool:
    """Whether questions with content words `a` and `b` point at the same part of the passages
    (unknown, and so not a difference, when either matches no line)."""
    best_a, best_b = outline.best(a, same), outline.best(b, same)
    if not best_a or not best_b:
        return True
    return any(outline.related(x, y) for x in best_a for y in best_b)
