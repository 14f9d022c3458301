"""EDA (Wei & Zou 2019): synonym replacement, random insertion, random swap, random deletion.

Pure functions over whitespace tokens. They draw only from the global ``random`` (seeded per
sample by augcli) and never iterate a set, so results do not depend on the process. Each
returns the new tokens and a record of what it did, for the manifest.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

# English function words EDA leaves alone (its synonym steps skip them).
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ]
)
_CORE = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)

Synonyms = Callable[[str], list[str]]
Changeable = Callable[[str], bool]


def core(token: str) -> str:
    """The word inside a token: 'Hello,' -> 'Hello'."""
    return _CORE.match(token).group(2)


def _replace_core(token: str, word: str) -> str:
    before, inner, after = _CORE.match(token).groups()
    if inner[:1].isupper():
        word = word[:1].upper() + word[1:]
    return f"{before}{word}{after}"


def _is_content_word(token: str, stopwords: frozenset[str]) -> bool:
    word = core(token)
    return word.isalpha() and word.lower() not in stopwords


def count_for(alpha: float, n_tokens: int) -> int:
    """EDA's n = alpha * sentence length, at least one."""
    return max(1, int(alpha * n_tokens))


def synonym_replacement(
    tokens: list[str], n: int, synonyms: Synonyms, changeable: Changeable, stopwords: frozenset[str] = STOPWORDS
) -> tuple[list[str], list[dict]]:
    """Replace every occurrence of up to ``n`` distinct content words by one of their synonyms."""
    tokens = list(tokens)
    words = list(dict.fromkeys(core(t).lower() for t in tokens if changeable(t) and _is_content_word(t, stopwords)))
    random.shuffle(words)
    changes, replaced = [], 0
    for word in words:
        options = synonyms(word)
        if not options:
            continue
        new = random.choice(options)
        for i, token in enumerate(tokens):
            if core(token).lower() == word and changeable(token):
                changes.append({"index": i, "from": token, "to": _replace_core(token, new)})
                tokens[i] = _replace_core(token, new)
        replaced += 1
        if replaced >= n:
            break
    return tokens, changes


def random_insertion(
    tokens: list[str], n: int, synonyms: Synonyms, changeable: Changeable, stopwords: frozenset[str] = STOPWORDS
) -> tuple[list[str], list[dict]]:
    """``n`` times: insert a synonym of a random content word at a random position."""
    tokens = list(tokens)
    changes = []
    for _ in range(n):
        candidates = [t for t in tokens if changeable(t) and _is_content_word(t, stopwords)]
        for _attempt in range(10):
            if not candidates:
                break
            word = core(random.choice(candidates)).lower()
            options = synonyms(word)
            if options:
                new, position = random.choice(options), random.randint(0, len(tokens))
                tokens.insert(position, new)
                changes.append({"index": position, "inserted": new, "synonym_of": word})
                break
    return tokens, changes


def random_swap(tokens: list[str], n: int, changeable: Changeable) -> tuple[list[str], list[list[int]]]:
    """``n`` times: swap two random (changeable) tokens."""
    tokens = list(tokens)
    positions = [i for i, t in enumerate(tokens) if changeable(t)]
    swaps = []
    for _ in range(n):
        if len(positions) < 2:
            break
        i, j = random.sample(positions, 2)
        tokens[i], tokens[j] = tokens[j], tokens[i]
        swaps.append([i, j])
    return tokens, swaps


def random_deletion(tokens: list[str], p: float, changeable: Changeable) -> tuple[list[str], list[int]]:
    """Delete each (changeable) token with probability ``p``; never delete every token."""
    if len(tokens) <= 1:
        return list(tokens), []
    deleted = [i for i, t in enumerate(tokens) if changeable(t) and random.random() < p]
    if len(deleted) == len(tokens):
        deleted.remove(random.choice(deleted))
    gone = set(deleted)
    return [t for i, t in enumerate(tokens) if i not in gone], deleted
