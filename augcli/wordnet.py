"""WordNet from local files only, as a compact index built once into the user cache.

NLTK's reader takes 2-4 s per process (most of it building a 3.0 -> 3.0 sense map augcli never
needs). The synonym steps need far less: which synsets a lemma has per part of speech with their
sense tag counts (index.sense), the words of each synset (data.*), and antonym pointers. That is
parsed once from the WordNet files into ``$XDG_CACHE_HOME/augcli/`` (default ``~/.cache/augcli``),
under a name derived from the files' sha256, and loaded with ``marshal`` in a few tens of ms.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from augcli.errors import AugcliError

DEBIAN_DICT = Path("/usr/share/wordnet")
INSTALL_HINT = (
    "install it with 'apt-get install wordnet-base wordnet-sense-index' (Debian/Ubuntu), or set "
    "text.wordnet to a WordNet 3.0 dict folder (data.noun, index.sense, ...) or to an NLTK data "
    "folder holding corpora/wordnet"
)
DATA_FILES = {"n": "data.noun", "v": "data.verb", "a": "data.adj", "r": "data.adv"}
INDEX_FILES = ("index.sense",)
DICT_FILES = (*DATA_FILES.values(), *INDEX_FILES)
POS_OF_SS_TYPE = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}  # 5: adjective satellite
_POS_NUMBER = {"n": 0, "v": 1, "a": 2, "r": 3}
INDEX_FORMAT = 1  # bump when the index's layout changes
# The lexicographer files of WordNet 3.0, in file-number order (lexnames(5WN)); NLTK reads them
# from a 'lexnames' file that Debian's packages do not ship.
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
    "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location noun.motive "
    "noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process noun.quantity "
    "noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change verb.cognition "
    "verb.communication verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_SYNTACTIC_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
NLTK_FILES = (
    "data.adj", "data.adv", "data.noun", "data.verb", "index.adj", "index.adv", "index.noun", "index.verb",
    "adj.exc", "adv.exc", "noun.exc", "verb.exc", "index.sense", "cntlist.rev",
)


class ResourceError(AugcliError):
    """A local resource a pipeline needs is missing."""


def forbid_downloads() -> None:
    """nlpaug calls nltk.download when data is missing; augcli never fetches anything at run time."""
    import nltk

    def refuse(*args, **kwargs):
        raise ResourceError(
            f"NLTK asked to download {args[0] if args else 'data'}; augcli never downloads. For WordNet, {INSTALL_HINT}"
        )

    nltk.download = refuse


@dataclass(frozen=True)
class WordNetFiles:
    """Where the WordNet 3.0 dict files are: a folder, or a folder inside a zip (NLTK's wordnet.zip)."""

    folder: str
    zip_path: str | None = None

    def read(self, name: str) -> bytes:
        if self.zip_path:
            with zipfile.ZipFile(self.zip_path) as archive:
                return archive.read(f"{self.folder}/{name}")
        return (Path(self.folder) / name).read_bytes()

    def stamp(self) -> str:
        """Cheap identity of the files (path, size, mtime), to find the content key without hashing."""
        paths = [self.zip_path] if self.zip_path else [str(Path(self.folder) / n) for n in DICT_FILES]
        return "\n".join(f"{p} {os.stat(p).st_size} {os.stat(p).st_mtime_ns}" for p in paths)

    def content_key(self) -> str:
        digest = hashlib.sha256()
        for name in DICT_FILES:
            digest.update(name.encode() + b"\0" + hashlib.sha256(self.read(name)).digest())
        return digest.hexdigest()


@cache
def find_wordnet(configured: str | None = None) -> WordNetFiles:
    """The local WordNet 3.0 files to use; raises ResourceError saying how to install them.

    Order: ``configured`` (a dict folder, or an NLTK data folder holding corpora/wordnet), Debian's
    /usr/share/wordnet, then NLTK's data path (folders or wordnet.zip). Nothing is loaded here.
    """
    if configured:
        found = _files_in(Path(configured))
        if found is None:
            raise ResourceError(
                f"text.wordnet: {configured} holds neither corpora/wordnet nor WordNet dict files; " + INSTALL_HINT)
        return _complete(found)
    if (DEBIAN_DICT / "data.noun").is_file():
        return _complete(WordNetFiles(str(DEBIAN_DICT)))
    import nltk.data

    for root in nltk.data.path:
        found = _files_in(Path(root))
        if found is not None:
            return _complete(found)
    raise ResourceError("WordNet is not installed; " + INSTALL_HINT)


def _files_in(folder: Path) -> WordNetFiles | None:
    if (folder / "data.noun").is_file():
        return WordNetFiles(str(folder))
    if (folder / "corpora" / "wordnet" / "data.noun").is_file():
        return WordNetFiles(str(folder / "corpora" / "wordnet"))
    archive = folder / "corpora" / "wordnet.zip"
    if archive.is_file():
        try:
            with zipfile.ZipFile(archive) as z:
                if "wordnet/data.noun" in z.namelist():
                    return WordNetFiles("wordnet", str(archive))
        except zipfile.BadZipFile:
            return None
    return None


def _complete(files: WordNetFiles) -> WordNetFiles:
    if files.zip_path:
        with zipfile.ZipFile(files.zip_path) as z:
            names = set(z.namelist())
        missing = [n for n in DICT_FILES if f"{files.folder}/{n}" not in names]
    else:
        missing = [n for n in DICT_FILES if not (Path(files.folder) / n).is_file()]
    if missing:
        where = files.zip_path or files.folder
        raise ResourceError(f"WordNet in {where} lacks {', '.join(missing)}; " + INSTALL_HINT)
    return files


# ---------------------------------------------------------------- the index


class WordNetIndex:
    """What the synonym steps read from WordNet. A synset is ``offset * 4 + pos number``.

    Stored as flat strings decoded on demand: loading 150k small strings is ~10x faster than
    loading as many nested tuples, and a run looks up only the words its text holds.
    """

    def __init__(self, data: dict, key: str):
        self._senses: dict[str, str] = data["senses"]
        self._words: dict[int, str] = data["words"]
        self._antonyms: dict[str, str] = data["antonyms"]
        self.key = key  # sha256 of the WordNet files it was built from

    def senses(self, lemma: str) -> dict[str, list[tuple[int, int]]]:
        """``{pos: [(synset, tag_count), ...]}`` of a lowercase lemma ('_' for spaces), in WordNet's
        sense order; pos is n, v, a or r (adjective satellites are a)."""
        found: dict[str, list[tuple[int, int]]] = {}
        for part in filter(None, self._senses.get(lemma, "").split(";")):
            found[part[0]] = [(int(s), int(c)) for s, c in (pair.split(":") for pair in part[1:].split(","))]
        return found

    def words(self, synset: int) -> list[tuple[str, int]]:
        """The words of a synset as WordNet spells them (case kept, '_' for spaces), with the tag
        count of each word in this sense."""
        fields = self._words.get(synset, "").split()
        return [(fields[i], int(fields[i + 1])) for i in range(0, len(fields), 2)]

    def antonyms(self, synset: int, word: str) -> list[tuple[int, str]]:
        """(synset, word) antonyms of ``word`` (lowercase) in ``synset``."""
        fields = self._antonyms.get(f"{synset} {word}", "").split()
        return [(int(fields[i]), fields[i + 1]) for i in range(0, len(fields), 2)]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "augcli"


def index_path(files: WordNetFiles) -> Path:
    """The cache file for these WordNet files (built if missing): named by their content hash."""
    root = cache_dir()
    stamps = root / f"wordnet-stamp-{hashlib.sha256(files.stamp().encode()).hexdigest()[:24]}"
    try:
        key = stamps.read_text().strip()
    except OSError:
        key = files.content_key()
        _write_atomic(stamps, key.encode())
    python = f"{sys.version_info[0]}{sys.version_info[1]}"
    path = root / f"wordnet-{key[:24]}-v{INDEX_FORMAT}-m{marshal.version}-py{python}.bin"
    if not path.is_file():
        _write_atomic(path, marshal.dumps({"key": key, **build_index(files)}))
    return path


@cache
def load_index(configured: str | None = None) -> WordNetIndex:
    """The WordNet index for ``configured`` (or the local default), built into the cache once.
    A cache that cannot be written (read-only home) or read back only costs the build time."""
    files = find_wordnet(configured)
    for _attempt in range(2):
        try:
            path = index_path(files)
        except OSError:
            break
        try:
            data = marshal.loads(path.read_bytes())
            return WordNetIndex(data, data["key"])
        except (OSError, ValueError, EOFError, TypeError, KeyError):  # damaged: built again once
            path.unlink(missing_ok=True)
    return WordNetIndex(build_index(files), files.content_key())


def _write_atomic(path: Path, blob: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)  # parallel builders write the same bytes; the last rename wins
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_index(files: WordNetFiles) -> dict:
    """Parse index.sense (sense order and tag counts) and data.* (synset words, antonym pointers)."""
    counts: dict[tuple[str, int], int] = {}
    senses: dict[str, dict[str, list]] = {}
    for line in files.read("index.sense").decode("utf-8").splitlines():
        key, offset, number, count = line.split()
        lemma, rest = key.split("%", 1)
        pos = POS_OF_SS_TYPE[rest[0]]
        synset = int(offset) * 4 + _POS_NUMBER[pos]
        counts[(lemma, synset)] = int(count)
        senses.setdefault(lemma, {}).setdefault(pos, []).append((int(number), synset, int(count)))
    for by_pos in senses.values():
        for pos, entries in by_pos.items():
            by_pos[pos] = [(synset, count) for _, synset, count in sorted(entries)]
    words: dict[int, list] = {}
    antonyms: dict[str, list] = {}
    for pos, name in DATA_FILES.items():
        for line in files.read(name).decode("utf-8").splitlines():
            if not line or line[0] == " ":  # the licence header
                continue
            fields = line.split(" | ", 1)[0].split()
            synset = int(fields[0]) * 4 + _POS_NUMBER[pos]
            n_words = int(fields[3], 16)
            names = [fields[4 + 2 * i].split("(", 1)[0] for i in range(n_words)]  # 'ablaze(p)' -> 'ablaze'
            words[synset] = [(w, counts.get((w.lower(), synset), 0)) for w in names]
            at = 4 + 2 * n_words
            for i in range(int(fields[at])):
                symbol, offset, target_pos, source_target = fields[at + 1 + 4 * i : at + 5 + 4 * i]
                if symbol != "!":
                    continue
                source, target = int(source_target[:2], 16), int(source_target[2:], 16)
                target_synset = int(offset) * 4 + _POS_NUMBER["a" if target_pos == "s" else target_pos]
                antonyms.setdefault(f"{synset} {names[source - 1].lower()}", []).append((target_synset, target))
    # antonym targets are word numbers in their synset: resolve them to words now that all are read
    resolved = {key: " ".join(f"{s} {words[s][t - 1][0]}" for s, t in targets if s in words and 0 < t <= len(words[s]))
                for key, targets in antonyms.items()}
    return {"senses": {lemma: ";".join(pos + ",".join(f"{s}:{c}" for s, c in entries)
                                       for pos, entries in by_pos.items())
                       for lemma, by_pos in senses.items()},
            "words": {synset: " ".join(f"{w} {c}" for w, c in entries) for synset, entries in words.items()},
            "antonyms": resolved}


# ---------------------------------------------------------------- the same WordNet for NLTK


@cache
def ensure_wordnet(configured: str | None = None) -> str:
    """Make ``nltk.corpus.wordnet`` load from local files; return the NLTK data folder used.

    augcli's own steps do not need this (they read the cached index, see ``load_index``); it is
    for code that wants NLTK's reader of the same WordNet, such as the benchmarks' hand loops.

    Order: ``configured`` (a dict folder or an NLTK data folder), NLTK's own data path, then
    Debian's /usr/share/wordnet. A dict folder is copied once into a cache folder as an NLTK
    corpus: NLTK refuses files that resolve outside its data roots, symlinks and hard links too.
    """
    import nltk

    forbid_downloads()
    if configured:
        folder = Path(configured)
        if (folder / "corpora" / "wordnet").is_dir():
            return _use(nltk, folder)
        if (folder / "data.noun").is_file():
            return _use(nltk, _present_as_corpus(folder))
        raise ResourceError(
            f"text.wordnet: {folder} holds neither corpora/wordnet nor WordNet dict files; " + INSTALL_HINT
        )
    try:
        nltk.data.find("corpora/wordnet")
        return ""
    except LookupError:
        pass
    if (DEBIAN_DICT / "data.noun").is_file():
        return _use(nltk, _present_as_corpus(DEBIAN_DICT))
    raise ResourceError("WordNet is not installed; " + INSTALL_HINT)


def _use(nltk, data_dir: Path) -> str:
    if str(data_dir) not in nltk.data.path:
        nltk.data.path.insert(0, str(data_dir))
    return str(data_dir)


def _cache_root() -> Path:
    return cache_dir() / "nltk_data"


def _present_as_corpus(dict_dir: Path) -> Path:
    missing = [name for name in NLTK_FILES if not (dict_dir / name).is_file()]
    if missing:
        raise ResourceError(f"WordNet in {dict_dir} lacks {', '.join(missing)}; " + INSTALL_HINT)
    root = _cache_root()
    corpus = root / "corpora" / "wordnet"
    stamp = "\n".join(f"{n} {(dict_dir / n).stat().st_size} {(dict_dir / n).stat().st_mtime_ns}" for n in NLTK_FILES)
    if (corpus / "SOURCE").is_file() and (corpus / "SOURCE").read_text() == f"{dict_dir}\n{stamp}":
        return root
    # Build beside it and rename into place, so parallel workers never see half a corpus.
    (root / "corpora").mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root / "corpora", prefix=".wordnet-"))
    for name in NLTK_FILES:
        shutil.copyfile(dict_dir / name, staging / name)
    (staging / "lexnames").write_text(
        "".join(f"{i:02d}\t{name}\t{_SYNTACTIC_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES))
    )
    (staging / "SOURCE").write_text(f"{dict_dir}\n{stamp}")
    if corpus.exists():
        shutil.rmtree(corpus, ignore_errors=True)
    try:
        os.replace(staging, corpus)
    except OSError:  # another process got there first
        shutil.rmtree(staging, ignore_errors=True)
    return root
