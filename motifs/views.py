from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render

from accounts.roles import is_curator

from . import selectors
from .forms import GalleryFilterForm
from .models import Motif


def home(request):
    return render(request, "motifs/home.html", {"featured": selectors.featured_motifs()})


def content_page(request, slug: str):
    page = selectors.page_get(slug)
    if page is None:
        raise Http404
    return render(request, "motifs/page.html", {"page": page, "body_html": selectors.page_body_html(page)})


def gallery(request):
    form = GalleryFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    motifs = selectors.gallery_motifs(
        category=filters.get("category", ""),
        owner=filters.get("owner", ""),
        query=filters.get("q", "").strip(),
        collection=request.GET.get("collection", "")[:80],
    )
    page = Paginator(motifs, settings.CUALIFY_GALLERY_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "motifs/gallery.html",
        {
            "form": form,
            "page_obj": page,
            "collections": selectors.public_collections(),
            "active_collection": request.GET.get("collection", ""),
            "query_string": query.urlencode(),
            "invalid_filters": form.is_bound and not form.is_valid(),
        },
    )


def motif_detail(request, slug: str):
    try:
        motif = selectors.motif_detail(slug=slug, include_drafts=is_curator(request.user))
    except Motif.DoesNotExist:
        raise Http404
    return render(request, "motifs/detail.html", {"motif": motif, "related": selectors.related_motifs(motif=motif)})
