"""Synonyms and antonyms that fit the word they replace: same part of speech, common senses,
single words, inflected like the source (lemminflect) and in its case pattern.

No tagger runs: a word form's possible parts of speech come from lemminflect's lexicon (which
lemma and which Penn tag a form can be) checked against WordNet's index, and the part of speech
whose senses WordNet's tagged corpus uses most (sense tag counts, index.sense) is taken. Senses of
the source used fewer than ``min_count`` times, or less than ``min_share`` as often as its most
used sense, are dropped: that removes the rare and technical senses ("t" -> "liothyronine").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

UPOS_TO_WORDNET = {"NOUN": "n", "VERB": "v", "ADJ": "a", "ADV": "r"}
PENN_TAGS = {  # in the order a tag is preferred when a form can be several
    "n": ("NN", "NNS"),
    "v": ("VB", "VBP", "VBZ", "VBD", "VBN", "VBG"),
    "a": ("JJ", "JJR", "JJS"),
    "r": ("RB", "RBR", "RBS"),
}
_POS_ORDER = "nvar"
# Light verbs: their meaning comes from the words around them ("get used to", "take place", "let
# out"), so a synonym of one of their senses rarely fits. Left alone, like function words.
LIGHT_VERBS = frozenset("be have do get make take let go come put set keep give".split())


@dataclass(frozen=True)
class SynonymOptions:
    min_count: int = 1  # a sense of the source, and a replacement's use in it, tagged fewer times is dropped
    min_share: float = 0.2  # a sense of the source used less than this share of its most used one is dropped
    multiword: bool = False  # allow "brush aside" for a one-word slot
    all_caps: bool = False  # also replace ALL-CAPS words (usually names and acronyms)
    names: bool = False  # also replace capitalised words inside a sentence (usually names)


@dataclass(frozen=True)
class Analysis:
    lemma: str
    pos: str  # WordNet pos: n v a r
    tags: tuple[str, ...]  # Penn tags the form can have as this lemma and pos


@lru_cache(maxsize=65536)  # the words of a corpus repeat
def case_pattern(word: str) -> str:
    letters = [c for c in word if c.isalpha()]
    if not letters or all(c.islower() for c in letters):
        return "lower"
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return "upper"
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return "title"
    return "mixed"


def match_case(source: str, word: str) -> str:
    """``word`` in ``source``'s case pattern: Need -> Want, NEED -> WANT, need -> want."""
    pattern = case_pattern(source)
    if pattern == "upper":
        return word.upper()
    if pattern == "title":
        return word[:1].upper() + word[1:]
    return word


class Lexicon:
    """Synonyms and antonyms of surface word forms, from the WordNet index, cached per form."""

    def __init__(self, wordnet: str | None, options: SynonymOptions):
        self.wordnet, self.options = wordnet, options

    @cached_property
    def index(self):
        from augcli.wordnet import load_index

        return load_index(self.wordnet)

    def changeable_case(self, word: str) -> bool:
        pattern = case_pattern(word)
        return pattern in ("lower", "title") or (pattern == "upper" and self.options.all_caps)

    @lru_cache(maxsize=65536)  # noqa: B019 (one Lexicon per pipeline, kept for the process)
    def analysis(self, word: str, allowed: str = "nvar") -> Analysis | None:
        """The most used (lemma, pos) of a lowercase word form among the parts of speech
        ``allowed`` (see ``allowed_pos``), or None if WordNet lacks it."""
        import lemminflect

        options: dict[tuple[str, str], set[str]] = {}
        lemmas = lemminflect.getAllLemmas(word)
        if not lemmas:
            lemmas = {upos: lemminflect.getAllLemmasOOV(word, upos).get(upos, ()) for upos in UPOS_TO_WORDNET}
        for upos, found in lemmas.items():
            pos = UPOS_TO_WORDNET.get(upos)
            for lemma in found if pos and pos in allowed else ():
                inflections = lemminflect.getAllInflections(lemma, upos)
                # a form is a tag's first spelling ('times' is NNS; 'time' as NNS is a rare variant)
                tags = ({tag for tag, forms in inflections.items() if forms[0] == word}
                        or {tag for tag, forms in inflections.items() if word in forms})
                if lemma == word and not tags:
                    tags.add(PENN_TAGS[pos][0])
                if tags:
                    options.setdefault((lemma.lower(), pos), set()).update(tags)
        best, best_score = None, -1
        for (lemma, pos), tags in sorted(options.items(), key=lambda item: (_POS_ORDER.index(item[0][1]), item[0][0])):
            senses = self.index.senses(lemma).get(pos)
            if not senses:
                continue
            score = sum(count for _, count in senses)
            if score > best_score:
                best, best_score = Analysis(lemma, pos, tuple(t for t in PENN_TAGS[pos] if t in tags)), score
        return best

    def _senses(self, analysis: Analysis) -> list[int]:
        if analysis.pos == "v" and analysis.lemma in LIGHT_VERBS:
            return []
        senses = self.index.senses(analysis.lemma).get(analysis.pos, [])
        top = max((count for _, count in senses), default=0)
        floor = max(self.options.min_count, self.options.min_share * top)
        return [synset for synset, count in senses if count >= floor]

    def _inflect(self, word: str, analysis: Analysis) -> str | None:
        """``word`` (a WordNet lemma) inflected as the source form; None if that is ambiguous."""
        import lemminflect

        parts = word.split("_")
        head = len(parts) - 1 if analysis.pos == "n" else 0  # nouns inflect last, verbs first
        forms = set()
        for tag in analysis.tags:
            found = lemminflect.getInflection(parts[head], tag)
            if not found:
                return None
            forms.add(found[0])
        if len(forms) != 1:  # walked is VBD and VBN; went/gone would have to guess
            return None
        parts[head] = forms.pop()
        return " ".join(parts)

    def _fitting(self, source: str, pairs: list[tuple[str, int]], analysis: Analysis) -> list[str]:
        out = []
        for name, _ in pairs:
            if name.lower() == analysis.lemma or name != name.lower():
                continue  # itself, or a proper noun (Mars) for a common word
            if ("_" in name and not self.options.multiword) or not name.replace("_", "").replace("-", "").isalpha():
                continue
            form = self._inflect(name.lower(), analysis)
            if form and form != source.lower():
                out.append(match_case(source, form))
        return list(dict.fromkeys(out))

    @lru_cache(maxsize=65536)  # noqa: B019
    def synonyms(self, word: str, allowed: str = "nvar") -> tuple[str, ...]:
        """Replacements for a surface form, best first (sense frequency, then the replacement's
        own count in that sense), inflected and cased like it. Empty when nothing fits."""
        if not self.changeable_case(word):
            return ()
        analysis = self.analysis(word.lower(), allowed)
        if analysis is None:
            return ()
        ranked = [(name, count) for synset in self._senses(analysis)
                  for name, count in sorted(self.index.words(synset), key=lambda w: -w[1])
                  if count >= self.options.min_count]
        return tuple(self._fitting(word, ranked, analysis))

    @lru_cache(maxsize=65536)  # noqa: B019
    def antonyms(self, word: str, allowed: str = "nvar") -> tuple[str, ...]:
        """WordNet antonyms of the form's common senses, inflected and cased like it."""
        if not self.changeable_case(word):
            return ()
        analysis = self.analysis(word.lower(), allowed)
        if analysis is None:
            return ()
        found = [(name, 0) for synset in self._senses(analysis)
                 for _, name in self.index.antonyms(synset, analysis.lemma)]
        return tuple(self._fitting(word, found, analysis))

    def tag(self, word: str, allowed: str = "nvar") -> str:
        """The Penn tag used for a form's replacements ('' when WordNet lacks it)."""
        analysis = self.analysis(word.lower(), allowed)
        return analysis.tags[0] if analysis else ""


# The word before a word narrows what it can be, without a tagger: after a determiner or a
# possessive comes a noun or an adjective ("your favor" is not the verb), after a modal a verb
# or an adverb ("will probably", "can't like").
_BEFORE_NOUN = frozenset("a an the my your his her its our their this that these those every each any some no "
                         "another such".split())
_BEFORE_VERB = frozenset("will would can could shall should may might must cannot can't won't don't doesn't "
                         "didn't wouldn't couldn't shouldn't mustn't i'll you'll we'll they'll".split())


def allowed_pos(previous: str | None) -> str:
    """WordNet parts of speech a word can have after ``previous`` (the word before it, or None)."""
    if previous is None:
        return "nvar"
    previous = previous.lower().replace("\u2019", "'")
    if previous in _BEFORE_NOUN:
        return "na"
    if previous in _BEFORE_VERB:
        return "vr"
    return "nvar"
