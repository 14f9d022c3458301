"""EDA (Wei & Zou 2019): synonym replacement, random insertion, random swap, random deletion.

Pure functions over a sentence's words (the tokens a step may change): they decide *what* to
change and return it by word index; the caller splices the changes into the original string.
They draw only from the global ``random`` (seeded per sample by augcli) and never iterate a set,
so results do not depend on the process.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

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
Synonyms = Callable[[int], Sequence[str]]  # index of a word -> its replacements, cased like it


def count_for(alpha: float, n_words: int) -> int:
    """EDA's n = alpha * sentence length, at least one."""
    return max(1, int(alpha * n_words))


def synonym_replacement(words: list[str], n: int, synonyms: Synonyms) -> list[tuple[int, str]]:
    """Replace every occurrence of up to ``n`` distinct words by one synonym: (index, new word).
    An occurrence is replaced only where the synonym fits it too (the same part of speech)."""
    occurrences: dict[str, list[int]] = {}
    for i, word in enumerate(words):
        occurrences.setdefault(word.lower(), []).append(i)
    distinct = list(occurrences)
    random.shuffle(distinct)
    replaced: list[tuple[int, str]] = []
    done = 0
    for word in distinct:
        options = synonyms(occurrences[word][0])
        if not options:
            continue
        new = random.choice(options).lower()
        for i in occurrences[word]:
            fitting = {option.lower(): option for option in synonyms(i)}
            if new in fitting:
                replaced.append((i, fitting[new]))
        done += 1
        if done >= n:
            break
    return sorted(replaced)


def random_insertion(n_words: int, n_slots: int, n: int, synonyms: Synonyms) -> list[tuple[int, int, str]]:
    """``n`` times: a synonym of a random word, inserted in a random one of ``n_slots`` gaps
    between the sentence's words: (gap, index of the word it is a synonym of, synonym)."""
    inserted = []
    for _ in range(n):
        for _attempt in range(10):
            if not n_words:
                break
            i = random.randrange(n_words)
            options = synonyms(i)
            if options:
                inserted.append((random.randrange(n_slots), i, random.choice(options)))
                break
    return inserted


def random_swap(n_words: int, n: int) -> list[int]:
    """``n`` times swap two random positions: the word order after, as indices of the words before."""
    order = list(range(n_words))
    for _ in range(n):
        if n_words < 2:
            break
        i, j = random.sample(range(n_words), 2)
        order[i], order[j] = order[j], order[i]
    return order


def random_deletion(n_words: int, p: float) -> list[int]:
    """Indices of words deleted, each with probability ``p``; never every word, never a lone word."""
    if n_words <= 1:
        return []
    deleted = [i for i in range(n_words) if random.random() < p]
    if len(deleted) == n_words:
        deleted.remove(random.choice(deleted))
    return deleted
