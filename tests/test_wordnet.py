"""The cached WordNet index: exact against NLTK's reader of the same files, keyed by their content."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from augcli import wordnet
from tests.conftest import SAMPLE_DATA

DEBIAN = wordnet.DEBIAN_DICT
needs_debian_wordnet = pytest.mark.skipif(not (DEBIAN / "index.sense").is_file(),
                                          reason="needs apt-get install wordnet-base wordnet-sense-index")
# lexnames(5WN) of WordNet 3.0, which NLTK's reader wants and Debian does not ship
LEXNAMES = ("adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
            "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
            "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
            "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
            "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
            "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather "
            "adj.ppl").split()
CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
POS_NUMBER = {"n": 0, "v": 1, "a": 2, "s": 2, "r": 3}


def copy_dict(target: Path) -> Path:
    target.mkdir(parents=True)
    for name in [*wordnet.DICT_FILES, "index.noun", "index.verb", "index.adj", "index.adv",
                 "noun.exc", "verb.exc", "adj.exc", "adv.exc", "cntlist.rev"]:
        shutil.copyfile(DEBIAN / name, target / name)
    return target


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache folder holding a copy of the user cache's index (built once if need be)."""
    built = wordnet.index_path(wordnet.find_wordnet())
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    private = tmp_path / "cache" / "augcli"
    private.mkdir(parents=True)
    for path in built.parent.glob("wordnet-*"):
        shutil.copyfile(path, private / path.name)
    return private


@needs_debian_wordnet
def test_index_is_exact_against_nltks_reader_of_the_same_files(tmp_path, monkeypatch):
    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    corpus = copy_dict(tmp_path / "corpora" / "wordnet")  # NLTK reads only below its data roots
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path), *nltk.data.path])
    (corpus / "lexnames").write_text("".join(f"{i:02d}\t{n}\t{CATEGORY[n.split('.')[0]]}\n"
                                             for i, n in enumerate(LEXNAMES)))
    nltk_wn = WordNetCorpusReader(str(corpus), None)
    index = wordnet.load_index()
    words = {w.lower() for line in (SAMPLE_DATA / "train" / "quotes.txt").read_text().splitlines()
             for w in line.replace(",", " ").replace(".", " ").split() if w.isalpha()}
    words |= {"walk", "city", "good", "run", "need", "cheap", "slow", "time", "big", "happy"}
    checked = 0
    for word in sorted(words):
        for pos, ours in index.senses(word).items():
            offsets = nltk_wn._lemma_pos_offset_map[word][pos]  # index.<pos>, in WordNet's sense order
            synsets = [nltk_wn.synset_from_pos_and_offset(pos, offset) for offset in offsets]
            theirs = [next(lemma for lemma in s.lemmas() if lemma.name().lower() == word) for s in synsets]
            assert [s for s, _ in ours] == [offset * 4 + POS_NUMBER[pos] for offset in offsets], word
            # NLTK looks counts up in cntlist.rev by a sense key that lacks the "(a)" marker of
            # adjective satellites ("any%5:00:00:some:00" vs "some(a)") and finds 0; index.sense has them
            assert [c for (_, c), lemma in zip(ours, theirs, strict=True) if lemma.synset().pos() != "s"] == [
                lemma.count() for lemma in theirs if lemma.synset().pos() != "s"], word
            for (synset, _), lemma in zip(ours, theirs, strict=True):
                assert [w for w, _ in index.words(synset)] == lemma.synset().lemma_names()
                assert [(a.synset().offset() * 4 + POS_NUMBER[a.synset().pos()], a.name())
                        for a in lemma.antonyms()] == index.antonyms(synset, word)
                checked += 1
    assert checked > 200


@needs_debian_wordnet
def test_index_is_built_once_into_the_cache_named_by_the_files_content(tmp_path, cache):
    debian = wordnet.find_wordnet()
    path = wordnet.index_path(debian)
    assert path.parent == cache and path.is_file() and debian.content_key()[:24] in path.name
    built = path.stat().st_mtime_ns
    assert wordnet.load_index.__wrapped__().key == debian.content_key()
    assert path.stat().st_mtime_ns == built  # loaded, not rebuilt
    copy = wordnet.find_wordnet.__wrapped__(str(copy_dict(tmp_path / "dict")))
    assert wordnet.index_path(copy) == path  # the same content elsewhere: the same index
    with open(Path(copy.folder) / "index.sense", "a") as f:  # other content: another key
        f.write("zzzz%1:03:00:: 00001740 1 0\n")
    assert copy.content_key() != debian.content_key()


@needs_debian_wordnet
def test_a_damaged_cache_file_is_built_again(cache, monkeypatch):
    path = wordnet.index_path(wordnet.find_wordnet())
    path.write_bytes(b"\x00 not marshal")
    builds = []
    small = {"senses": {"walk": "v4:184"}, "words": {4: "walk 184"}, "antonyms": {}}  # as build_index gives
    monkeypatch.setattr(wordnet, "build_index", lambda files: builds.append(files) or small)
    index = wordnet.load_index.__wrapped__()
    assert index.senses("walk") == {"v": [(4, 184)]} and index.words(4) == [("walk", 184)]
    assert len(builds) == 1 and path.is_file() and path.read_bytes() != b"\x00 not marshal"


@needs_debian_wordnet
def test_validating_a_config_does_not_load_wordnet():
    code = ("import sys; from augcli.modalities.registry import load_config; load_config(sys.argv[1]); "
            "from augcli import wordnet; print(wordnet.load_index.cache_info().currsize, 'lemminflect' in sys.modules)")
    config = Path(__file__).resolve().parent.parent / "configs" / "text_csv.yaml"
    done = subprocess.run([sys.executable, "-c", code, str(config)], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["0", "False"]


@needs_debian_wordnet
def test_nltk_can_be_given_the_same_wordnet_for_hand_written_baselines():
    root = wordnet.ensure_wordnet()  # an NLTK data folder ('' when NLTK finds WordNet by itself)
    if root:
        corpus = Path(root) / "corpora" / "wordnet"
        assert (corpus / "lexnames").read_text().splitlines()[5] == "05\tnoun.animal\t1"
        assert (corpus / "index.sense").read_bytes() == (DEBIAN / "index.sense").read_bytes()
