"""Word spans of a text, and splicing edits into it: every character outside a changed span stays.

A token is what a reader takes as one unit: a word with its contraction or possessive (``can't``,
``Hitchhiker's``, curly apostrophes too), a hyphenated compound (``much-needed``), a number with
its separators, unit and currency sign (``3,50``, ``1.5``, ``12:30``, ``10%``, ``5km``, ``$200``),
a version or model name (``V4.4``, ``v1.2.3``, ``Win95``, ``x86-64``, ``i18n``: a dot between
digits does not end a word), a URL, an e-mail address, an @mention, a #hashtag, an emoji (with its
modifiers and joiners).
Every other visible character is a punctuation token of its own. Steps choose among tokens and
edit spans; ``splice`` applies the edits to the original string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

_MARK = "\u0300-\u036f"  # combining accents: 'café' written with a separate accent is one word
_LETTER = rf"(?:[^\W\d_][{_MARK}]*)"
_ALNUM = rf"(?:[^\W_][{_MARK}]*)"
_APOSTROPHE = "['\u2019]"
_DOTTED = rf"(?:(?<=\d)\.\d{_ALNUM}*)"  # V4.4, v1.2.3: a dot between digits does not end a word
_EMOJI_CHAR = "[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF]"
_EMOJI_MOD = "[\uFE0F\U0001F3FB-\U0001F3FF\u20E3]"
_TOKEN = re.compile(
    rf"""
    (?P<url>(?:https?://|www\.)[^\s<>"]*[^\s<>".,;:!?)\]}}'\u2019\u201d])
  | (?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{{2,}})
  | (?P<mention>(?<![\w@])@\w+)
  | (?P<hashtag>(?<![\w#])\#\w*[^\W\d_]\w*)
  | (?P<number>[$\u00a3\u20ac\u00a5]?\d+(?:[.,:/-]\d+)*(?:%|{_LETTER}+)?)
  | (?P<word>{_LETTER}{_ALNUM}*{_DOTTED}*(?:{_APOSTROPHE}{_ALNUM}+)*(?:-{_ALNUM}+(?:{_APOSTROPHE}{_ALNUM}+)*)*)
  | (?P<emoji>(?:[\U0001F1E6-\U0001F1FF]{{2}})|{_EMOJI_CHAR}{_EMOJI_MOD}*(?:\u200D{_EMOJI_CHAR}{_EMOJI_MOD}*)*)
  | (?P<punct>\S)
    """,
    re.VERBOSE,
)


class Token(NamedTuple):  # a tuple: 3x cheaper to make than a frozen dataclass, some 25 per row of a table
    start: int
    end: int
    text: str
    kind: str  # word | contraction | compound | number | url | email | mention | hashtag | emoji | punct


def tokenize(text: str) -> list[Token]:
    tokens = []
    append = tokens.append
    for match in _TOKEN.finditer(text):
        kind, value = match.lastgroup, match.group()
        if kind == "word":
            if "'" in value or "\u2019" in value:  # an apostrophe, straight or typographic
                kind = "contraction"
            elif "-" in value:
                kind = "compound"
            elif not value.isalpha():
                kind = "alnum"  # mp3, B2B: kept whole, never looked up
        start, end = match.span()
        append(Token(start, end, value, kind))
    return tokens


# Which tokens a family of steps may choose. Punctuation and single characters never.
FAMILIES = {
    "lexical": {"word"},  # synonyms, antonyms: a dictionary word; contractions and compounds left alone
    "split": {"word"},  # SplitAug: never splits a contraction or compound
    "spelling": {"word", "contraction"},
    "char": {"word", "contraction", "compound", "alnum"},  # typos inside words only
    "move": {"word", "contraction", "compound", "alnum", "number", "url", "email", "mention", "hashtag", "emoji"},
}


def candidates(text: str, tokens: list[Token], family: str, protected: list[tuple[int, int]]) -> list[Token]:
    """The tokens a step of ``family`` may change: not punctuation, not one letter or digit, and
    not overlapping a protected match."""
    kinds = FAMILIES[family]
    return [t for t in tokens
            if t.kind in kinds and (len(t.text) > 1 or t.kind == "emoji")
            and not (protected and any(s < t.end and t.start < e for s, e in protected))]


def sentence_initial(text: str, token: Token) -> bool:
    """Whether a token starts a sentence: only opening quotes/brackets between it and the text's
    start, a line break, or a sentence end."""
    i = token.start - 1
    while i >= 0 and text[i] in " \t\"'([{\u201c\u2018\u00ab-\u2014\u2013":
        i -= 1
    return i < 0 or text[i] in ".!?\n\r\u2026"


# ---------------------------------------------------------------- edits


@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` by ``new``; a deletion has ``new == ''`` and takes one separator."""

    start: int
    end: int
    new: str


def substitution(token: Token, new: str) -> Edit:
    return Edit(token.start, token.end, new)


def insertion_before(token: Token, word: str) -> Edit:
    return Edit(token.start, token.start, word + " ")


def insertion_after(token: Token, word: str) -> Edit:
    return Edit(token.end, token.end, " " + word)


def deletions(text: str, tokens: list[Token]) -> list[Edit]:
    """Edits deleting each token with one adjacent separator: the space or tab after it when there
    is one, else the one before it (``ignore it, you`` -> ``ignore, you``). Line breaks are never
    taken, so lines stay lines. Adjacent deletions never claim the same separator."""
    taken: set[int] = set()
    edits = []
    for token in sorted(tokens, key=lambda t: -t.start):  # right to left: a run of deletions closes up
        start, end = token.start, token.end
        if end < len(text) and end not in taken and text[end] in " \t":
            end += 1
        elif start > 0 and start - 1 not in taken and text[start - 1] in " \t":
            start -= 1
        taken.update(range(start, end))
        edits.append(Edit(start, end, ""))
    return edits


def splice(text: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits to ``text``; insertions at one position keep their order."""
    ordered = sorted(enumerate(edits), key=lambda pair: (pair[1].start, pair[1].end > pair[1].start, pair[0]))
    out, at = [], 0
    for _, edit in ordered:
        if edit.start < at:
            raise ValueError(f"overlapping edits at {edit.start}")
        out.append(text[at : edit.start])
        out.append(edit.new)
        at = edit.end
    out.append(text[at:])
    return "".join(out)
