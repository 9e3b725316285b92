"""Moving images between folders and the archive: import, export (with the study's
90/7/3 split and optional augmentation) and the synthetic demo set."""
from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from django.db import transaction
from django.utils import timezone
from django.utils.text import capfirst
from PIL import Image, ImageEnhance, ImageOps

from core import intake
from core.imaging import ImageRejected

from . import selectors, services
from .models import Category, Motif, MotifImage
from .text import normalize_name

SPLITS = ("train", "val", "test")
# The original study's split of its 621 images: 560 / 41 / 20.
STUDY_RATIOS = {"train": 0.90, "val": 0.07, "test": 0.03}


# --- import ------------------------------------------------------------------------------

@dataclass
class ImportReport:
    imported: int = 0
    duplicates: list[tuple[Path, str]] = field(default_factory=list)
    rejected: list[tuple[Path, str]] = field(default_factory=list)
    unknown_folders: list[Path] = field(default_factory=list)
    created_motifs: list[str] = field(default_factory=list)

    def lines(self) -> Iterable[str]:
        yield f"imported: {self.imported}"
        yield f"duplicates: {len(self.duplicates)}"
        for path, why in self.duplicates:
            yield f"  {path}: {why}"
        yield f"rejected: {len(self.rejected)}"
        for path, why in self.rejected:
            yield f"  {path}: {why}"
        if self.unknown_folders:
            yield f"unknown class folders (no motif; use --create-missing): {len(self.unknown_folders)}"
            for path in self.unknown_folders:
                yield f"  {path}"
        if self.created_motifs:
            yield "draft motifs created: " + ", ".join(self.created_motifs)


@dataclass(frozen=True)
class ImportItem:
    path: Path
    folder: Path       # the class folder
    split: str         # from an Ultralytics layout, else "unassigned"


def import_plan(root: Path) -> list[ImportItem]:
    """The files to import, in a stable order. ``root`` holds class folders, or the
    Ultralytics layout ``train|val|test/<class>/*``."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if subfolders and all(p.name in SPLITS for p in subfolders):
        groups = [(split_dir.name, c) for split_dir in subfolders for c in sorted(split_dir.iterdir()) if c.is_dir()]
    else:
        groups = [("unassigned", c) for c in subfolders]
    items = []
    for split, folder in groups:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts):
                items.append(ImportItem(path=path, folder=folder, split=split))
    return items


def import_images(
    root: Path,
    *,
    create_missing: bool = False,
    source: str = MotifImage.Source.GALLERY_PHOTO,
    credit: str = "",
    licence: str = "",
    progress: Callable[[Iterable], Iterable] = lambda items: items,
) -> ImportReport:
    """Import every image under ``root``; one transaction per image, so an interruption
    keeps what was done and a second run skips it as duplicates."""
    report = ImportReport()
    motifs_by_folder: dict[Path, Motif | None] = {}
    for item in progress(import_plan(root)):
        if item.folder not in motifs_by_folder:
            motif = selectors.motif_by_name(item.folder.name)
            if motif is None and create_missing and normalize_name(item.folder.name):
                motif = Motif.objects.create(
                    slug=normalize_name(item.folder.name)[:80],
                    name=capfirst(item.folder.name.replace("_", " ").replace("-", " ")),
                    category=Category.MIXED,
                    status=Motif.Status.DRAFT,
                )
                report.created_motifs.append(motif.slug)
            if motif is None:
                report.unknown_folders.append(item.folder.relative_to(root))
            motifs_by_folder[item.folder] = motif
        motif = motifs_by_folder[item.folder]
        shown = item.path.relative_to(root)
        if motif is None:
            report.rejected.append((shown, "unknown class folder"))
            continue
        try:
            services.motif_image_create(
                motif=motif,
                data=item.path.read_bytes(),
                source=source,
                credit=credit,
                licence=licence,
                split=item.split,
            )
        except ImageRejected as exc:
            report.rejected.append((shown, f"{intake.rejection_message(exc)} ({exc.detail or exc.code})"))
        except services.DuplicateImage as exc:
            report.duplicates.append((shown, f"same as image #{exc.existing.pk} of {exc.existing.motif.slug}"))
        except OSError as exc:
            report.rejected.append((shown, f"could not read: {exc.strerror or exc}"))
        else:
            report.imported += 1
    return report


# --- export ------------------------------------------------------------------------------

class DatasetError(Exception):
    pass


def split_targets(total: int, ratios: dict[str, float] = STUDY_RATIOS) -> dict[str, int]:
    """How many of ``total`` images go to each split: the study's ratios, at least one each."""
    if total < len(SPLITS):
        raise DatasetError(f"{total} images cannot fill {len(SPLITS)} splits")
    val = max(1, round(total * ratios["val"]))
    test = max(1, round(total * ratios["test"]))
    return {"train": total - val - test, "val": val, "test": test}


def _stable_order(images: list[MotifImage], seed: int) -> list[MotifImage]:
    return sorted(images, key=lambda im: hashlib.sha256(f"{seed}:{im.sha256}".encode()).hexdigest())


def assign_splits(images_by_motif: dict[Motif, list[MotifImage]], *, seed: int) -> dict[str, int]:
    """Give unassigned images a split (saved, so later evaluations keep the same test set).

    Stored splits win; unassigned images fill each class toward the study's 90/7/3, chosen
    in a seed-determined order. Raises DatasetError naming every class that cannot have an
    image in each split.
    """
    plan: dict[int, str] = {}
    too_small = []
    for motif, images in images_by_motif.items():
        have = Counter(im.split for im in images)
        unassigned = _stable_order([im for im in images if im.split == MotifImage.Split.UNASSIGNED], seed)
        if len(images) < len(SPLITS):
            too_small.append(f"{motif.slug} ({len(images)} images)")
            continue
        targets = split_targets(len(images))
        for split in ("test", "val", "train"):
            need = max(0, targets[split] - have[split]) if split != "train" else len(unassigned)
            for image in unassigned[:need]:
                plan[image.pk] = split
                have[split] += 1
            unassigned = unassigned[need:]
        missing = [s for s in SPLITS if have[s] == 0]
        if missing:
            too_small.append(f"{motif.slug} (no image can go to {', '.join(missing)})")
    if too_small:
        raise DatasetError("too few images for a train/val/test split: " + "; ".join(too_small))
    with transaction.atomic():
        for split in SPLITS:
            ids = [pk for pk, s in plan.items() if s == split]
            MotifImage.objects.filter(pk__in=ids).update(split=split)
    for images in images_by_motif.values():
        for image in images:
            image.split = plan.get(image.pk, image.split)
    return Counter(plan.values())


def augment(image: Image.Image, rng: random.Random) -> Image.Image:
    """One augmented copy: rotation, flip, contrast (the study's three), chosen by ``rng``."""
    out = image.rotate(rng.uniform(-25, 25), resample=Image.BICUBIC, fillcolor=image.getpixel((0, 0)))
    if rng.random() < 0.5:
        out = ImageOps.mirror(out)
    if rng.random() < 0.3:
        out = ImageOps.flip(out)
    return ImageEnhance.Contrast(out).enhance(rng.uniform(0.7, 1.3))


def square_resize(image: Image.Image, size: int) -> Image.Image:
    return ImageOps.fit(image, (size, size), method=Image.LANCZOS)


@dataclass
class ExportReport:
    out: Path
    counts: dict[str, dict[str, int]]   # split (or "all") -> class -> files
    newly_assigned: dict[str, int]
    augmented: int

    def lines(self) -> Iterable[str]:
        yield f"written: {self.out}"
        for split, per_class in self.counts.items():
            yield f"{split}: {sum(per_class.values())} files in {len(per_class)} classes"
        if self.newly_assigned:
            yield "splits assigned now: " + ", ".join(f"{k} {v}" for k, v in sorted(self.newly_assigned.items()))
        if self.augmented:
            yield f"augmented training files: {self.augmented}"


def exportable_images() -> dict[Motif, list[MotifImage]]:
    """Every motif with consented images (published or draft) and those images."""
    groups: dict[Motif, list[MotifImage]] = defaultdict(list)
    for image in MotifImage.objects.filter(training_consent=True).select_related("motif").order_by("motif__slug", "id"):
        groups[image.motif].append(image)
    return dict(groups)


def export_dataset(
    out: Path,
    *,
    seed: int = 0,
    flat: bool = False,
    augment_copies: int = 0,
    size: int | None = None,
    overwrite: bool = False,
    progress: Callable[[Iterable], Iterable] = lambda items: items,
) -> ExportReport:
    """Write the archive as an Ultralytics classification dataset (or plain class folders
    with ``flat``). The folder appears whole or not at all: it is written next to ``out``
    and renamed into place at the end."""
    out = out.resolve()
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise DatasetError(f"{out} exists and is not empty (use --overwrite)")
    groups = exportable_images()
    if not groups:
        raise DatasetError("the archive has no images with training consent")
    newly_assigned = {} if flat else assign_splits(groups, seed=seed)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    counts: dict[str, Counter] = defaultdict(Counter)
    manifest = {"created": timezone.now().isoformat(), "seed": seed, "flat": flat, "size": size,
                "augment_copies": augment_copies, "classes": sorted(m.slug for m in groups), "splits": defaultdict(list)}
    augmented = 0
    try:
        jobs = [(motif, image) for motif, images in groups.items() for image in images]
        for motif, image in progress(jobs):
            split = "all" if flat else image.split
            folder = staging / motif.slug if flat else staging / split / motif.slug
            folder.mkdir(parents=True, exist_ok=True)
            with image.file.open("rb") as handle:
                data = handle.read()
            extension = Path(image.file.name).suffix.lower() or ".jpg"
            if size or (augment_copies and split == "train"):
                picture = Image.open(io.BytesIO(data)).convert("RGB")
                if size:
                    picture = square_resize(picture, size)
                    picture.save(folder / f"{image.sha256}{extension}", quality=95)
                else:
                    (folder / f"{image.sha256}{extension}").write_bytes(data)
                if augment_copies and split == "train":
                    rng = random.Random(f"{seed}:{image.sha256}")
                    for n in range(1, augment_copies + 1):
                        augment(picture, rng).save(folder / f"{image.sha256}_aug{n}.jpg", quality=92)
                        augmented += 1
                        counts[split][motif.slug] += 1
            else:
                (folder / f"{image.sha256}{extension}").write_bytes(data)
            counts[split][motif.slug] += 1
            manifest["splits"][split].append(image.sha256)
        (staging / "dataset.json").write_text(json.dumps(manifest, indent=2))
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportReport(out=out, counts={k: dict(v) for k, v in counts.items()}, newly_assigned=dict(newly_assigned), augmented=augmented)


# --- synthetic demo set ------------------------------------------------------------------

DEMO_CREDIT = "Cualify synthetic demo (procedurally drawn, not real cloth)"


@dataclass
class DemoReport:
    created: int = 0
    skipped: int = 0


def make_demo_images(
    *,
    count: int,
    size: int = 512,
    seed: int = 0,
    slugs: Iterable[str] | None = None,
    progress: Callable[[Iterable], Iterable] = lambda items: items,
) -> DemoReport:
    """Render ``count`` synthetic images for each seeded motif and archive them.

    Motifs that already have ``count`` demo images are left alone, and a re-rendered image
    is a duplicate by hash, so running it again adds nothing."""
    from .demo_art import MOTIF_SLUGS, render_motif

    report = DemoReport()
    chosen = list(slugs) if slugs else list(MOTIF_SLUGS)
    motifs = {m.slug: m for m in Motif.objects.filter(slug__in=chosen)}
    missing = [s for s in chosen if s not in motifs]
    if missing:
        raise DatasetError("no motif with slug: " + ", ".join(missing))
    jobs = []
    for slug in chosen:
        have = motifs[slug].images.filter(source=MotifImage.Source.SYNTHETIC_DEMO).count()
        jobs += [(slug, index) for index in range(count)] if have < count else []
        report.skipped += count if have >= count else 0
    for slug, index in progress(jobs):
        picture = render_motif(slug, seed * 1_000_003 + index, size)
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=90)
        try:
            services.motif_image_create(
                motif=motifs[slug],
                data=buffer.getvalue(),
                source=MotifImage.Source.SYNTHETIC_DEMO,
                credit=DEMO_CREDIT,
                licence="CC0-1.0",
                training_consent=True,
                caption_id=f"{motifs[slug].name} — gambar demo sintetis",
                caption_en=f"{motifs[slug].name} — synthetic demo image",
            )
        except services.DuplicateImage:
            report.skipped += 1
        else:
            report.created += 1
    return report
