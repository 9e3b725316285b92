"""Print-job benchmark (not a test): time and peak memory of one print job in a worker process.

    .venv/bin/python bench/print_job.py                      # a kain: 200 x 110 cm, 5 cm tiles
    .venv/bin/python bench/print_job.py --width 250 --tile 20

Runs the worker's own code (``print_pipeline.print_run``) in this process on a 64 px result
with the generation worker's text chunks, on a fresh SQLite database, and prints the stages'
times, the files' sizes, the peak of Python and numpy allocations (tracemalloc) and the rise of
the process's peak resident memory over its resident memory just before the job (Linux: the
peak is reset through /proc/self/clear_refs first, so it is this job's own).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def memory_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tile", type=float, default=5.0, help="printed tile size, cm")
    parser.add_argument("--width", type=float, default=200.0, help="fabric width, cm")
    parser.add_argument("--height", type=float, default=110.0, help="fabric height, cm")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="cualify-print-bench-"))
    os.environ.update({"CUALIFY_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "cualify.settings",
                       "OMP_NUM_THREADS": "1"})
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.files.base import ContentFile
    from django.core.management import call_command

    from inference.generation import print_pipeline
    from inference.generation import services as generation
    from inference.generation.images import png_bytes
    from inference.models import GeneratedImage, GenerationJob, PrintJob
    from motifs.demo_art import render_motif

    call_command("migrate", verbosity=0)
    text = {"job": "0" * 32, "image_seed": "1", "parameters": json.dumps({"mode": "variation", "seed": 1, "tile": True}),
            "inputs": json.dumps({"motif": "kepiting"}), "models": json.dumps({"generator": {"id": 1}})}
    job = GenerationJob.objects.create(mode="variation", seed=1, count=1, tile=True, status="succeeded")
    image = GeneratedImage(job=job, index=0, seed=1, width=64, height=64, metadata=text)
    image.file.save("image.png", ContentFile(png_bytes(render_motif("kepiting", 1, 64), text)))
    sizes = generation.print_sizes(tile_cm=args.tile, fabric_width_cm=args.width, fabric_height_cm=args.height)
    printed = PrintJob.objects.create(image=image, tile_cm=args.tile, fabric_width_cm=args.width,
                                      fabric_height_cm=args.height, tile_px=sizes.tile_px,
                                      fabric_width_px=sizes.fabric_width_px, fabric_height_px=sizes.fabric_height_px)
    # Warm the imports the job makes, so that the figures are the job's own.
    print_pipeline.print_source(image)
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (the peak) to the current RSS
    except OSError:
        pass
    before = memory_kb("VmRSS")
    tracemalloc.start()
    started = time.perf_counter()
    print_pipeline.print_run(printed.pk)
    seconds = time.perf_counter() - started
    _current, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = memory_kb("VmHWM")
    printed.refresh_from_db()
    assert printed.status == "succeeded", printed.error
    print(f"print job {args.width:g} x {args.height:g} cm, {args.tile:g} cm tiles: "
          f"tile {sizes.tile_px} x {sizes.tile_px} px at 300 dpi, "
          f"fabric {sizes.fabric_width_px} x {sizes.fabric_height_px} px at 150 dpi "
          f"({sizes.fabric_width_px * sizes.fabric_height_px / 1e6:.1f} MP)")
    print(f"  total {seconds:.2f} s; stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in printed.timings.items()))
    print(f"  files: tile {printed.tile.size / 1e6:.1f} MB, fabric {printed.fabric.size / 1e6:.1f} MB")
    print(f"  peak Python/numpy allocations (tracemalloc): {traced_peak / 2**20:.1f} MiB")
    print(f"  peak RSS rise over the RSS before the job: {(peak - before) / 1024:.1f} MiB "
          f"(RSS before {before / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
