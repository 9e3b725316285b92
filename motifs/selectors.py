"""Reads of the archive, shaped for pages and commands."""
from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from .models import Collection, CollectionItem, Motif, MotifAlias, MotifImage, Ownership, Page
from .text import normalize_name


def _with_cover(queryset: QuerySet[Motif]) -> QuerySet[Motif]:
    return queryset.prefetch_related(
        Prefetch("images", queryset=MotifImage.objects.order_by("position", "id"), to_attr="prefetched_images")
    )


def gallery_motifs(*, category: str = "", owner: str = "", query: str = "", collection: str = "") -> QuerySet[Motif]:
    """Published motifs for the public gallery, filtered; each with its images prefetched."""
    motifs = Motif.objects.published()
    if category:
        motifs = motifs.filter(category=category)
    if owner:
        motifs = motifs.filter(ownerships__owner__slug=owner)
    if collection:
        motifs = motifs.filter(collection_items__collection__slug=collection, collection_items__collection__is_public=True)
    if query:
        words = query.split()
        for word in words[:8]:
            motifs = motifs.filter(
                Q(name__icontains=word)
                | Q(name_en__icontains=word)
                | Q(slug__icontains=normalize_name(word) or word)
                | Q(aliases__name__icontains=word)
                | Q(description_id__icontains=word)
                | Q(description_en__icontains=word)
                | Q(meaning_id__icontains=word)
                | Q(meaning_en__icontains=word)
            )
    return _with_cover(motifs.distinct().order_by("name"))


def motif_detail(*, slug: str, include_drafts: bool = False) -> Motif:
    """One motif with images and ownerships; raises Motif.DoesNotExist."""
    motifs = Motif.objects.all() if include_drafts else Motif.objects.published()
    return motifs.prefetch_related(
        Prefetch("images", queryset=MotifImage.objects.order_by("position", "id")),
        Prefetch("ownerships", queryset=Ownership.objects.select_related("owner")),
        "aliases",
    ).get(slug=slug)


def public_collections() -> QuerySet[Collection]:
    return Collection.objects.filter(is_public=True).prefetch_related(
        Prefetch(
            "items",
            queryset=CollectionItem.objects.filter(motif__status=Motif.Status.PUBLISHED)
            .select_related("motif")
            .order_by("position", "id"),
        )
    )


def featured_motifs(limit: int = 6) -> list[Motif]:
    return list(_with_cover(Motif.objects.published().filter(images__isnull=False).distinct().order_by("name"))[:limit])


def page_get(slug: str) -> Page | None:
    return Page.objects.filter(slug=slug).first()


def motif_by_name(name: str) -> Motif | None:
    """The motif a class name, folder name or alias refers to (slug first, then aliases)."""
    key = normalize_name(name)
    if not key:
        return None
    motif = Motif.objects.filter(slug=key).first()
    if motif:
        return motif
    alias = MotifAlias.objects.select_related("motif").filter(normalized=key).first()
    if alias:
        return alias.motif
    # The motif's own names ("Bebek dan Kembang Sumping", "Peacock"): few rows, compared in Python.
    for motif in Motif.objects.only("slug", "name", "name_en"):
        if key in (normalize_name(motif.name), normalize_name(motif.name_en)):
            return motif
    return None
