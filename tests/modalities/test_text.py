"""Text steps on real sentences (Debian fortunes, in sample_data/); WordNet tests need wordnet-base."""

import random
import socket
from collections import Counter

import pytest

from augcli.errors import ItemError
from augcli.modalities import eda, text
from augcli.wordnet import ResourceError, ensure_wordnet, find_wordnet
from tests.conftest import SAMPLE_DATA

SENTENCES = [line for line in (SAMPLE_DATA / "train" / "quotes.txt").read_text().splitlines() if line]


def wordnet_available() -> bool:
    try:
        find_wordnet()
        return True
    except ResourceError:
        return False


needs_wordnet = pytest.mark.skipif(not wordnet_available(),
                                   reason="needs WordNet: apt-get install wordnet-base wordnet-sense-index")


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def build(steps, **section):
    return text.pipeline_for({"pipeline": steps, "protect": [], "wordnet": None, **section})


def wordnet_lemmas(word: str) -> set[str]:
    """Every word sharing a WordNet synset with ``word`` (any form of it), as lowercase lemmas."""
    import lemminflect

    from augcli.wordnet import load_index

    index = load_index()
    lemmas = {word.lower(), *(x for forms in lemminflect.getAllLemmas(word.lower()).values() for x in forms)}
    return {name.lower() for lemma in lemmas for senses in index.senses(lemma).values()
            for synset, _ in senses for name, _ in index.words(synset)}


def lemmas_of(word: str) -> set[str]:
    import lemminflect

    return {word.lower(), *(x for forms in lemminflect.getAllLemmas(word.lower()).values() for x in forms)}


def words(sentence: str) -> list[str]:
    from augcli.modalities.text_tokens import tokenize

    return [t.text for t in tokenize(sentence) if t.kind != "punct"]


@needs_wordnet
def test_synonym_replacement_uses_wordnet_synonyms_offline(no_network):
    pipeline = build([{"SynonymReplacement": {"alpha": 0.3}}])
    replaced = 0
    for seed, sentence in enumerate(SENTENCES):
        out, (step,) = text.augment(pipeline, sentence, seed)
        for change in step["params"]["changes"]:
            assert lemmas_of(change["to"]) & wordnet_lemmas(change["from"]), change
            replaced += 1
        assert len(words(out)) == len(words(sentence))
    assert replaced >= len(SENTENCES) // 2


@needs_wordnet
def test_nlpaug_synonym_aug_replaces_with_wordnet_synonyms_offline(no_network):
    pipeline = build([{"SynonymAug": {"aug_p": 0.3}}])
    checked = 0
    for seed, sentence in enumerate(SENTENCES[:8]):
        _, (step,) = text.augment(pipeline, sentence, seed)
        for change in step["params"]["changes"]:
            assert lemmas_of(change["to"]) & wordnet_lemmas(change["from"]), change
            assert change["from"].lower() not in eda.STOPWORDS
            checked += 1
    assert checked > 0


def test_random_swap_keeps_the_token_multiset():
    pipeline = build([{"RandomSwap": {"alpha": 0.2}}])
    moved = 0
    for seed, sentence in enumerate(SENTENCES):
        out, _ = text.augment(pipeline, sentence, seed)
        assert Counter(words(out)) == Counter(words(sentence))
        moved += out != sentence
    assert moved >= len(SENTENCES) // 2


def test_random_deletion_removes_tokens_only():
    pipeline = build([{"RandomDeletion": {"p": 0.3}}])
    for seed, sentence in enumerate(SENTENCES):
        out, (step,) = text.augment(pipeline, sentence, seed)
        before, after = Counter(words(sentence)), Counter(words(out))
        assert not after - before and 1 <= sum(after.values()) <= sum(before.values())
        assert sum(before.values()) - sum(after.values()) == len(step["params"]["changes"])


@needs_wordnet
def test_random_insertion_adds_synonyms_of_words_present():
    pipeline = build([{"RandomInsertion": {"alpha": 0.2}}])
    total = 0
    for seed, sentence in enumerate(SENTENCES):
        out, (step,) = text.augment(pipeline, sentence, seed)
        added = Counter(words(out)) - Counter(words(sentence))
        assert not Counter(words(sentence)) - Counter(words(out))  # nothing removed
        assert sum(added.values()) == len(step["params"]["changes"])
        total += len(step["params"]["changes"])
        for change in step["params"]["changes"]:
            assert change["to"].lower() in [s.lower() for s in text.synonyms(change["synonym_of"])]
    assert total >= len(SENTENCES) // 2


def test_same_seed_same_text_other_seed_other_text():
    pipeline = build([{"RandomWordAug": {"action": "swap"}}, {"KeyboardAug": {}}])
    sentence = SENTENCES[3]
    assert text.augment(pipeline, sentence, 1) == text.augment(pipeline, sentence, 1)
    assert text.augment(pipeline, sentence, 1)[0] != text.augment(pipeline, sentence, 2)[0]


def test_protect_keeps_numbers_and_terms():
    sentence = "Order 66 shipped to Main Street on 2024-05-01 for 12 customers of Acme Corp"
    pipeline = build([{"RandomWordAug": {"action": "delete", "aug_p": 0.6}}, {"KeyboardAug": {"aug_char_p": 0.5}},
                      {"RandomSwap": {"alpha": 0.5}}], protect=[r"\d[\d-]*", "Main Street", "Acme Corp"])
    for seed in range(40):
        out, _ = text.augment(pipeline, sentence, seed)
        for kept in ["66", "2024-05-01", "12", "Main Street", "Acme Corp"]:
            assert kept in out, (seed, out)


def test_compositions_record_what_they_applied():
    pipeline = build([{"OneOf": {"transforms": [{"RandomSwap": {}}, {"RandomDeletion": {}}]}},
                      {"Sometimes": {"aug_p": 0.5, "transforms": [{"KeyboardAug": {}}, {"OcrAug": {}}]}}])
    seen = Counter()
    for seed in range(60):
        _, steps = text.augment(pipeline, SENTENCES[0], seed)
        names = [s["name"] for s in steps]
        assert len([n for n in names if n in ("RandomSwap", "RandomDeletion")]) == 1
        seen.update(names)
    assert all(seen[n] > 5 for n in ["RandomSwap", "RandomDeletion", "KeyboardAug", "OcrAug"])
    assert seen["KeyboardAug"] < 60 and seen["OcrAug"] < 60


def test_eda_step_applies_one_of_its_operations():
    pipeline = build([{"EDA": {"alpha_sr": 0, "alpha_ri": 0, "alpha_rs": 0.2, "p_rd": 0.2}}])
    names = Counter(text.augment(pipeline, SENTENCES[1], seed)[1][0]["name"] for seed in range(40))
    assert set(names) == {"RandomSwap", "RandomDeletion"}


def test_random_sentence_aug_works_without_nltk_tokenizer_data():
    pipeline = build([{"RandomSentAug": {"mode": "left"}}])
    paragraph = " ".join(SENTENCES[:4])
    outs = {text.augment(pipeline, paragraph, seed)[0] for seed in range(10)}
    assert any(out != paragraph for out in outs)
    for out in outs:
        assert Counter(out.split()) == Counter(paragraph.split())


def test_decode_errors_name_the_byte_offset():
    data = "naïve café".encode("latin-1")
    with pytest.raises(ItemError, match=r"not valid utf-8 text at byte offset 2 \(byte 0xef\)"):
        text.decode_text(data, "utf-8")
    assert text.decode_text(b"\xef\xbb\xbfhello", "utf-8") == ("hello", True)


def test_missing_wordnet_is_a_clear_error(tmp_path):
    for locate in (find_wordnet, ensure_wordnet):
        with pytest.raises(ResourceError, match="apt-get install wordnet-base wordnet-sense-index"):
            locate.__wrapped__(str(tmp_path))
    problems = text.check_section({"pipeline": [{"SynonymAug": {}}], "wordnet": str(tmp_path)}, tmp_path, "text")
    assert [p.path for p in problems] == ["text.pipeline[0].SynonymAug"]
    assert "apt-get install wordnet-base" in problems[0].message


def test_model_based_augmenter_without_the_extra_says_what_to_install(tmp_path):
    problems = text.check_section({"pipeline": [{"ContextualWordEmbsAug": {"model_path": str(tmp_path)}}]},
                                  tmp_path, "text")
    assert len(problems) == 1
    assert problems[0].path == "text.pipeline[0].ContextualWordEmbsAug"
    assert "pip install 'augcli[models]'" in problems[0].message or "not a local model folder" in problems[0].message


def test_eda_deletion_never_empties_a_sentence():
    random.seed(0)
    assert len(eda.random_deletion(2, 1.0)) == 1
    assert eda.random_deletion(1, 1.0) == []


@needs_wordnet
def test_antonym_aug_replaces_with_wordnet_antonyms_offline(no_network):
    from augcli.wordnet import load_index

    index = load_index()
    pipeline = build([{"AntonymAug": {"aug_p": 0.5}}])
    sentence = "The weather is good and the food was cheap but the service was slow."
    checked = 0
    for seed in range(5):
        _, (step,) = text.augment(pipeline, sentence, seed)
        for change in step["params"]["changes"]:
            antonyms = {name.lower() for lemma in lemmas_of(change["from"]) for senses in index.senses(lemma).values()
                        for synset, _ in senses for _, name in index.antonyms(synset, lemma)}
            assert lemmas_of(change["to"]) & antonyms, change
            checked += 1
    assert checked >= 5


def test_spelling_aug_uses_the_configured_dictionary(tmp_path):
    from pathlib import Path

    import nlpaug

    source = Path(nlpaug.__file__).parent / "res" / "word" / "spelling" / "spelling_en.txt"
    misspellings = {}  # nlpaug maps both ways: word -> misspellings and misspelling -> word
    for line in source.read_text(encoding="utf-8", errors="replace").splitlines():
        word, *wrong = line.split()
        misspellings.setdefault(word, set()).update(wrong)
        for w in wrong:
            misspellings.setdefault(w, set()).add(word)
    (tmp_path / "spelling.txt").write_text(source.read_text(encoding="utf-8", errors="replace"))
    section = {"pipeline": [{"SpellingAug": {"dict_path": "spelling.txt", "aug_p": 0.5}}]}
    assert text.check_section(section, tmp_path, "text") == []
    resolved = text._resolve_step_paths(section["pipeline"], tmp_path)
    pipeline = build(resolved)
    changed = 0
    for seed, sentence in enumerate(SENTENCES[:8]):
        _, (step,) = text.augment(pipeline, sentence, seed)
        for change in step["params"]["changes"]:
            assert change["to"] in misspellings.get(change["from"], set()), change
            changed += 1
    assert changed > 0
    missing = text.check_section({"pipeline": [{"SpellingAug": {"dict_path": "nope.txt"}}]}, tmp_path, "text")
    assert [(p.path, p.message.endswith("does not exist")) for p in missing] == [
        ("text.pipeline[0].SpellingAug.dict_path", True)]


ALL_STEPS = [
    {"SynonymAug": {"aug_p": 0.3}}, {"AntonymAug": {}}, {"RandomWordAug": {"action": "swap"}},
    {"RandomWordAug": {"action": "delete"}}, {"RandomWordAug": {"action": "crop"}}, {"SplitAug": {}},
    {"KeyboardAug": {}}, {"OcrAug": {}}, {"RandomCharAug": {"action": "insert"}}, {"RandomSentAug": {}},
    {"EDA": {}}, {"SynonymReplacement": {}}, {"RandomInsertion": {}}, {"RandomSwap": {}}, {"RandomDeletion": {}},
]


@needs_wordnet
def test_every_step_gives_the_same_text_in_processes_with_other_hash_seeds(tmp_path):
    import json
    import os
    import subprocess
    import sys

    import nlpaug

    spelling = os.path.join(os.path.dirname(nlpaug.__file__), "res", "word", "spelling", "spelling_en.txt")
    steps = [*ALL_STEPS, {"SpellingAug": {"dict_path": spelling}}]
    code = (
        "import json, sys; from augcli.modalities import text\n"
        "steps, sentences = json.loads(sys.argv[1]), json.loads(sys.argv[2])\n"
        "out = [[text.augment(text.pipeline_for({'pipeline': [s], 'protect': [], 'wordnet': None}), x, 7 + i)[0]"
        " for i, x in enumerate(sentences)] for s in steps]\n"
        "print(json.dumps(out))"
    )
    paragraph = [" ".join(SENTENCES[i : i + 3]) for i in range(0, 12, 3)]
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", code, json.dumps(steps), json.dumps(paragraph)],
                              capture_output=True, text=True, env=env, check=True)
        outputs.append(json.loads(done.stdout))
    for step, first, second in zip(steps, *outputs, strict=True):
        assert first == second, step
    assert sum(out != paragraph for out in outputs[0]) >= len(steps) - 2  # the steps really change text
