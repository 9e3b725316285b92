"""Reads of the archive, shaped for pages and commands."""
from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from .models import Collection, CollectionItem, Motif, MotifAlias, MotifImage, Ownership, Page, PageImage, PageSource
from .text import linked_paragraphs, normalize_name

# The columns of the card grid (``.cards`` in static/css/site.css) at its breakpoints: phone,
# tablet, wide. Lists of cards come in multiples of all of them, so no row is left half empty.
CARD_GRID_COLUMNS = (2, 3, 4)
HOME_CARD_COUNT = 12
RELATED_MOTIF_COUNT = 4  # the motif page's own grid: 2 columns on a phone, 4 wide


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


def featured_motifs(limit: int = HOME_CARD_COUNT) -> list[Motif]:
    return list(_with_cover(Motif.objects.published().filter(images__isnull=False).distinct().order_by("name"))[:limit])


def related_motifs(*, motif: Motif, limit: int = RELATED_MOTIF_COUNT) -> list[Motif]:
    """Other published motifs of the same category or from the same gallery (owner): those
    sharing both first, then by name."""
    owner_ids = list(Ownership.objects.filter(motif=motif).values_list("owner_id", flat=True))
    same_owner = Q(ownerships__owner_id__in=owner_ids) if owner_ids else Q(pk__in=[])
    candidates = (
        Motif.objects.published()
        .exclude(pk=motif.pk)
        .filter(Q(category=motif.category) | same_owner)
        .distinct()
    )
    shares_owner = set(candidates.filter(same_owner).values_list("pk", flat=True))
    ranked = sorted(
        _with_cover(candidates.order_by("name")),
        key=lambda m: -((m.category == motif.category) + (m.pk in shares_owner)),
    )
    return ranked[:limit]


def page_get(slug: str) -> Page | None:
    """A page with its pictures and sources, or None."""
    return Page.objects.filter(slug=slug).prefetch_related(
        Prefetch("images", queryset=PageImage.objects.order_by("position", "id")),
        Prefetch("sources", queryset=PageSource.objects.order_by("position", "id")),
    ).first()


def motif_mention_links() -> dict[str, str]:
    """Casefolded motif names, English names and aliases of published motifs → motif URL."""
    links: dict[str, str] = {}
    published = list(Motif.objects.published().only("slug", "name", "name_en").prefetch_related("aliases"))
    for motif in published:  # the motifs' own names first: they win over another's alias
        for name in (motif.name, motif.name_en):
            links.setdefault(name.strip().casefold(), motif.get_absolute_url())
    for motif in published:
        for alias in motif.aliases.all():
            links.setdefault(alias.name.strip().casefold(), motif.get_absolute_url())
    links.pop("", None)
    return links


def page_body_html(page: Page) -> str:
    """The page's text (active language) as safe HTML paragraphs, motif names linked."""
    return linked_paragraphs(page.body, motif_mention_links())


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
