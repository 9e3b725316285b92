"""The public pages, in both languages, without JavaScript."""
import pytest
from django.urls import reverse

from motifs.models import Motif, Ownership
from tests.factories import CollectionFactory, MotifFactory, UserFactory, add_image

pytestmark = pytest.mark.django_db


def get(client, url, language="id", **params):
    client.cookies["cualify_language"] = language
    response = client.get(url, params)
    return response, response.content.decode()


@pytest.mark.parametrize("language,expected", [
    ("id", ["Beranda", "Klasifikasi", "Galeri", "Sejarah", "Tentang Kami", "Masuk"]),
    ("en", ["Home", "Classify", "Generate", "Gallery", "History", "About Us", "Login"]),
])
def test_home_shows_title_tagline_and_nav_in_each_language(client, language, expected):
    response, html = get(client, "/", language)
    assert response.status_code == 200
    assert f'<html lang="{language}">' in html
    assert "Classify the Motifs, Generate New Pattern" in html
    for label in expected:
        assert f">{label}<" in html, label


def test_history_page_comes_from_the_page_model_in_both_languages(client):
    _, html_id = get(client, reverse("history"), "id")
    _, html_en = get(client, reverse("history"), "en")
    assert "Sejarah Batik Cual" in html_id and "gula mutung" in html_id and "Penganten Bekecak" in html_id
    assert "History of Batik Cual" in html_en and "Jande Bekecak" in html_en and "Muntok" in html_en


def test_gallery_lists_published_motifs_only(client):
    MotifFactory(name="Motif Rahasia", status=Motif.Status.DRAFT)
    _, html = get(client, reverse("motifs:gallery"), "en")
    assert "14 motifs" in html
    assert "Motif Rahasia" not in html


@pytest.mark.parametrize("params,present,absent", [
    ({"category": "flora"}, ["Kembang Kenanga"], ["Kepiting", "Merak"]),
    ({"owner": "destiani-gallery"}, ["Kuda Laut", "Pucuk Rebung"], ["Merak"]),
    ({"q": "peacock"}, ["Merak"], ["Kepiting"]),
    ({"q": "bunga rukem"}, ["Kembang Rukem"], ["Kembang Kenanga"]),
    ({"collection": "makhluk-laut"}, ["Ubur-ubur", "Kepiting"], ["Merak"]),
])
def test_gallery_filters(client, params, present, absent):
    _, html = get(client, reverse("motifs:gallery"), "en", **params)
    for name in present:
        assert name in html
    for name in absent:
        assert f">{name}<" not in html


def test_gallery_paginates_and_keeps_filters_in_page_links(client, settings):
    settings.CUALIFY_GALLERY_PAGE_SIZE = 4
    _, html = get(client, reverse("motifs:gallery"), "en", category="fauna")
    assert "Page 1 of 2" in html and "category=fauna&amp;page=2" in html
    _, page2 = get(client, reverse("motifs:gallery"), "en", category="fauna", page=2)
    assert "Page 2 of 2" in page2


def test_invalid_filter_is_ignored_with_a_notice(client):
    response, html = get(client, reverse("motifs:gallery"), "en", category="volcano")
    assert response.status_code == 200 and "were not valid" in html and "14 motifs" in html


def test_private_collection_is_not_listed(client):
    CollectionFactory(title_en="Secret works", is_public=False)
    _, html = get(client, reverse("motifs:gallery"), "en")
    assert "Secret works" not in html and "Flora of Bangka" in html


def test_motif_detail_shows_texts_images_and_unverified_owner_label(client):
    merak = Motif.objects.get(slug="merak")
    image = add_image(merak, credit="Foto: Galeri Uji")
    _, html_en = get(client, merak.get_absolute_url(), "en")
    assert "Peacock" in html_en and merak.meaning_en in html_en
    assert image.file.url in html_en and "Foto: Galeri Uji" in html_en
    assert "Ishadi Cual Gallery" in html_en and "unverified" in html_en
    _, html_id = get(client, merak.get_absolute_url(), "id")
    assert merak.description_id in html_id and "belum terverifikasi" in html_id


def test_verified_owner_gets_the_verified_badge(client):
    Ownership.objects.filter(motif__slug="merak").update(verified=True)
    _, html = get(client, reverse("motifs:detail", args=["merak"]), "en")
    assert "✓ verified" in html and "unverified" not in html


def test_draft_motif_is_hidden_from_visitors_and_shown_to_curators(client):
    draft = MotifFactory(status=Motif.Status.DRAFT)
    response, _ = get(client, draft.get_absolute_url())
    assert response.status_code == 404
    client.force_login(UserFactory(curator=True))
    response, html = get(client, draft.get_absolute_url(), "en")
    assert response.status_code == 200 and "Draft" in html


def test_unknown_motif_is_404(client):
    assert client.get("/gallery/no-such-motif/").status_code == 404


def test_language_switcher_sets_the_language_without_javascript(client):
    response = client.post(reverse("set_language"), {"language": "en", "next": "/gallery/"})
    assert response.status_code == 302 and response["Location"] == "/gallery/"
    assert "Gallery of Batik Cual motifs" in client.get("/gallery/").content.decode()
    client.post(reverse("set_language"), {"language": "id", "next": "/"})
    assert "Galeri motif Batik Cual" in client.get("/gallery/").content.decode()


STUDY_NAV = ["home", "generate", "motifs:gallery", "about", "login", "api-docs"]


@pytest.mark.parametrize("language,labels", [
    ("id", ["Beranda", "Produk", "Galeri", "Tentang Kami", "Masuk", "Dokumentasi API"]),
    ("en", ["Home", "Product", "Gallery", "About Us", "Login", "API documentation"]),
])
def test_the_footer_has_the_study_sites_navigation_and_the_api_docs(client, language, labels):
    """The original study's site had Home, Product, Gallery, About Us and Login: a visitor who
    knew it finds the same five in the footer (Product is our generator), and the API docs."""
    _, html = get(client, "/", language)
    start = html.index('data-testid="footer-nav"')
    footer = html[start:html.index("</nav>", start)]
    for label, name in zip(labels, STUDY_NAV):
        url = reverse(name)
        assert f'<a href="{url}">{label}</a>' in footer, (label, footer)
        assert client.get(url).status_code == 200, url
