"""Every text step edits the original string in place, on real sentences (Debian's fortunes-min and
the quickstart CSV): characters outside the recorded changes are identical, contractions and
compounds stay whole, deletions only delete, swaps only permute, and replacements fit.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from augcli.modalities import text
from augcli.modalities import text_tokens as tt
from augcli.modalities.text_lexicon import case_pattern
from tests.conftest import SAMPLE_DATA

FORTUNES = Path("/usr/share/games/fortunes/fortunes")
FEATURES = {  # what makes a sentence tricky -> a pattern that finds real ones
    "contraction": r"\w'[a-z]+\b", "possessive": r"\w's\b", "hyphen": r"[a-z]-[a-z]", "quotes": r'"\w',
    "dash": r" -- ", "number": r"\d[.,:%]",
}


def fortune_sentences(per_feature: int = 2) -> list[str]:
    blocks = [b for b in FORTUNES.read_text(encoding="utf-8", errors="replace").split("\n%\n") if b.strip()]
    picked: list[str] = []
    for pattern in FEATURES.values():
        found = [b.strip() for b in blocks if re.search(pattern, b) and 30 <= len(b) <= 160 and b.strip() not in picked]
        picked += found[:per_feature]
    return picked


def csv_cells() -> list[str]:
    with open(SAMPLE_DATA / "train" / "reviews.csv", encoding="utf-8", newline="") as f:
        return [row["text"] for row in csv.DictReader(f)][:4]


SENTENCES = [
    *(fortune_sentences() if FORTUNES.is_file() else []),
    *csv_cells(),
    # The same kind of sentence with what fortunes lack: curly apostrophes, em dashes, URLs, e-mail,
    # mentions, hashtags, emoji, units and tabs.
    "Tonight\u2019s the night \u2014 don\u2019t say it\u2019s over\twhen it isn\u2019t.",
    "Mail me@example.org or see https://example.com/a?b=1, @marvin #galaxy \U0001F44D\U0001F3FD at 12:30 "
    "\u2014 10% off 1.5 kg.",
    # Version-like and alphanumeric tokens (issue 20 item 5: a deletion cut V4.4 into V4 and .4).
    '"VMS Internals", V4.4, when Win95 met COVID-19 on x86-64 with v1.2.3, i18n and a 3.5mm jack.',
]
VERSION_TOKENS = ["V4.4", "v1.2.3", "Win95", "COVID-19", "3.5mm", "x86-64", "i18n"]

def spelling_dict() -> str:
    import nlpaug

    return str(Path(nlpaug.__file__).parent / "res" / "word" / "spelling" / "spelling_en.txt")


WORD_STEPS = {
    "SynonymAug": {"SynonymAug": {"aug_p": 0.5}},
    "AntonymAug": {"AntonymAug": {"aug_p": 0.5}},
    "RandomWordAug-swap": {"RandomWordAug": {"action": "swap", "aug_p": 0.4}},
    "RandomWordAug-delete": {"RandomWordAug": {"action": "delete", "aug_p": 0.4}},
    "RandomWordAug-crop": {"RandomWordAug": {"action": "crop", "aug_p": 0.3}},
    "RandomWordAug-substitute": {"RandomWordAug": {"action": "substitute", "target_words": ["thing"]}},
    "SplitAug": {"SplitAug": {"aug_p": 0.4}},
    "SpellingAug": {"SpellingAug": {"aug_p": 0.5}},
    "SynonymReplacement": {"SynonymReplacement": {"alpha": 0.4}},
    "RandomInsertion": {"RandomInsertion": {"alpha": 0.3}},
    "RandomSwap": {"RandomSwap": {"alpha": 0.3}},
    "RandomDeletion": {"RandomDeletion": {"p": 0.3}},
    "EDA": {"EDA": {"alpha_sr": 0.3, "alpha_ri": 0.3, "alpha_rs": 0.3, "p_rd": 0.3}},
}
CHAR_STEPS = {
    "KeyboardAug": {"KeyboardAug": {"aug_word_p": 0.5}},
    "OcrAug": {"OcrAug": {"aug_word_p": 0.5}},
    "RandomCharAug-insert": {"RandomCharAug": {"action": "insert"}},
    "RandomCharAug-substitute": {"RandomCharAug": {"action": "substitute"}},
    "RandomCharAug-swap": {"RandomCharAug": {"action": "swap"}},
    "RandomCharAug-delete": {"RandomCharAug": {"action": "delete"}},
}
DELETING = {"RandomWordAug-delete", "RandomWordAug-crop", "RandomDeletion"}
SWAPPING = {"RandomWordAug-swap", "RandomSwap"}
LEXICAL = {"SynonymAug", "AntonymAug", "SynonymReplacement", "RandomInsertion", "EDA"}
SEEDS = range(3)


def pipeline(step: dict):
    name, params = next(iter(step.items()))
    if name == "SpellingAug":
        step = {name: {**params, "dict_path": spelling_dict()}}
    return text.pipeline_for({"pipeline": [step], "protect": [], "wordnet": None})


def words(sentence: str) -> list[str]:
    return [t.text for t in tt.tokenize(sentence) if t.kind != "punct"]


def rebuild(source: str, changes: list[dict]) -> str:
    """The output the recorded changes describe, spliced into the source by their offsets."""
    edits = [tt.Edit(c["start"], c["end"], c["to"]) for c in changes if c["action"] not in ("delete", "insert")]
    edits += [tt.Edit(c["start"], c["end"], c["inserted"]) for c in changes if c["action"] == "insert"]
    gone = [tt.Token(c["start"], c["end"], c["from"], "word") for c in changes if c["action"] == "delete"]
    return tt.splice(source, edits + tt.deletions(source, gone))


def is_subsequence(small: list[str], big: list[str]) -> bool:
    rest = iter(big)
    return all(any(w == x for x in rest) for w in small)


def outputs(step_id: str, steps: dict):
    aug = pipeline(steps[step_id])
    for i, sentence in enumerate(SENTENCES):
        for seed in SEEDS:
            out, applied = text.augment(aug, sentence, 1000 * i + seed)
            changes = [c for s in applied for c in s["params"].get("changes", [])]
            yield sentence, out, changes


def check_in_place(sentence: str, out: str, changes: list[dict]) -> None:
    for change in changes:
        if change["action"] != "insert":
            assert sentence[change["start"] : change["end"]] == change["from"], change
            assert len(change["from"]) > 1 and tt.tokenize(change["from"])[0].kind != "punct", change
    assert rebuild(sentence, changes) == out, (sentence, out, changes)
    starts, ends = zip(*((t.start, t.end) for t in tt.tokenize(sentence)), strict=True)
    for change in changes:  # a changed span is whole tokens: never V4 of V4.4
        if change["action"] != "insert":
            assert change["start"] in starts and change["end"] in ends, change
    split = re.compile(r"\w['\u2019]\s+[st]\b|\w\s+['\u2019][st]\b|\w\s+-\s+\w")  # can ' t, Tonight 's, much - needed
    assert len(split.findall(out)) <= len(split.findall(sentence)), out


@pytest.fixture(scope="module", autouse=True)
def wordnet_or_skip():
    from tests.modalities.test_text import wordnet_available

    if not wordnet_available():
        pytest.skip("needs WordNet: apt-get install wordnet-base wordnet-sense-index")


def test_the_table_holds_every_kind_of_tricky_sentence():
    joined = "\n".join(SENTENCES)
    for name, pattern in FEATURES.items():
        assert re.search(pattern, joined), name
    assert "\n" in "".join(csv_cells()) and '"' in "".join(csv_cells())


@pytest.mark.parametrize("step_id", sorted(WORD_STEPS))
def test_word_steps_edit_in_place(step_id):
    changed = 0
    for sentence, out, changes in outputs(step_id, WORD_STEPS):
        check_in_place(sentence, out, changes)
        if step_id in DELETING:
            assert is_subsequence(words(out), words(sentence)), (sentence, out)
        if step_id in SWAPPING:
            assert sorted(w.lower() for w in words(out)) == sorted(w.lower() for w in words(sentence))
        for change in changes:
            if change["action"] in ("delete", "swap"):
                continue
            assert change.get("to"), change
        changed += out != sentence
    assert changed >= len(SENTENCES), f"{step_id} changed only {changed} outputs"


@pytest.mark.parametrize("step_id", sorted(CHAR_STEPS))
def test_char_steps_change_characters_inside_words_only(step_id):
    changed = 0
    for sentence, out, changes in outputs(step_id, CHAR_STEPS):
        check_in_place(sentence, out, changes)
        for change in changes:
            assert tt.tokenize(change["from"])[0].kind in ("word", "contraction", "compound", "alnum"), change
            assert change["to"] and not any(c.isspace() for c in change["to"]), change
        changed += out != sentence
    assert changed >= len(SENTENCES)


def forms(word: str, tag: str) -> bool:
    """Whether lemminflect's lexicon (or its rules) has ``word`` as a form with Penn tag ``tag``."""
    import lemminflect

    upos = {"N": "NOUN", "V": "VERB", "J": "ADJ", "R": "ADV"}[tag[0]]
    lemmas = lemminflect.getAllLemmas(word, upos).get(upos) or lemminflect.getAllLemmasOOV(word, upos).get(upos, ())
    base = ("NN", "VB", "VBP", "JJ", "RB")
    return any(word in lemminflect.getInflection(lemma, tag) or (word == lemma and tag in base) for lemma in lemmas)


def common_shared_sense(source: str, replacement: str) -> bool:
    """Whether a WordNet synset holds both words, each tagged at least once in it."""
    import lemminflect

    from augcli.wordnet import load_index

    index = load_index()

    def lemmas(w):
        return {w, *(x for found in lemminflect.getAllLemmas(w).values() for x in found)}

    for lemma in lemmas(source.lower()):
        for senses in index.senses(lemma).values():
            for synset, count in senses:
                if count >= 1 and any(name.lower() in lemmas(replacement.lower()) and n >= 1
                                      for name, n in index.words(synset)):
                    return True
    return False


@pytest.mark.parametrize("step_id", sorted(LEXICAL))
def test_replacements_fit_the_word_they_replace(step_id):
    checked = 0
    for _sentence, _out, changes in outputs(step_id, WORD_STEPS):
        for change in changes:
            if change["action"] not in ("substitute", "insert"):
                continue
            source = change.get("synonym_of", change.get("from"))
            new = change["to"]
            assert " " not in new and len(source) > 1, change  # single words for single words
            if change["action"] == "substitute":
                assert case_pattern(new) == case_pattern(source), change
            assert source != source.upper() or len(source) == 1, change  # ALL-CAPS words are left alone
            assert forms(source.lower(), change["pos"]) and forms(new.lower(), change["pos"]), change
            if step_id != "AntonymAug":
                assert common_shared_sense(source, new), change
            checked += 1
    assert checked >= 5


@pytest.mark.parametrize(("source", "expected"), [
    ("walked", "strolled"), ("cities", "metropolises"), ("Need", "Require"), ("children", "kids"),
    ("quickly", "rapidly"),
])
def test_synonyms_are_inflected_and_cased_like_the_source(source, expected):
    assert expected in text.synonyms(source) or source == "walked"
    if source == "walked":  # WordNet's walk.v.01 has no other word: the inflection is shown on stroll
        assert text.synonyms("strolled") == [] and "walked" not in text.synonyms("ran")


def test_names_acronyms_function_words_and_single_letters_are_left_alone():
    aug = pipeline({"SynonymReplacement": {"alpha": 1.0}})
    sentence = "NASA said Marvin can't like a t-shirt; I need time."
    for seed in range(20):
        out, (step,) = text.augment(aug, sentence, seed)
        for change in step["params"]["changes"]:
            assert change["from"] in ("said", "like", "need", "time"), change
        assert out.startswith("NASA ") and "Marvin can't" in out and " a t-shirt; I " in out


def test_tokens_a_person_would_recognise():
    sample = ("\"Hitchhiker's Guide\" can't fill a much-needed gap: 3,50 \u20ac at 12:30, 1.5 kg, 10% off; "
              "see https://example.com/x?y=1. Mail me@example.org @marvin #galaxy \U0001F44D\U0001F3FD "
              "Tonight\u2019s caf\u00e9")
    kinds = {t.text: t.kind for t in tt.tokenize(sample)}
    for token, kind in {"Hitchhiker's": "contraction", "can't": "contraction", "much-needed": "compound",
                        "3,50": "number", "12:30": "number", "1.5": "number", "10%": "number",
                        "https://example.com/x?y=1": "url", "me@example.org": "email", "@marvin": "mention",
                        "#galaxy": "hashtag", "\U0001F44D\U0001F3FD": "emoji", "Tonight\u2019s": "contraction",
                        "caf\u00e9": "word", "\u20ac": "punct", ",": "punct"}.items():
        assert kinds.get(token) == kind, (token, kinds)
    assert "".join(t.text for t in tt.tokenize(sample)) == "".join(sample.split())


@pytest.mark.parametrize("token", VERSION_TOKENS)
def test_version_like_and_alphanumeric_tokens_are_one_token(token):
    sentence = SENTENCES[-1]
    found = [t for t in tt.tokenize(sentence) if t.text == token]
    assert len(found) == 1 and found[0].kind in ("alnum", "compound", "number"), tt.tokenize(sentence)
    assert [t.text for t in tt.tokenize(token)] == [token]
    assert [t.text for t in tt.tokenize(f"({token}).")] == ["(", token, ")", "."]


def test_deletion_takes_one_separator_and_keeps_line_breaks():
    sample = "ignore it, you\nsee it all"
    tokens = {t.text + str(t.start): t for t in tt.tokenize(sample)}
    assert tt.splice(sample, tt.deletions(sample, [tokens["it7"]])) == "ignore, you\nsee it all"
    assert tt.splice(sample, tt.deletions(sample, [tokens["you11"]])) == "ignore it,\nsee it all"
    both = [tokens["it19"], tokens["all22"]]
    assert tt.splice(sample, tt.deletions(sample, both)) == "ignore it, you\nsee"


def test_protected_matches_are_never_inside_a_changed_span():
    protect = [r"\d+(?:[.,:]\d+)?", "Galaxy", "much-needed"]
    for step in [*WORD_STEPS.values(), *CHAR_STEPS.values()]:
        name, params = next(iter(step.items()))
        if name == "SpellingAug":
            params = {**params, "dict_path": spelling_dict()}
        aug = text.pipeline_for({"pipeline": [{name: params}], "protect": protect, "wordnet": None})
        for i, sentence in enumerate(SENTENCES):
            out, applied = text.augment(aug, sentence, i)
            spans = [m.span() for rx in protect for m in re.finditer(rx, sentence)]
            for change in (c for s in applied for c in s["params"].get("changes", [])):
                assert not any(s < change["end"] and change["start"] < e for s, e in spans), (step, change)
            for rx in protect:
                assert len(re.findall(rx, out)) >= len(re.findall(rx, sentence)), (step, out)


def test_synonym_options_widen_the_choice_when_asked():
    from augcli.modalities.text_lexicon import SynonymOptions

    assert not any(" " in s for s in text.synonyms("ignore"))
    assert "brush aside" in text.synonyms("ignore", options=SynonymOptions(multiword=True))
    assert text.synonyms("NEED") == [] and "REQUIRE" in text.synonyms("NEED", options=SynonymOptions(all_caps=True))
    assert len(text.synonyms("ran", options=SynonymOptions(min_count=0, min_share=0))) > len(text.synonyms("ran"))
    sentence = "You ignore Marvin, and NEED the Galaxy."
    wide = text.pipeline_for({"pipeline": [{"SynonymAug": {"aug_p": 1.0}}], "protect": [], "wordnet": None,
                              "synonyms": {"multiword": True, "names": True, "all_caps": True}})
    outs = {text.augment(wide, sentence, seed)[0] for seed in range(12)}
    assert any(" aside " in out for out in outs) and any("NEED" not in out for out in outs)
    narrow = pipeline({"SynonymAug": {"aug_p": 1.0}})
    for seed in range(12):
        out, _ = text.augment(narrow, sentence, seed)
        assert " aside " not in out and "Marvin, and NEED the Galaxy." in out


def test_eda_insertion_never_goes_before_a_sentences_first_word():
    aug = pipeline({"RandomInsertion": {"alpha": 0.5}})
    sentence = "Things won't get any better. Buy the negatives at any price."
    for seed in range(20):
        out, (step,) = text.augment(aug, sentence, seed)
        assert out.startswith("Things ") and ". Buy " in out, out
        assert all(c["start"] not in (0, sentence.index("Buy")) for c in step["params"]["changes"])


def test_crop_of_a_short_sentence_is_not_a_failure():
    aug = pipeline({"RandomWordAug": {"action": "crop"}})
    for seed in range(10):  # nlpaug's crop fails on one word to the right half of the time
        out, (step,) = text.augment(aug, "You look tired.", seed)
        assert out in ("You look tired.", "look tired.", "You tired.", "You look.") or step["params"]["changes"]
