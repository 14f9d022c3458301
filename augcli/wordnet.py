"""WordNet from local files only: NLTK's data path, or Debian's wordnet-base presented to NLTK."""

from __future__ import annotations

import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

from augcli.errors import AugcliError

DEBIAN_DICT = Path("/usr/share/wordnet")
INSTALL_HINT = (
    "install it with 'apt-get install wordnet-base wordnet-sense-index' (Debian/Ubuntu), or set "
    "text.wordnet to a WordNet 3.0 dict folder (data.noun, index.sense, ...) or to an NLTK data "
    "folder holding corpora/wordnet"
)
# The lexicographer files of WordNet 3.0, in file-number order (lexnames(5WN)); NLTK reads them
# from a 'lexnames' file that Debian's packages do not ship.
LEXNAMES = [
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
]
_SYNTACTIC_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
DICT_FILES = (
    "data.adj",
    "data.adv",
    "data.noun",
    "data.verb",
    "index.adj",
    "index.adv",
    "index.noun",
    "index.verb",
    "adj.exc",
    "adv.exc",
    "noun.exc",
    "verb.exc",
    "index.sense",
    "cntlist.rev",
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


@cache
def ensure_wordnet(configured: str | None = None) -> str:
    """Make ``nltk.corpus.wordnet`` load from local files; return the NLTK data folder used.

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
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "augcli" / "nltk_data"


def _present_as_corpus(dict_dir: Path) -> Path:
    missing = [name for name in DICT_FILES if not (dict_dir / name).is_file()]
    if missing:
        raise ResourceError(f"WordNet in {dict_dir} lacks {', '.join(missing)}; " + INSTALL_HINT)
    root = _cache_root()
    corpus = root / "corpora" / "wordnet"
    stamp = "\n".join(f"{n} {(dict_dir / n).stat().st_size} {(dict_dir / n).stat().st_mtime_ns}" for n in DICT_FILES)
    if (corpus / "SOURCE").is_file() and (corpus / "SOURCE").read_text() == f"{dict_dir}\n{stamp}":
        return root
    # Build beside it and rename into place, so parallel workers never see half a corpus.
    (root / "corpora").mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root / "corpora", prefix=".wordnet-"))
    for name in DICT_FILES:
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
