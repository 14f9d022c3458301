"""Text with nlpaug and EDA: build a pipeline from config; read .txt/CSV/TSV/JSONL; apply with record.

Word-level and character-level steps edit the original string in place: a step sees the text's
tokens (text_tokens), nlpaug (or EDA) decides what to change among the tokens it may change, and
the changes are spliced into the original by character span, so spaces, line breaks, quotes and
punctuation outside a changed word stay as they were.
"""

from __future__ import annotations

import codecs
import csv
import importlib
import importlib.util
import inspect
import io
import itertools
import json
import os
import random
import re
from collections import Counter
from functools import cache, lru_cache
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # model-based augmenters load local folders only
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from augcli.errors import ConfigError, ItemError, Problem, errors_in, read_failure
from augcli.modalities import eda
from augcli.modalities import steps as steps_
from augcli.modalities import text_tokens as tt
from augcli.modalities.text_lexicon import Lexicon, SynonymOptions, allowed_pos, case_pattern, match_case
from augcli.naming import is_table
from augcli.samples import TextSample, pick_samples
from augcli.seeding import SeedBlocks, item_seed, seed_globals
from augcli.tables import check_length, decode_text, delimiter_of, label_of, read_delimited, read_jsonl, table_samples

NLPAUG_STEPS = {  # step name -> nlpaug module
    "SynonymAug": "word", "AntonymAug": "word", "RandomWordAug": "word", "SplitAug": "word",
    "SpellingAug": "word", "ContextualWordEmbsAug": "word", "BackTranslationAug": "word",
    "KeyboardAug": "char", "OcrAug": "char", "RandomCharAug": "char", "RandomSentAug": "sentence",
}
SPAN_FAMILY = {  # nlpaug steps that edit word spans in place -> which tokens they may choose
    "SynonymAug": "lexical", "AntonymAug": "lexical", "RandomWordAug": "move", "SplitAug": "split",
    "SpellingAug": "spelling", "KeyboardAug": "char", "OcrAug": "char", "RandomCharAug": "char",
}
EDA_STEPS = {  # step name -> its parameters and defaults
    "EDA": {"alpha_sr": 0.1, "alpha_ri": 0.1, "alpha_rs": 0.1, "p_rd": 0.1},
    "SynonymReplacement": {"alpha": 0.1},
    "RandomInsertion": {"alpha": 0.1},
    "RandomSwap": {"alpha": 0.1},
    "RandomDeletion": {"p": 0.1},
}
COMPOSITIONS = {"Sequential": {}, "Sometimes": {"aug_p": 0.5}, "OneOf": {"p": 1.0}}
WORDNET_STEPS = {"SynonymAug", "AntonymAug", "EDA", "SynonymReplacement", "RandomInsertion"}
PATH_PARAMS = {"SpellingAug": ("dict_path",), "ContextualWordEmbsAug": ("model_path",),
               "BackTranslationAug": ("from_model_name", "to_model_name")}
MODEL_STEPS = {"ContextualWordEmbsAug", "BackTranslationAug"}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def step_names() -> list[str]:
    return sorted([*NLPAUG_STEPS, *EDA_STEPS, *COMPOSITIONS])


# ---------------------------------------------------------------- pipeline nodes


class _Context:
    """What every step of one pipeline shares: the protected patterns and the synonym lexicon."""

    def __init__(self, protect: list[str], lexicon: Lexicon):
        self.protect = [re.compile(p) for p in protect]
        self.lexicon = lexicon
        self.allowed: dict[int, str] = {}

    def protected(self, text: str) -> Counter:
        return Counter(m.group(0) for rx in self.protect for m in rx.finditer(text))

    def keeps_protected(self, before: str, after: str) -> bool:
        if not self.protect:
            return True
        need, have = self.protected(before), self.protected(after)
        return all(have[k] >= v for k, v in need.items())

    def candidates(self, text: str, family: str) -> list[tt.Token]:
        """Tokens a step of ``family`` may change. Dictionary steps also leave ALL-CAPS words and
        capitalised words inside a sentence alone (names), unless text.synonyms says otherwise."""
        spans = [m.span() for rx in self.protect for m in rx.finditer(text) if m.end() > m.start()]
        tokens = tt.tokenize(text)
        found = tt.candidates(text, tokens, family, spans)
        if family == "lexical":
            options = self.lexicon.options
            found = [t for t in found if self.lexicon.changeable_case(t.text)
                     and (options.names or case_pattern(t.text) != "title" or tt.sentence_initial(text, t))]
            previous = {b.start: a for a, b in itertools.pairwise(tokens)}
            self.allowed = {t.start: allowed_pos(_word_or_none(previous.get(t.start))) for t in found}
        return found

    def allowed_for(self, token: tt.Token) -> str:
        """Parts of speech the word before ``token`` leaves it (after ``candidates(..., 'lexical')``)."""
        return self.allowed.get(token.start, "nvar")


def _word_or_none(token: tt.Token | None) -> str | None:
    return token.text if token is not None and token.kind != "punct" else None


def _change(action: str, token: tt.Token, new: str | None = None, **extra: Any) -> dict:
    """One recorded change: what, where in the step's input (character offsets), from and to."""
    change: dict[str, Any] = {"action": action, "from": token.text}
    if new is not None:
        change["to"] = new
    return {**change, "start": token.start, "end": token.end, **extra}


class _SpanNlpaug:
    """An nlpaug word/char augmenter run on the tokens a step may change; its changes spliced in.

    nlpaug gets those tokens joined by single spaces (so its own tokenizer and change log line up
    one to one with them) and decides what to change with its own sampling; its change log says
    which token became what, and the edit is made on the original string by the token's span.
    """

    def __init__(self, name: str, augmenter: Any, ctx: _Context, family: str):
        self.name, self.augmenter, self.ctx, self.family = name, augmenter, ctx, family

    def apply(self, text: str) -> tuple[str, list[dict]]:
        tokens = self.ctx.candidates(text, self.family)
        if not tokens:
            return text, [{"name": self.name, "params": {"changes": []}}]
        starts, at = {}, 0
        for i, token in enumerate(tokens):
            starts[at] = i
            at += len(token.text) + 1
        if self.family == "lexical":  # what the word before each token allows it to be
            self.augmenter.model.allowed = [self.ctx.allowed_for(t) for t in tokens]
        try:
            result = self.augmenter.augment(" ".join(t.text for t in tokens))
        except ValueError:
            if getattr(self.augmenter, "action", None) != "crop":
                raise
            # nlpaug's crop samples from an empty range when it would crop one word rightwards
            return text, [{"name": self.name, "params": {"changes": [], "skipped": "nlpaug cannot crop one word"}}]
        first = result[0] if isinstance(result, list) and result else None
        logs = first[1] if isinstance(first, tuple) else []
        edits, deleted, changes = [], [], []
        for log in logs:
            i = starts.get(log["orig_start_pos"])
            if i is None or log["action"] == "align":  # nlpaug re-casing a neighbour: not an edit
                continue
            token, new = tokens[i], log["new_token"]
            if new == token.text or (not new and self.family == "char"):
                continue
            if not new:
                deleted.append(token)
                changes.append(_change("delete", token))
                continue
            parts = new.split(" ") if self.family == "lexical" and self.ctx.lexicon.options.multiword else [new]
            if log["action"] != "split" and not all(_one_word(part) for part in parts):
                continue  # "thing'" (a dictionary's misspelling), "Odnt'" (a char swap): reads as split
            if log["action"] == "split":  # the log holds the second part; the first is what precedes it
                head = token.text[: len(token.text) - len(new)]
                if not head or not token.text.endswith(new):
                    continue
                new = f"{head} {new}"
            extra = {}
            if self.family == "lexical":
                new = match_case(token.text, new)
                extra["pos"] = self.ctx.lexicon.tag(token.text, self.ctx.allowed_for(token))
            edits.append(tt.substitution(token, new))
            if self.family == "char":  # characters changed inside one word: nlpaug's action says how
                changes.append(_change("chars", token, new, op=log["action"]))
            else:
                changes.append(_change(log["action"], token, new, **extra))
        edits += tt.deletions(text, deleted)
        out = tt.splice(text, edits)
        if not self.ctx.keeps_protected(text, out):
            return text, [{"name": self.name, "params": {"reverted": "it changed protected text"}}]
        return out, [{"name": self.name, "params": {"changes": sorted(changes, key=lambda c: c["start"])}}]


@lru_cache(maxsize=4096)  # the words a dictionary or a typo gives: they repeat
def _one_word(new: str) -> bool:
    tokens = tt.tokenize(new)
    return len(tokens) == 1 and tokens[0].kind != "punct" and len(tokens[0].text) == len(new)


class _Nlpaug:
    """Sentence- and model-level nlpaug augmenters: the whole text in, the library's text out."""

    def __init__(self, name: str, augmenter: Any, ctx: _Context):
        self.name, self.augmenter, self.ctx = name, augmenter, ctx

    def apply(self, text: str) -> tuple[str, list[dict]]:
        if not text.strip():
            return text, []
        result = self.augmenter.augment(text)
        first = result[0] if isinstance(result, list) and result else text
        out, changes = first if isinstance(first, tuple) else (first, None)
        if not self.ctx.keeps_protected(text, out):
            return text, [{"name": self.name, "params": {"reverted": "it changed protected text"}}]
        params = {"changes": changes} if changes is not None else {"changed": out != text}
        return out, [{"name": self.name, "params": params}]


class _Eda:
    def __init__(self, name: str, params: dict, ctx: _Context):
        self.name, self.params, self.ctx = name, params, ctx

    def apply(self, text: str) -> tuple[str, list[dict]]:
        words = self.ctx.candidates(text, "move")
        if not words:
            return text, []
        name, params = self.name, self.params
        if name == "EDA":  # one of the four operations, as in the paper's generator
            choices = [(op, value) for op, value in (("SynonymReplacement", params["alpha_sr"]),
                                                     ("RandomInsertion", params["alpha_ri"]),
                                                     ("RandomSwap", params["alpha_rs"]),
                                                     ("RandomDeletion", params["p_rd"])) if value > 0]
            if not choices:
                return text, []
            name, value = random.choice(choices)
            params = {"p" if name == "RandomDeletion" else "alpha": value}
        lexicon = self.ctx.lexicon
        edits, changes = [], []
        if name in ("SynonymReplacement", "RandomInsertion"):
            sources = [t for t in self.ctx.candidates(text, "lexical") if t.text.lower() not in eda.STOPWORDS]
            allowed = [self.ctx.allowed_for(t) for t in sources]
            n = eda.count_for(params["alpha"], len(words))

            def synonyms(i: int) -> tuple[str, ...]:
                return lexicon.synonyms(sources[i].text, allowed[i])

            if name == "SynonymReplacement":
                for i, new in eda.synonym_replacement([t.text for t in sources], n, synonyms):
                    edits.append(tt.substitution(sources[i], new))
                    changes.append(_change("substitute", sources[i], new, pos=lexicon.tag(sources[i].text, allowed[i])))
            else:
                # gaps before each word and after the last, but not before a sentence's first word
                gaps = [g for g, w in enumerate(words) if not tt.sentence_initial(text, w)] + [len(words)]
                for slot, i, new in eda.random_insertion(len(sources), len(gaps), n, synonyms):
                    gap = gaps[slot]
                    if case_pattern(sources[i].text) == "title":
                        new = new[:1].lower() + new[1:]  # a synonym of a sentence's first word goes anywhere
                    at = words[gap] if gap < len(words) else words[-1]
                    edits.append(tt.insertion_before(at, new) if gap < len(words) else tt.insertion_after(at, new))
                    where = at.start if gap < len(words) else at.end
                    changes.append({"action": "insert", "to": new, "start": where, "end": where,
                                    "inserted": edits[-1].new,
                                    "synonym_of": sources[i].text, "source_start": sources[i].start,
                                    "pos": lexicon.tag(sources[i].text, allowed[i])})
        elif name == "RandomSwap":
            order = eda.random_swap(len(words), eda.count_for(params["alpha"], len(words)))
            for i, j in enumerate(order):
                if j != i and words[j].text != words[i].text:
                    edits.append(tt.substitution(words[i], words[j].text))
                    changes.append(_change("swap", words[i], words[j].text))
        else:
            gone = [words[i] for i in eda.random_deletion(len(words), params["p"])]
            edits += tt.deletions(text, gone)
            changes += [_change("delete", t) for t in gone]
        if not edits:  # nothing done: keep the text as it was
            return text, [{"name": name, "params": {**params, "changes": []}}]
        result = tt.splice(text, edits)
        if not self.ctx.keeps_protected(text, result):  # a protected phrase spans tokens
            return text, [{"name": name, "params": {**params, "reverted": "it changed protected text"}}]
        return result, [{"name": name, "params": {**params, "changes": sorted(changes, key=lambda c: c["start"])}}]


class _Sequential:
    def __init__(self, children: list):
        self.children = children

    def apply(self, text: str) -> tuple[str, list[dict]]:
        applied: list[dict] = []
        for child in self.children:
            text, steps = child.apply(text)
            applied += steps
        return text, applied


class _Sometimes(_Sequential):
    """Each child with probability ``aug_p``, in order (nlpaug's Sometimes)."""

    def __init__(self, children: list, aug_p: float):
        super().__init__(children)
        self.aug_p = aug_p

    def apply(self, text: str) -> tuple[str, list[dict]]:
        applied: list[dict] = []
        for child in self.children:
            if random.random() < self.aug_p:
                text, steps = child.apply(text)
                applied += steps
        return text, applied


class _OneOf(_Sequential):
    """With probability ``p``, one child chosen uniformly."""

    def __init__(self, children: list, p: float):
        super().__init__(children)
        self.p = p

    def apply(self, text: str) -> tuple[str, list[dict]]:
        if not self.children or random.random() >= self.p:
            return text, []
        return random.choice(self.children).apply(text)


# ---------------------------------------------------------------- building from config


def check_section(section: dict, base: Any, path: str) -> list[Problem]:
    """Problems in the raw ``text`` section beyond its schema: encoding, protect, pipeline, resources."""
    problems = []
    try:
        codecs.lookup(str(section.get("encoding", "utf-8")))
    except LookupError:
        problems.append(Problem(f"{path}.encoding", f"unknown encoding '{section.get('encoding')}'"))
    for i, pattern in enumerate(section.get("protect") or []):
        try:
            re.compile(str(pattern))
        except re.error as exc:
            problems.append(Problem(f"{path}.protect[{i}]", f"not a valid regular expression: {exc}"))
    if problems:
        return problems
    section = dict(section)
    if section.get("wordnet"):
        section["wordnet"] = str((base / str(section["wordnet"])).resolve())
    _build(_resolve_step_paths(section["pipeline"], base), f"{path}.pipeline", problems, section)
    return problems


def resolve_paths(section: Any, base: Any) -> Any:
    """The section with paths in step parameters made absolute (relative ones are to the config)."""
    update = {"pipeline": _resolve_step_paths(section.pipeline, base)}
    if section.wordnet is not None:
        update["wordnet"] = (base / section.wordnet).resolve()
    return section.model_copy(update=update)


def _resolve_step_paths(steps: Any, base: Any) -> Any:
    return steps_.resolve_step_paths(steps, base, PATH_PARAMS)


@lru_cache(maxsize=4)
def _cached(section_json: str) -> _Sequential:
    section = json.loads(section_json)
    problems: list[Problem] = []
    root = _build(section["pipeline"], "text.pipeline", problems, section)
    if errors_in(problems):
        raise ConfigError(errors_in(problems))
    return root


def pipeline_for(section: Any) -> _Sequential:
    """The text pipeline for a config section, built once per process."""
    plain = section.model_dump(mode="json") if hasattr(section, "model_dump") else section
    return _cached(json.dumps(plain, sort_keys=True, default=str))


def synonym_options(section: dict) -> SynonymOptions:
    raw = section.get("synonyms") or {}
    known = SynonymOptions.__dataclass_fields__
    return SynonymOptions(**{k: v for k, v in raw.items() if k in known}) if isinstance(raw, dict) else SynonymOptions()


def _build(steps: Any, path: str, problems: list[Problem], section: dict) -> _Sequential:
    wordnet = str(section["wordnet"]) if section.get("wordnet") else None
    ctx = _Context([str(p) for p in section.get("protect") or []], Lexicon(wordnet, synonym_options(section)))
    return _Sequential(_build_list(steps, path, problems, section, ctx))


def _build_list(steps: Any, path: str, problems: list[Problem], section: dict, ctx: _Context) -> list:
    return steps_.build_list(steps, path, problems,
                             lambda step, where: _build_step(step, where, problems, section, ctx),
                             "[{RandomWordAug: {action: swap}}]")


def _build_step(step: Any, path: str, problems: list[Problem], section: dict, ctx: _Context) -> Any:
    parsed = steps_.parse_step(step, path, problems, modality="text", kind="augmenter", known=step_names(),
                               example="- RandomWordAug: {action: swap}")
    if parsed is None:
        return None
    name, params = parsed
    where = f"{path}.{name}"
    if name in COMPOSITIONS:
        return _build_composition(name, params, where, problems, section, ctx)
    if name in EDA_STEPS:
        return _build_eda(name, params, where, problems, section, ctx)
    return _build_nlpaug(name, params, where, problems, section, ctx)


def _build_composition(name, params, where, problems, section, ctx):
    accepted = ["transforms", *COMPOSITIONS[name]]
    if not steps_.known_params(name, params, accepted, where, problems):
        return None
    if "transforms" not in params:
        problems.append(Problem(where, f"{name} needs 'transforms: [...]', a list of steps"))
        return None
    children = _build_list(params["transforms"], f"{where}.transforms", problems, section, ctx)
    chance = params.get("aug_p", params.get("p", 1.0))
    if not isinstance(chance, (int, float)) or not 0 <= chance <= 1:
        problems.append(Problem(f"{where}.{'aug_p' if name == 'Sometimes' else 'p'}", "must be a number in [0, 1]"))
        return None
    if name == "Sometimes":
        return _Sometimes(children, float(chance))
    if name == "OneOf":
        return _OneOf(children, float(chance))
    return _Sequential(children)


def _build_eda(name, params, where, problems, section, ctx):
    defaults = EDA_STEPS[name]
    if not steps_.known_params(name, params, list(defaults), where, problems):
        return None
    merged = {**defaults, **params}
    for key, value in merged.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
            problems.append(Problem(f"{where}.{key}", f"must be a number in [0, 1], not {value!r}"))
            return None
    if name in WORDNET_STEPS and not _check_wordnet(section, where, problems):
        return None
    return _Eda(name, merged, ctx)


@cache
def _offline(cls: type) -> type:
    """``cls`` (SynonymAug, AntonymAug) without its NLTK WordNet model, which takes seconds to load
    per process: augcli's lexicon (from the cached WordNet index) is set as its model instead."""
    return type(cls.__name__, (cls,), {"get_model": classmethod(lambda c, *args, **kwargs: None)})


class _LexiconModel:
    """Stands in for nlpaug's WordNet model: POS tags and candidates from augcli's lexicon. A token
    without a fitting replacement is tagged 'DT', which nlpaug's own selection skips."""

    def __init__(self, lexicon: Lexicon, antonyms: bool):
        self.lexicon, self.antonyms = lexicon, antonyms
        self.allowed: list[str] = []  # per token: the parts of speech its left neighbour allows

    def _candidates(self, word: str, allowed: str) -> tuple[str, ...]:
        return self.lexicon.antonyms(word, allowed) if self.antonyms else self.lexicon.synonyms(word, allowed)

    def pos_tag(self, tokens: list[str]) -> list[tuple[str, str]]:
        allowed = self.allowed if len(self.allowed) == len(tokens) else ["nvar"] * len(tokens)
        return [(t, self.lexicon.tag(t, a) if self._candidates(t, a) else "DT")
                for t, a in zip(tokens, allowed, strict=True)]

    def predict(self, word: str, pos: Any = None) -> list[str]:
        if pos == "s":  # nlpaug asks for adjectives twice (a, then satellites s): answer once
            return []
        # the Penn tag pos_tag gave names the part of speech; nlpaug re-cases, augcli restores the pattern
        return [c.lower() for c in self._candidates(word, pos if pos in ("n", "v", "a", "r") else "nvar")]


def _build_nlpaug(name, params, where, problems, section, ctx):
    module = importlib.import_module(f"nlpaug.augmenter.{NLPAUG_STEPS[name]}")
    cls = getattr(module, name)
    accepted = steps_.signature_params(cls)
    if not steps_.known_params(name, params, accepted, where, problems):
        return None
    if not steps_.check_probabilities(params, where, problems):
        return None
    if name in MODEL_STEPS and not _check_model_step(name, params, where, problems):
        return None
    for key in PATH_PARAMS.get(name, ()):
        if key in params and not os.path.exists(str(params[key])):
            problems.append(Problem(f"{where}.{key}", f"{params[key]} does not exist"))
            return None
    if name in WORDNET_STEPS:
        if params.get("aug_src", "wordnet") != "wordnet":
            problems.append(Problem(f"{where}.aug_src", "only 'wordnet' is available offline"))
            return None
        if not _check_wordnet(section, where, problems):
            return None
        cls = _offline(cls)
    if name in SPAN_FAMILY and ("tokenizer" in params or "reverse_tokenizer" in params):
        problems.append(Problem(where, "augcli tokenizes the text itself (words are edited in place)"))
        return None
    if ctx.protect and name not in SPAN_FAMILY and "stopwords_regex" in accepted:
        patterns = [p.pattern for p in ctx.protect] + ([params["stopwords_regex"]] if params.get("stopwords_regex")
                                                       else [])
        params["stopwords_regex"] = "|".join(f"(?:{p})" for p in patterns)
    if name == "RandomSentAug":
        params.setdefault("tokenizer", _split_sentences)
    if name in SPAN_FAMILY:
        params["tokenizer"] = _split_joined  # the text nlpaug gets is the candidate tokens joined by spaces
        params["reverse_tokenizer"] = " ".join
    if name in ("SynonymAug", "AntonymAug") and "stopwords" in accepted:
        # Function words ("a", "can") are not replaced by synonyms, as in EDA.
        params.setdefault("stopwords", sorted(eda.STOPWORDS | {w.capitalize() for w in eda.STOPWORDS}))
    from augcli.wordnet import forbid_downloads

    forbid_downloads()
    try:
        with steps_.library_warnings(where, problems):
            augmenter = cls(**params)
    except Exception as exc:  # the library's own validation speaks (a bare assert: its condition)
        problems.append(Problem(where, steps_.failure_message(exc)))
        return None
    if name in ("SynonymAug", "AntonymAug"):
        augmenter.model = _LexiconModel(ctx.lexicon, antonyms=name == "AntonymAug")
    if name == "SpellingAug":
        # nlpaug keeps candidates as list(set(...)): their order, hence the choice, would depend on
        # the process's hash seed. Sorted, the same seed picks the same misspelling in every process.
        for key in augmenter.model.dict:
            augmenter.model.dict[key] = sorted(augmenter.model.dict[key])
    augmenter.include_detail = True  # returns the change log the edits are made from
    if name in SPAN_FAMILY:
        return _SpanNlpaug(name, augmenter, ctx, SPAN_FAMILY[name])
    return _Nlpaug(name, augmenter, ctx)


def _split_joined(text: str) -> list[str]:
    return text.split(" ")


def _check_model_step(name: str, params: dict, where: str, problems: list[Problem]) -> bool:
    if not (importlib.util.find_spec("torch") and importlib.util.find_spec("transformers")):
        problems.append(Problem(where, f"{name} needs PyTorch and transformers: pip install 'augcli[models]'"))
        return False
    for key in PATH_PARAMS[name]:
        if key not in params:
            problems.append(Problem(f"{where}.{key}", "required: a local model folder (models are never downloaded)"))
            return False
        if not os.path.isdir(str(params[key])):
            problems.append(Problem(f"{where}.{key}", f"{params[key]} is not a local model folder; "
                                                      "augcli never downloads models"))
            return False
    return True


def _split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s]


def _check_wordnet(section: dict, where: str, problems: list[Problem]) -> bool:
    """WordNet's files are there and indexed (built into the user cache once); not loaded here."""
    from augcli.wordnet import ResourceError, find_wordnet, index_path

    try:
        files = find_wordnet(str(section["wordnet"]) if section.get("wordnet") else None)
    except ResourceError as exc:
        problems.append(Problem(where, str(exc)))
        return False
    try:
        index_path(files)  # built once here rather than by every worker at once
    except OSError:
        pass  # an unwritable cache: each process builds the index in memory
    except (ValueError, KeyError, IndexError, UnicodeDecodeError) as exc:
        problems.append(Problem(where, f"cannot read WordNet in {files.zip_path or files.folder}: {exc}"))
        return False
    return True


def synonyms(word: str, wordnet: str | None = None, options: SynonymOptions | None = None) -> list[str]:
    """Replacements that fit ``word`` (a surface form), best first, inflected and cased like it."""
    return list(_lexicon(wordnet, options or SynonymOptions()).synonyms(word))


@lru_cache(maxsize=8)
def _lexicon(wordnet: str | None, options: SynonymOptions) -> Lexicon:
    return Lexicon(wordnet, options)


def augment(pipeline: _Sequential, text: str, seed: int) -> tuple[str, list[dict]]:
    """Apply the pipeline with this sample's seed. nlpaug and EDA draw from the globals seeded here."""
    seed_globals(seed)
    return pipeline.apply(text)

# ---------------------------------------------------------------- reading and writing


def _encode(text: str, encoding: str, bom: bool) -> bytes:
    return (codecs.BOM_UTF8 if bom else b"") + text.encode(encoding)


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def process(task: Any, config: Any, rows: list, fragments: list | None = None) -> int:
    """Worker: read a text source once and write its outputs; append a ManifestRow per sample."""
    from augcli.io import sha256

    item, section = task.item, config.text
    with open(os.path.join(config.input, item.relpath), "rb") as f:
        data = f.read()
    source_hash = sha256(data)
    if not task.outputs:  # a copied split: bytes unchanged
        return _place_original(task, config, data, source_hash, rows)
    text, bom = decode_text(data, section.encoding)
    pipeline = pipeline_for(section)
    if is_table(item.relpath):
        return _process_table(task, config, pipeline, text, bom, source_hash, rows)
    if section.unit == "line":
        return _process_lines(task, config, pipeline, text, bom, data, source_hash, rows)
    return _process_file(task, config, pipeline, text, bom, data, source_hash, rows)


def planned_files(task: Any, config: Any) -> tuple[int, list[str]]:
    """What ``process`` writes for this task (``drop_unchanged`` may leave copies out): the original and each
    output file; a table made in ranges is one file, counted by its first range."""
    return len({*task.outputs, *([task.original] if task.original else [])}) if task.first else 0, []


def _row(task, output, copy, seed, steps, digest, source_hash, **extra):
    from augcli.manifest import ManifestRow

    # steps are plain JSON already (nlpaug's change logs and EDA's records hold str, int, float)
    item = task.item
    return ManifestRow(item.relpath, output, "text", copy, seed, steps, digest, source_hash,
                       extra.pop("label", item.label), item.split, extra)


def _place_original(task, config, data, source_hash, rows) -> int:
    from augcli.io import write_atomic

    if task.original:
        write_atomic(os.path.join(config.output, task.original), data)
        rows.append(_row(task, task.original, None, None, [], source_hash, source_hash))
    return 0


def _process_file(task, config, pipeline, text, bom, data, source_hash, rows) -> int:
    from augcli.io import sha256, write_atomic

    check_length(text, config.text.max_chars, "the file")
    _place_original(task, config, data, source_hash, rows)
    dropped = 0
    for copy, (output, seed) in enumerate(zip(task.outputs, task.seeds, strict=True)):
        out, steps = augment(pipeline, text, seed)
        if config.text.drop_unchanged and out == text:
            dropped += 1
            continue
        blob = _encode(out, config.text.encoding, bom)
        write_atomic(os.path.join(config.output, output), blob)
        rows.append(_row(task, output, copy, seed, steps, sha256(blob), source_hash))
    return dropped


def _process_lines(task, config, pipeline, text, bom, data, source_hash, rows) -> int:
    """Each non-empty line is a sample; a copy keeps the file's lines in order, blank lines as they are."""
    from augcli.io import sha256, write_atomic

    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        check_length(line.rstrip("\r\n"), config.text.max_chars, f"line {number}")
    _place_original(task, config, data, source_hash, rows)
    dropped = 0
    seed_of = SeedBlocks(config.seed, lambda number: f"{task.item.relpath}:{number}", len(task.outputs), len(lines))
    for copy, output in enumerate(task.outputs):
        new_lines, line_rows = [], []
        for number, line in enumerate(lines):
            body = line.rstrip("\r\n")
            if not body.strip():
                new_lines.append(line)
                continue
            seed = seed_of(number, copy)
            out, steps = augment(pipeline, body, seed)
            new_lines.append(out + line[len(body) :])
            line_rows.append((number, seed, steps, out))
        if config.text.drop_unchanged and "".join(new_lines) == text:
            dropped += 1
            continue
        blob = _encode("".join(new_lines), config.text.encoding, bom)
        write_atomic(os.path.join(config.output, output), blob)
        rows += [_row(task, output, copy, seed, steps, sha256(out.encode()), source_hash, line=number)
                 for number, seed, steps, out in line_rows]
        if not line_rows:  # empty or blank lines only: the file is written, so it is listed
            rows.append(_row(task, output, copy, task.seeds[copy], [], sha256(blob), source_hash, samples=0))
    return dropped


def _process_table(task, config, pipeline, text, bom, source_hash, rows) -> int:
    """CSV/TSV/JSONL: one output table with, per source row, the original (if kept) then its copies.

    A task with ``rows`` makes one range of them into a part file (the first range with the
    byte-order mark and the header); job.py joins the parts in order into the table."""
    from augcli.io import sha256, write_atomic

    table = _parsed_table(task.item.relpath, config, text, source_hash)
    start, stop = task.rows or (0, None)
    stop = len(table.records) if stop is None else min(stop, len(table.records))
    # the output row of this range's first row, when no row can be dropped (else job.py adds it)
    offset = 0 if config.text.drop_unchanged else start * config.keep_originals + sum(table.copies[:start])
    out_records, dropped = _table_rows(task, config, pipeline, table, start, stop, offset, source_hash, rows)
    head = start == 0
    body = _table_text(table, out_records, header=head)
    blob = _encode(body, config.text.encoding, bom and head)
    if task.rows is not None:
        from augcli.tables import part_name

        write_atomic(os.path.join(config.output, part_name(task.outputs[0], start)), blob)
        return dropped
    write_atomic(os.path.join(config.output, task.outputs[0]), blob)
    if not out_records:  # a header-only or empty table (or every row dropped): listed as a file
        rows.append(_row(task, task.outputs[0], 0, None, [], sha256(blob), source_hash, samples=0))
    return dropped


class _Table:
    """A source table as read once per worker process: every range task of it shares this."""

    def __init__(self, relpath: str, config: Any, text: str):
        from augcli.balance import table_copies

        self.is_jsonl = relpath.lower().endswith(".jsonl")
        if self.is_jsonl:
            self.header, self.records, self.key = read_jsonl(text, config.text.field, config.text.max_chars)
        else:
            self.header, self.records, self.key = read_delimited(text, relpath, config.text.column,
                                                                 config.text.max_chars)
        self.delimiter = delimiter_of(relpath)
        self.newline = _newline(text)
        labels = [label_of(r, self.header, self.key, None) for r in self.records]
        self.copies = table_copies(config, relpath, labels)  # balance: copies per row, from every row's label


_last_table: dict[tuple, _Table] = {}


def _parsed_table(relpath: str, config: Any, text: str, source_hash: str) -> _Table:
    key = (relpath, source_hash, str(config.input), config.text.column, config.text.field, config.copies,
           repr(config.balance), config.seed)
    if key not in _last_table:
        _last_table.clear()  # one table at a time: a worker holds its source, never a run's worth of them
        _last_table[key] = _Table(relpath, config, text)
    return _last_table[key]


def _table_rows(task, config, pipeline, table, start, stop, offset, source_hash, rows) -> tuple[list, int]:
    from augcli.io import sha256

    relpath, section, key = task.item.relpath, config.text, table.key
    out_records: list[Any] = []
    dropped = 0
    seed_of = SeedBlocks(config.seed, lambda row: f"{relpath}#{row}", max(table.copies[start:stop], default=0),
                         stop)
    for source_row in range(start, stop):
        record = table.records[source_row]
        original = record[key] if isinstance(record[key], str) else ("" if record[key] is None else str(record[key]))
        label = label_of(record, table.header, key, task.item.label)
        if config.keep_originals:
            rows.append(_row(task, task.outputs[0], None, None, [], sha256(original.encode()), source_hash,
                             label=label, source_row=source_row, row=offset + len(out_records)))
            out_records.append(_tagged(record, key, original, source_row, None, table.is_jsonl))
        for copy in range(table.copies[source_row]):
            seed = seed_of(source_row, copy)
            out, steps = augment(pipeline, original, seed)
            if section.drop_unchanged and out == original:
                dropped += 1
                continue
            rows.append(_row(task, task.outputs[0], copy, seed, steps, sha256(out.encode()), source_hash,
                             label=label, source_row=source_row, row=offset + len(out_records)))
            out_records.append(_tagged(record, key, out, source_row, copy, table.is_jsonl))
    return out_records, dropped


def _table_text(table: _Table, out_records: list, header: bool) -> str:
    if table.is_jsonl:
        return "".join(json.dumps(r, ensure_ascii=False) + table.newline for r in out_records)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=table.delimiter, lineterminator=table.newline)
    if header:
        writer.writerow([*table.header, "aug_source_row", "aug_copy"])
    writer.writerows(out_records)
    return buffer.getvalue()


def table_part_rows(config: Any, task: Any, blob_sha256: str, source_hash: str) -> list[str]:
    """The manifest line of a table that has no rows at all (made in ranges, every row dropped)."""
    return [_row(task, task.outputs[0], 0, None, [], blob_sha256, source_hash, samples=0).to_json()]


def _tagged(record: Any, key: Any, text: str, source_row: int, copy: int | None, is_jsonl: bool) -> Any:
    if is_jsonl:
        return {**record, key: text, "aug_source_row": source_row, "aug_copy": copy}
    cells = list(record)
    cells[key] = text
    return [*cells, source_row, "" if copy is None else copy]


def describe_steps() -> list[dict[str, Any]]:
    """Every step name with its parameters and defaults (nlpaug's read from its signatures)."""
    from augcli.manifest import plain

    described = []
    for name in step_names():
        if name in NLPAUG_STEPS:
            cls = getattr(importlib.import_module(f"nlpaug.augmenter.{NLPAUG_STEPS[name]}"), name)
            params = {p.name: ({"required": True} if p.default is p.empty else {"default": plain(p.default)})
                      for p in inspect.signature(cls.__init__).parameters.values()
                      if p.name not in ("self", "args", "kwargs")}
            summary = f"nlpaug.augmenter.{NLPAUG_STEPS[name]}.{name}"
        else:
            defaults = {**EDA_STEPS, **COMPOSITIONS}[name]
            params = {k: {"default": v} for k, v in defaults.items()}
            if name in COMPOSITIONS:
                params = {"transforms": {"required": True}, **params}
            summary = "augcli composition" if name in COMPOSITIONS else "EDA (Wei & Zou 2019), augcli"
        described.append({"name": name, "composition": name in COMPOSITIONS, "params": params, "summary": summary})
    return described


def preview(config: Any, items: list, n: int, copies: int, failed: list | None = None) -> list[TextSample]:
    """``n`` text samples spread across these ``items`` (files), each augmented as ``run`` would (same
    seeds). A file that gives no samples (not readable, an empty table, no text column...) is appended
    to ``failed`` as (relpath, reason), as ``run`` records it, and the others are shown."""
    pipeline = pipeline_for(config.text)
    per_file: list[list[tuple[str, str, str, str | None]]] = []  # (display, seed key, text, label)
    for item in pick_samples(items, n):
        try:
            with open(os.path.join(config.input, item.relpath), "rb") as f:
                content, _ = decode_text(f.read(), config.text.encoding)
            samples = table_samples(content, item.relpath, config.text) if is_table(item.relpath) else []
            if not is_table(item.relpath):  # the limit run applies (tables are checked as they are read)
                for number, line in enumerate(content.splitlines() if config.text.unit == "line" else [content]):
                    check_length(line, config.text.max_chars,
                                 f"line {number + 1}" if config.text.unit == "line" else "the file")
        except (ItemError, OSError) as exc:
            if failed is not None:
                failed.append((item.relpath, read_failure(exc, str(config.input), item.relpath)
                               if isinstance(exc, OSError) else str(exc)))
            continue
        if is_table(item.relpath):
            units = [(f"{item.relpath} row {i}", f"{item.relpath}#{i}", body, label or item.label)
                     for i, (body, label) in enumerate(samples)]
        elif config.text.unit == "line":
            units = [(f"{item.relpath} line {i}", f"{item.relpath}:{i}", line, item.label)
                     for i, line in enumerate(content.splitlines()) if line.strip()]
        else:
            units = [(item.relpath, item.relpath, content, item.label)]
        per_file.append(units)
    chosen = [units[i] for i in range(max(map(len, per_file), default=0)) for units in per_file if i < len(units)][:n]
    result = []
    for display, key, body, label in chosen:
        sample = TextSample(display, label, body)
        for k in range(copies):
            sample.copies.append(augment(pipeline, body, item_seed(config.seed, key, k)))
        result.append(sample)
    return result


def library_versions() -> dict[str, str]:
    import lemminflect
    import nlpaug
    import nltk

    return {"nlpaug": nlpaug.__version__, "nltk": nltk.__version__, "lemminflect": lemminflect.__version__}
