"""What a visitor sees on a motif page and on the history/about pages: each image's provenance,
the synthetic-demo badge, related motifs, page pictures and sources, motif names as links, and
card grids without half-empty rows."""
import math
import re

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from motifs import selectors, services
from motifs.models import Motif, MotifImage, Ownership, Page, PageImage, PageSource
from motifs.text import linked_paragraphs
from tests.factories import MotifFactory, add_image, image_bytes

pytestmark = pytest.mark.django_db


def get(client, url, language="id", **params):
    client.cookies["cualify_language"] = language
    response = client.get(url, params)
    assert response.status_code == 200
    return response.content.decode()


def figure_of(html, image):
    """The <figure> that shows ``image`` on a motif page."""
    start = html.index(f'href="{image.file.url}"')
    return html[html.rindex("<figure", 0, start):html.index("</figure>", start)]


# --- Provenance under each image -------------------------------------------------------------

def test_each_image_shows_its_source_credit_licence_and_date_with_translated_labels(client):
    merak = Motif.objects.get(slug="merak")
    image = add_image(merak, credit="Foto: Galeri Uji", licence="CC-BY-4.0", source=MotifImage.Source.GALLERY_PHOTO)
    figure = figure_of(get(client, merak.get_absolute_url(), "en"), image)
    assert re.search(r"<dt>Source</dt><dd>Gallery photo</dd>", figure)
    assert "<dt>Credit</dt><dd>Foto: Galeri Uji</dd>" in figure
    assert "<dt>Licence</dt><dd>CC-BY-4.0</dd>" in figure  # stored by the admin, shown nowhere before
    # The site's date (TIME_ZONE, Asia/Jakarta), not the UTC one: they differ for 7 hours a day.
    assert f'<time datetime="{timezone.localdate(image.created):%Y-%m-%d}">' in figure and "<dt>Date added</dt>" in figure
    figure_id = figure_of(get(client, merak.get_absolute_url(), "id"), image)
    assert "<dt>Sumber</dt><dd>Foto galeri</dd>" in figure_id
    assert "<dt>Kredit</dt>" in figure_id and "<dt>Lisensi</dt><dd>CC-BY-4.0</dd>" in figure_id
    assert "<dt>Tanggal ditambahkan</dt>" in figure_id


def test_empty_provenance_fields_are_left_out(client):
    merak = Motif.objects.get(slug="merak")
    image = add_image(merak, credit="", licence="")
    figure = figure_of(get(client, merak.get_absolute_url(), "en"), image)
    assert "<dt>Source</dt>" in figure
    assert "Credit" not in figure and "Licence" not in figure


def test_synthetic_demo_images_carry_a_badge_over_the_picture_and_on_cards(client):
    merak = Motif.objects.get(slug="merak")
    demo = add_image(merak, source=MotifImage.Source.SYNTHETIC_DEMO)
    real = add_image(Motif.objects.get(slug="kepiting"), source=MotifImage.Source.GALLERY_PHOTO, credit="Galeri")
    figure = figure_of(get(client, merak.get_absolute_url(), "en"), demo)
    link = figure[:figure.index("</a>")]
    assert 'class="badge badge-demo badge-over">synthetic demo</span>' in link  # inside the image link
    assert "data-synthetic" in link
    assert "badge-demo" not in figure_of(get(client, real.motif.get_absolute_url(), "en"), real)
    for url in ("/", reverse("motifs:gallery")):
        html = get(client, url, "id")
        cards = {m.group(1): m.group(0) for m in re.finditer(r'<li class="card">.*?href="([^"]+)".*?</li>', html, re.S)}
        assert "demo sintetis" in cards[merak.get_absolute_url()]
        assert "badge-demo" not in cards[real.motif.get_absolute_url()]


# --- The large view (lightbox) markup ---------------------------------------------------------

def test_image_links_open_the_full_file_without_javascript_and_the_dialog_is_labelled(client):
    merak = Motif.objects.get(slug="merak")
    image = add_image(merak)
    html = get(client, merak.get_absolute_url(), "id")
    assert f'<a class="image-link" href="{image.file.url}" data-lightbox-item' in html
    assert client.get(image.file.url).status_code == 200
    dialog = html[html.index("<dialog"):html.index("</dialog>")]
    assert 'aria-modal="true"' in dialog and 'aria-label="Penampil gambar"' in dialog
    assert 'data-counter="Gambar {n} dari {total}"' in dialog
    assert "js/lightbox.js" in html


def test_a_motif_without_images_has_no_dialog(client):
    motif = MotifFactory(status=Motif.Status.PUBLISHED)
    assert "<dialog" not in get(client, motif.get_absolute_url(), "en")


# --- Related motifs ---------------------------------------------------------------------------

def test_related_motifs_share_the_category_or_gallery_and_exclude_the_motif_and_drafts(client):
    merak = Motif.objects.get(slug="merak")  # fauna, Ishadi Cual Gallery
    draft = MotifFactory(name="Fauna Rahasia", category="fauna", status=Motif.Status.DRAFT)
    related = selectors.related_motifs(motif=merak, limit=50)
    slugs = {m.slug for m in related}
    merak_owners = set(merak.ownerships.values_list("owner_id", flat=True))
    for motif in related:
        assert motif.category == "fauna" or merak_owners & set(motif.ownerships.values_list("owner_id", flat=True))
    assert "merak" not in slugs and draft.slug not in slugs
    assert {"kepiting", "kembang-kenanga"} <= slugs  # same category; same gallery (Ishadi)
    # Sharing both comes first.
    both = [m for m in related if m.category == "fauna" and Ownership.objects.filter(motif=m, owner_id__in=merak_owners).exists()]
    assert related[:len(both)] == both
    html = get(client, merak.get_absolute_url(), "en")
    section = html[html.index('id="related-heading"'):]
    assert section.count('<li class="card">') == selectors.RELATED_MOTIF_COUNT
    assert 'href="/gallery/merak/"' not in section and "Fauna Rahasia" not in section


def test_no_related_section_when_nothing_is_related(client):
    Motif.objects.filter(category="celestial").delete()
    lonely = MotifFactory(category="celestial", status=Motif.Status.PUBLISHED)
    assert selectors.related_motifs(motif=lonely) == []
    assert "related-heading" not in get(client, lonely.get_absolute_url(), "en")


# --- History and about pages: pictures, sources, motif links ----------------------------------

def test_page_shows_its_pictures_with_alt_text_and_its_sources(client):
    history = Page.objects.get(slug="history")
    picture = services.page_image_create(page=history, data=image_bytes((150, 20, 20), size=(120, 80)),
                                         alt_id="Kain Cual tua dari Muntok", alt_en="An old Cual cloth from Muntok",
                                         caption_en="Cual cloth, 19th century", credit="Museum Timah")
    PageSource.objects.create(page=history, title="Kain Cual Bangka", url="https://example.org/cual", note="hlm. 12", position=0)
    PageSource.objects.create(page=history, title="Wawancara penenun", position=1)
    html = get(client, reverse("history"), "en")
    assert f'src="{picture.file.url}" alt="An old Cual cloth from Muntok"' in html
    assert "Cual cloth, 19th century" in html and "Museum Timah" in html
    assert client.get(picture.file.url).status_code == 200
    sources = html[html.index('id="sources-heading"'):]
    assert ">Sources</h2>" in sources
    assert '<a href="https://example.org/cual" rel="noopener noreferrer">Kain Cual Bangka</a>' in sources and "hlm. 12" in sources
    assert "<cite>Wawancara penenun</cite>" in sources
    assert sources.index("Kain Cual Bangka") < sources.index("Wawancara penenun")
    html_id = get(client, reverse("history"), "id")
    assert 'alt="Kain Cual tua dari Muntok"' in html_id and ">Sumber</h2>" in html_id


def test_a_page_without_pictures_or_sources_shows_neither(client):
    html = get(client, reverse("about"), "en")
    assert 'class="page-images"' not in html and "sources-heading" not in html and "<dialog" not in html
    assert "js/lightbox.js" not in html
    assert linked_paragraphs("Teks.", {}) == "<p>Teks.</p>"


def test_page_picture_needs_alt_text_and_a_file_nobody_owns_is_not_served(client):
    history = Page.objects.get(slug="history")
    with pytest.raises(ValidationError) as error:
        services.page_image_create(page=history, data=image_bytes((1, 2, 3)), alt_id="")
    assert "alt_id" in error.value.message_dict
    assert not PageImage.objects.exists()
    assert client.get("/media/pages/ab/" + "ab" * 32 + ".png").status_code == 404


def test_curator_adds_a_picture_and_a_source_to_a_page_in_the_admin(curator_client):
    history = Page.objects.get(slug="history")
    data = {"slug": history.slug, "title_id": history.title_id, "title_en": history.title_en,
            "body_id": history.body_id, "body_en": history.body_en}
    for prefix in ("images", "sources"):
        data.update({f"{prefix}-TOTAL_FORMS": "1", f"{prefix}-INITIAL_FORMS": "0",
                     f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"})
    data.update({"images-0-alt_id": "Penenun di Muntok", "images-0-position": "0",
                 "images-0-upload": SimpleUploadedFile("x.jpg", image_bytes((90, 10, 10), fmt="JPEG"), content_type="image/jpeg"),
                 "sources-0-title": "Sejarah Muntok", "sources-0-url": "https://example.org/muntok", "sources-0-position": "0"})
    url = reverse("admin:motifs_page_change", args=[history.pk])
    response = curator_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    picture = history.images.get()
    assert picture.alt_id == "Penenun di Muntok" and picture.file.name.startswith(f"pages/{picture.sha256[:2]}/")
    assert history.sources.get().url == "https://example.org/muntok"
    # Without alt text the inline refuses the picture.
    data.update({"images-0-alt_id": "", "sources-TOTAL_FORMS": "0",
                 "images-0-upload": SimpleUploadedFile("y.jpg", image_bytes((10, 90, 10), fmt="JPEG"), content_type="image/jpeg")})
    data.update({"images-TOTAL_FORMS": "2", "images-INITIAL_FORMS": "1", "images-0-id": str(picture.pk),
                 "images-0-alt_id": "Penenun di Muntok", "images-0-page": str(history.pk),
                 "images-1-alt_id": "", "images-1-position": "1", "images-1-upload": data.pop("images-0-upload")})
    response = curator_client.post(url, data)
    assert response.status_code == 200 and "This field is required." in response.content.decode()
    assert history.images.count() == 1


def test_motif_names_and_aliases_in_the_page_text_link_to_published_motifs(client):
    history = Page.objects.get(slug="history")
    draft = MotifFactory(name="Bintang Laut", status=Motif.Status.DRAFT)
    history.body_en = ("The PEACOCK and the merak.\nKuda Laut, ubur-ubur and Bintang Laut.\n\n"
                       "Merakku is not a motif; nor is kepitingan.")
    history.save()
    html = get(client, reverse("history"), "en")
    assert '<a href="/gallery/merak/" class="motif-mention">PEACOCK</a>' in html  # an English alias, any case
    assert '<a href="/gallery/merak/" class="motif-mention">merak</a>' in html
    assert '<a href="/gallery/kuda-laut/" class="motif-mention">Kuda Laut</a>' in html  # several words
    assert '<a href="/gallery/ubur-ubur/" class="motif-mention">ubur-ubur</a>' in html
    assert "Bintang Laut" in html and draft.get_absolute_url() not in html  # drafts are not linked
    assert ">Merakku<" not in html and "Merakku is not" in html  # whole words only
    assert "kepitingan" in html and ">kepitingan<" not in html
    assert "<p>The" in html and "<br>" in html  # paragraphs and line breaks kept


def test_the_seeded_history_links_its_motifs_in_both_languages(client):
    assert 'href="/gallery/merak/" class="motif-mention">merak</a>' in get(client, reverse("history"), "id")
    assert 'href="/gallery/merak/" class="motif-mention">peacock</a>' in get(client, reverse("history"), "en")


def test_page_text_is_escaped_so_it_cannot_inject_markup(client):
    about = Page.objects.get(slug="about")
    about.body_id = ('<script>alert("x")</script> Merak <img src=x onerror=alert(1)>\n\n'
                     '"><a href="javascript:alert(2)">Kepiting</a> & Naga')
    about.save()
    html = get(client, reverse("about"), "id")
    body = html[html.index("<h1>"):html.index("Terakhir diperbarui")]
    assert "<script>" not in body and "<img src=x" not in body and 'href="javascript' not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    assert '<a href="/gallery/merak/" class="motif-mention">Merak</a>' in body
    # A name inside what looks like markup is linked as text, and the markup stays escaped.
    assert '&lt;a href=&quot;javascript:alert(2)&quot;&gt;<a href="/gallery/kepiting/" class="motif-mention">Kepiting</a>&lt;/a&gt;' in body
    assert '&amp; <a href="/gallery/naga-betarung/" class="motif-mention">Naga</a>' in body


def test_linking_escapes_names_that_look_like_regular_expressions_or_markup():
    html = linked_paragraphs("a (b+) c <i>", {"(b+)": "/gallery/b/", "<i>": "/gallery/i/"})
    # "(b+)" has no word characters at its edges; it is still matched as itself, literally.
    assert '<a href="/gallery/b/" class="motif-mention">(b+)</a>' in html
    assert '<a href="/gallery/i/" class="motif-mention">&lt;i&gt;</a>' in html
    assert linked_paragraphs("bbb", {"(b+)": "/x/"}) == "<p>bbb</p>"


# --- Grids without half-empty rows ------------------------------------------------------------

def test_card_counts_fill_every_row_of_the_grid():
    row = math.lcm(*selectors.CARD_GRID_COLUMNS)
    assert selectors.HOME_CARD_COUNT % row == 0
    assert django_settings.CUALIFY_GALLERY_PAGE_SIZE % row == 0
    css = (django_settings.BASE_DIR / "static/css/site.css").read_text()
    for columns in selectors.CARD_GRID_COLUMNS:
        assert f".cards {{ grid-template-columns: repeat({columns}, minmax(0, 1fr)); }}" in css


def test_home_shows_a_full_set_of_cards(client):
    for motif in Motif.objects.all():
        add_image(motif)
    html = get(client, "/", "en")
    assert html.count('<li class="card">') == selectors.HOME_CARD_COUNT
    gallery = get(client, reverse("motifs:gallery"), "en")
    assert gallery.count('<li class="card">') == django_settings.CUALIFY_GALLERY_PAGE_SIZE


def test_gallery_filters_sit_in_a_details_box_that_is_open_without_javascript(client):
    html = get(client, reverse("motifs:gallery"), "en")
    box = html[html.index('<details class="filters-box"'):html.index("</details>")]
    assert "data-fold-on-phone open>" in box and "<summary>Filter motifs</summary>" in box
    assert '<form method="get" class="filters"' in box and "js/fold.js" in html
