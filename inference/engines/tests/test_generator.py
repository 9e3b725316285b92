"""The generation engine on the shipped 64 px demo generator: fusion, variation, projection, tiles,
prints and PNG metadata. Real weights, no mocks, no database."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.limits import MAX_ENGINE_SIDE
from inference.engines.generator import ERROR_CODES, GenerationError, GeneratorEngine, coarse_layer_count
from inference.generation.images import (
    IPTC_TRAINED_ALGORITHMIC_MEDIA,
    MAX_PRINT_PIXELS,
    png_bytes,
    print_tile,
    read_png_metadata,
    repeat_preview,
    seam_error,
    upscale,
)

pytestmark = pytest.mark.nodb
WEIGHTS = Path(__file__).resolve().parents[3] / "weights" / "generator-demo-64.safetensors"
MERAK, KEPITING, KEMBANG_KENANGA, PUCUK_REBUNG = 10, 7, 3, 12


@pytest.fixture(scope="module")
def engine():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared two-core machine; a 64 px generator gains nothing from more
    yield GeneratorEngine.load(WEIGHTS)
    torch.set_num_threads(threads)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def mean_abs(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(pixels(a) - pixels(b)).mean())


def layout(image: Image.Image) -> np.ndarray:
    return pixels(image.resize((8, 8), Image.Resampling.BOX))


def test_engine_exposes_the_fourteen_motif_slugs_and_resolution(engine):
    assert engine.resolution == 64 and engine.num_ws == 10
    assert len(engine.class_names) == 14 and engine.class_names[MERAK] == "merak"
    assert engine.class_index("kepiting") == KEPITING
    engine.warm_up()  # every class mean, once; later calls reuse them
    assert engine.class_mean_w(MERAK) is engine.class_mean_w(MERAK)
    with pytest.raises(GenerationError) as error:
        engine.class_index("parang")
    assert error.value.code == "motif_not_generatable"


def text_chunks(result, index: int) -> dict[str, str]:
    """What a caller writes into a result's PNG: mode, seed, inputs and parameters (JSON)."""
    parameters = {key: value for key, value in result.parameters.items() if key != "inputs"}
    return {"mode": str(result.parameters.get("mode", "")), "seed": str(result.seeds[index]),
            "inputs": json.dumps(result.parameters.get("inputs", {}), sort_keys=True),
            "parameters": json.dumps(parameters, sort_keys=True)}


def test_same_seed_gives_the_same_png_bytes_and_another_seed_does_not(engine):
    def run(seed):
        result = engine.fusion([MERAK, KEPITING], weights=(2, 1), seed=seed, count=2, tile=True)
        return [png_bytes(image, text_chunks(result, i)) for i, image in enumerate(result.images)]

    first, again, other = run(42), run(42), run(43)
    assert first == again
    assert first[0] != other[0]


def test_image_i_of_a_run_is_image_0_of_a_run_with_seed_plus_i(engine):
    result = engine.fusion([MERAK, KEPITING], seed=10, count=3)
    assert result.seeds == (10, 11, 12)
    alone = engine.fusion([MERAK, KEPITING], seed=12, count=1)
    assert np.array_equal(pixels(result.images[2]), pixels(alone.images[0]))
    assert result.parameters["seed"] == 10 and result.parameters["count"] == 3


def test_fusion_with_weights_one_and_zero_is_the_first_motif_alone(engine):
    fused = engine.fusion([MERAK, KEPITING], weights=(1, 0), seed=5, count=2)
    alone = engine.sample(MERAK, seed=5, count=2)
    for a, b in zip(fused.images, alone.images):
        assert np.array_equal(pixels(a), pixels(b))
    other_way = engine.fusion([MERAK, KEPITING], weights=(0, 1), seed=5)
    assert np.array_equal(pixels(other_way.images[0]), pixels(engine.sample(KEPITING, seed=5).images[0]))
    assert fused.parameters["inputs"]["weights"] == [1.0, 0.0]


def test_structure_and_detail_come_from_the_named_motifs(engine):
    seeds = range(20, 24)
    nearer_merak = []
    for seed in seeds:
        merak = engine.sample(MERAK, seed=seed).images[0]
        kepiting = engine.sample(KEPITING, seed=seed).images[0]
        blend = engine.fusion([MERAK, KEPITING], seed=seed).images[0]
        mixed = engine.fusion([MERAK, KEPITING], structure_from=MERAK, detail_from=KEPITING, seed=seed).images[0]
        swapped = engine.fusion([MERAK, KEPITING], structure_from=KEPITING, detail_from=MERAK, seed=seed).images[0]
        for other in (merak, kepiting, blend, swapped):
            assert mean_abs(mixed, other) > 1.0
        to_merak, to_kepiting = (np.abs(layout(mixed) - layout(source)).mean() for source in (merak, kepiting))
        nearer_merak.append(to_merak < to_kepiting)
        # Both halves from one motif: the weights no longer matter, it is that motif's own image.
        only_merak = engine.fusion([MERAK, KEPITING], weights=(0, 1), structure_from=MERAK, detail_from=MERAK,
                                   seed=seed).images[0]
        assert np.array_equal(pixels(only_merak), pixels(merak))
    assert sum(nearer_merak) >= 3, "structure_from should decide the layout"
    result = engine.fusion([MERAK, KEPITING, PUCUK_REBUNG], structure_from=PUCUK_REBUNG, seed=1)
    inputs = result.parameters["inputs"]
    assert inputs["motifs"] == ["merak", "kepiting", "pucuk-rebung"]
    assert inputs["structure_from"] == PUCUK_REBUNG and inputs["detail_from"] is None
    assert (inputs["coarse_layers"], inputs["fine_layers"]) == ("0-3", "4-9") and coarse_layer_count(10) == 4


def test_variation_at_distance_zero_is_the_base_and_moves_further_with_distance(engine):
    base = engine.sample(MERAK, seed=100).images[0]
    at_zero = engine.variation(MERAK, base_seed=100, distance=0, seed=0, count=2)
    for image in at_zero.images:
        assert np.array_equal(pixels(image), pixels(base))
    differences = []
    for distance in (0.1, 0.4, 0.8):
        result = engine.variation(MERAK, base_seed=100, distance=distance, seed=0, count=4)
        differences.append(np.mean([mean_abs(image, base) for image in result.images]))
    assert 0 < differences[0] < differences[1] < differences[2]
    at_one = engine.variation(MERAK, base_seed=100, distance=1, seed=3)
    assert np.array_equal(pixels(at_one.images[0]), pixels(engine.sample(MERAK, seed=3).images[0]))
    # Without a base seed the base is the class's mean w: at distance 0 every image is that one.
    typical = engine.variation(KEPITING, distance=0, seed=7, count=2)
    assert np.array_equal(pixels(typical.images[0]), pixels(typical.images[1]))
    assert typical.parameters["inputs"]["base"] == "class_mean"


def test_tiled_images_have_no_seam_and_plain_ones_do(engine):
    tiled, plain = [], []
    for class_index in (MERAK, KEPITING, KEMBANG_KENANGA):
        tiled += [seam_error(image) for image in engine.sample(class_index, seed=0, count=3, tile=True).images]
        plain += [seam_error(image) for image in engine.sample(class_index, seed=0, count=3, tile=False).images]
    print(f"seam error: tiled {np.mean(tiled):.2f}, plain {np.mean(plain):.2f}")
    assert np.mean(tiled) < 1.2
    assert np.mean(plain) > 1.8 * np.mean(tiled)
    # Upscaling wraps around the borders too, so a tile stays a tile.
    tile = engine.sample(MERAK, seed=0, tile=True).images[0]
    big = engine.sample(MERAK, seed=0, tile=True, upscale=4).images[0]
    cut = tile.resize((256, 256), Image.Resampling.LANCZOS)  # a resize that ignores the wrap
    assert big.size == (256, 256)
    assert seam_error(big) < 1.5 and seam_error(big) < 0.5 * seam_error(cut)


@pytest.mark.parametrize("factor", [1, 2, 4, 8])
def test_upscale_multiplies_the_size_and_names_its_method(engine, factor):
    result = engine.sample(MERAK, seed=0, upscale=factor)
    assert result.images[0].size == (64 * factor, 64 * factor) and result.images[0].mode == "RGB"
    assert result.parameters["upscale_method"] == ("Pillow Lanczos" if factor > 1 else "none")
    # The same step on its own, for images refined after synthesis.
    small = engine.sample(MERAK, seed=0, tile=True).images[0]
    big, method = upscale(small, factor, tile=True)
    assert big.size == (64 * factor, 64 * factor) and method == result.parameters["upscale_method"]
    assert np.array_equal(pixels(big), pixels(engine.sample(MERAK, seed=0, tile=True, upscale=factor).images[0]))


def test_fusion_takes_class_weight_pairs_like_separate_weights(engine):
    pairs = engine.fusion([(MERAK, 3), (KEPITING, 1)], seed=4)
    separate = engine.fusion([MERAK, KEPITING], weights=[0.75, 0.25], seed=4)
    assert np.array_equal(pixels(pairs.images[0]), pixels(separate.images[0]))
    assert pairs.parameters["inputs"]["weights"] == [0.75, 0.25]


def test_importing_the_engine_module_does_not_import_torch():
    # The web process uses the print and PNG helpers and must stay free of torch.
    import subprocess
    import sys

    code = "import sys, inference.engines.generator; print('torch' in sys.modules)"
    root = Path(__file__).resolve().parents[3]
    output = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "False"


def test_png_metadata_round_trips_with_the_ai_generated_marker(engine):
    result = engine.fusion([MERAK, KEPITING], weights=(3, 1), seed=9)
    extra = {"model_version": "generator 3 (857ba803)", "judul": "Merak dan kepiting — ✓"}
    data = png_bytes(result.images[0], {**text_chunks(result, 0), **extra, "ai_generated": "false"}, dpi=300)
    metadata = read_png_metadata(data)
    assert metadata["ai_generated"] == "true", "the marker cannot be switched off"
    assert metadata["DigitalSourceType"] == IPTC_TRAINED_ALGORITHMIC_MEDIA
    assert metadata["DigitalSourceType"].endswith("trainedAlgorithmicMedia")
    assert "trainedAlgorithmicMedia" in metadata["XML:com.adobe.xmp"]
    assert metadata["Software"] == "Cualify"
    assert metadata["judul"] == extra["judul"] and metadata["model_version"] == extra["model_version"]
    assert (metadata["mode"], metadata["seed"]) == ("fusion", "9")
    assert json.loads(metadata["inputs"])["weights"] == [0.75, 0.25]
    assert json.loads(metadata["parameters"])["truncation"] == 0.7
    with Image.open(io.BytesIO(data)) as image:
        assert round(image.info["dpi"][0]) == 300
        assert np.array_equal(pixels(image.convert("RGB")), pixels(result.images[0]))
    for metadata, code in (({"seed": 9}, "bad_metadata"), ({" padded": "x"}, "bad_metadata")):
        with pytest.raises(GenerationError) as error:
            png_bytes(result.images[0], metadata)
        assert error.value.code == code
    with pytest.raises(GenerationError) as error:
        read_png_metadata(b"GIF89a not a png")
    assert error.value.code == "bad_png"


def test_print_tile_fills_the_fabric_at_300_dpi_and_refuses_huge_prints(engine):
    tile = engine.sample(KEMBANG_KENANGA, seed=2, tile=True).images[0]
    cloth = print_tile(tile, tile_cm=5, fabric_width_cm=20, fabric_height_cm=10, dpi=300)
    # 5 cm = 590.55 px -> 591; 20 cm = 2362.2 -> 2362; 10 cm = 1181.1 -> 1181 (round half up).
    assert cloth.size == (2362, 1181) and cloth.info["dpi"] == (300, 300)
    array = pixels(cloth)
    assert np.array_equal(array[:, :591], array[:, 591:1182]) and np.array_equal(array[:590], array[591:])
    assert seam_error(cloth.crop((0, 0, 591, 591))) < 1.2
    with pytest.raises(GenerationError) as error:
        print_tile(tile, tile_cm=5, fabric_width_cm=300, fabric_height_cm=300)
    assert error.value.code == "too_large" and error.value.details["max_pixels"] == MAX_PRINT_PIXELS
    assert "1255.5 megapixels" in str(error.value) and "limit of 120 megapixels" in str(error.value)
    with pytest.raises(GenerationError) as error:
        print_tile(tile, tile_cm=5, fabric_width_cm=20, fabric_height_cm=10, max_megapixels=2)
    assert error.value.code == "too_large" and error.value.details["pixels"] == 2362 * 1181
    for sizes in ((0.5, 20, 10), (101, 200, 200), (5, 0, 10), (5, 20, 301)):
        with pytest.raises(GenerationError) as error:
            print_tile(tile, *sizes)
        assert error.value.code == "bad_range"
    preview = repeat_preview(tile)
    assert preview.size == (192, 192)
    assert np.array_equal(pixels(preview)[64:128, 128:192], pixels(tile))


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda e: e.fusion([MERAK, KEPITING], seed=0, count=0), "bad_count"),
        (lambda e: e.fusion([MERAK, KEPITING], seed=0, count=9), "bad_count"),
        (lambda e: e.fusion([MERAK], seed=0), "too_few_motifs"),
        (lambda e: e.fusion([0, 1, 2, 3, 4], seed=0), "too_many_motifs"),
        (lambda e: e.fusion([MERAK, 14], seed=0), "motif_not_generatable"),
        (lambda e: e.fusion([MERAK, MERAK], seed=0), "duplicate_motif"),
        (lambda e: e.fusion([MERAK, KEPITING], seed=0, truncation=0.05), "bad_range"),
        (lambda e: e.fusion([MERAK, KEPITING], seed=0, truncation=1.5), "bad_range"),
        (lambda e: e.fusion([MERAK, KEPITING], weights=(1, -0.5), seed=0), "bad_weights"),
        (lambda e: e.fusion([(MERAK, 0), (KEPITING, 0)], seed=0), "bad_weights"),
        (lambda e: e.fusion([MERAK, KEPITING], weights=(1,), seed=0), "bad_weights"),
        (lambda e: e.fusion([MERAK, KEPITING], structure_from=PUCUK_REBUNG, seed=0), "source_not_in_motifs"),
        (lambda e: e.fusion([MERAK, KEPITING], seed=0, upscale=3), "bad_upscale"),
        (lambda e: e.fusion([MERAK, KEPITING], seed=-1), "bad_seed"),
        (lambda e: e.sample(MERAK, seed=2**32 - 2, count=3), "bad_seed"),
        (lambda e: e.variation(MERAK, distance=1.2, seed=0), "bad_range"),
        (lambda e: e.variation(MERAK, distance=-0.1, seed=0), "bad_range"),
        (lambda e: e.variation(None, seed=0), "one_motif"),
        (lambda e: e.variation(-1, seed=0), "motif_not_generatable"),
        (lambda e: e.variation(MERAK, ws=np.zeros((3, 256)), seed=0), "bad_latent"),
        (lambda e: e.variation(MERAK, ws=np.zeros(256), base_seed=1, seed=0), "bad_base"),
        (lambda e: e.project_reference("motif.png"), "bad_image"),
        (lambda e: e.project_reference(Image.new("RGB", (8, 8)), steps=0), "bad_range"),
    ],
)
def test_bad_inputs_are_refused_with_a_stable_code(engine, call, code):
    with pytest.raises(GenerationError) as error:
        call(engine)
    assert error.value.code == code and code in ERROR_CODES
    assert str(error.value) == error.value.message


def test_weight_errors_say_which_rule_was_broken(engine):
    for weights, reason in (((1, -0.5), "negative"), ((0, 0), "all_zero"), ((1,), "count_mismatch"),
                            ((1, float("nan")), "not_a_number")):
        with pytest.raises(GenerationError) as error:
            engine.fusion([MERAK, KEPITING], weights=weights, seed=0)
        assert (error.value.code, error.value.details["reason"]) == ("bad_weights", reason)
    with pytest.raises(GenerationError) as error:
        engine.fusion([MERAK, KEPITING], seed=0, truncation=0.05)
    assert error.value.details["field"] == "truncation"


def test_progress_reports_each_image(engine):
    calls = []
    engine.fusion([KEMBANG_KENANGA, PUCUK_REBUNG], seed=0, count=3, progress=lambda *args: calls.append(args))
    assert [call for call in calls if call[0] == "synthesis"] == [("synthesis", 1, 3), ("synthesis", 2, 3),
                                                                    ("synthesis", 3, 3)]


@pytest.mark.parametrize("size", [(1, 60000), (60000, 1)])
def test_projecting_a_thin_strip_fits_it_without_a_huge_resize(engine, size, resize_sizes):
    # Scaling the short side to 64 px first would make a 64 x 3,840,000 px intermediate.
    strip = Image.new("RGB", size, (180, 60, 30))
    projection = engine.projection(strip, class_index=MERAK, steps=1)
    assert projection.target.size == (64, 64)
    assert np.array_equal(pixels(projection.target)[32, 32], [180, 60, 30])
    assert tuple(projection.ws.shape) == (1, 10, 256)
    assert resize_sizes and all(max(side) <= MAX_ENGINE_SIDE for side in resize_sizes), resize_sizes


def test_projecting_a_generated_image_gets_closer_and_finds_its_motif(engine):
    target = engine.sample(KEPITING, seed=11).images[0].resize((96, 80))  # any size is fitted
    steps = []
    projection = engine.projection(target, steps=15, callback=lambda step, total: steps.append((step, total)))
    print(f"projection distance {projection.initial_distance:.4f} -> {projection.final_distance:.4f}")
    assert projection.final_distance < projection.initial_distance
    assert projection.class_index == KEPITING, "without a class the nearest class mean is used"
    assert steps[0] == (1, 15) and steps[-1] == (15, 15)
    assert tuple(projection.ws.shape) == (1, 10, 256) and projection.target.size == (64, 64)
    # The projected w is a base for variations: at distance 0 they are the projected image.
    near = engine.variation(projection.class_index, ws=projection.ws, distance=0, seed=0)
    assert np.array_equal(pixels(near.images[0]), pixels(projection.image))
    assert near.parameters["inputs"]["base"] == "ws"
    # project_reference is the same search, returning only the ws.
    ws = engine.project_reference(target, class_index=KEPITING, steps=3)
    assert tuple(ws.shape) == (1, 10, 256)
