"""The archive: motifs, who owns or makes them, their images, exhibitions and pages.

Texts a visitor reads come in Indonesian (``_id``) and English (``_en``); see
``core.i18n.BilingualMixin``.
"""
from django.core.exceptions import ValidationError
from django.core.validators import MinLengthValidator, RegexValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.i18n import BilingualMixin

from .text import normalize_name


class Category(models.TextChoices):
    FLORA = "flora", _("Flora")
    FAUNA = "fauna", _("Fauna")
    GEOMETRIC = "geometric", _("Geometric")
    CELESTIAL = "celestial", _("Celestial")
    MIXED = "mixed", _("Mixed")


class Origin(models.TextChoices):
    BANGKA = "bangka", _("Bangka")
    BELITUNG = "belitung", _("Belitung")
    BANGKA_BELITUNG = "bangka-belitung", _("Bangka Belitung")
    UNKNOWN = "unknown", _("Unknown")


class MotifQuerySet(models.QuerySet):
    def published(self):
        return self.filter(status=Motif.Status.PUBLISHED)


class Motif(BilingualMixin, models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")

    slug = models.SlugField(
        _("slug"), max_length=80, unique=True,
        help_text=_("Fixed key: class names, generator classes and the API use it."),
    )
    name = models.CharField(_("name"), max_length=120, help_text=_("The motif's own (Indonesian) name."))
    name_en = models.CharField(_("English name"), max_length=120, blank=True)
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    origin = models.CharField(_("origin"), max_length=20, choices=Origin.choices, default=Origin.BANGKA_BELITUNG)
    description_id = models.TextField(_("description (Indonesian)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    meaning_id = models.TextField(_("meaning (Indonesian)"), blank=True)
    meaning_en = models.TextField(_("meaning (English)"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    objects = MotifQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("motif")
        verbose_name_plural = _("motifs")
        indexes = [models.Index(fields=["status", "category"])]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("motifs:detail", kwargs={"slug": self.slug})

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED

    @property
    def description(self) -> str:
        return self.localized("description")

    @property
    def meaning(self) -> str:
        return self.localized("meaning")

    @property
    def cover_image(self):
        """The first image in display order, or None."""
        images = getattr(self, "prefetched_images", None)
        if images is not None:
            return images[0] if images else None
        return self.images.order_by("position", "id").first()


class MotifAlias(models.Model):
    """Another spelling or name of a motif, used when matching class names, folders, prompts."""

    motif = models.ForeignKey(Motif, on_delete=models.CASCADE, related_name="aliases", verbose_name=_("motif"))
    name = models.CharField(_("alias"), max_length=120)
    normalized = models.CharField(_("normalised form"), max_length=120, unique=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("alias")
        verbose_name_plural = _("aliases")

    def __str__(self):
        return self.name

    def clean(self):
        self.normalized = normalize_name(self.name)
        if not self.normalized:
            raise ValidationError({"name": _("An alias needs at least one letter or digit.")})
        clash = Motif.objects.filter(slug=self.normalized).exclude(pk=self.motif_id).first()
        clash = clash or MotifAlias.objects.filter(normalized=self.normalized).exclude(pk=self.pk).first()
        if clash:
            owner = clash if isinstance(clash, Motif) else clash.motif
            raise ValidationError({"name": _("“%(name)s” already names the motif %(motif)s.") % {"name": self.name, "motif": owner}})

    def save(self, *args, **kwargs):
        self.normalized = normalize_name(self.name)
        super().save(*args, **kwargs)


class Owner(BilingualMixin, models.Model):
    """A gallery, workshop or artisan that makes a motif or holds rights in it."""

    class Kind(models.TextChoices):
        GALLERY = "gallery", _("Gallery")
        WORKSHOP = "workshop", _("Workshop")
        ARTISAN = "artisan", _("Artisan")

    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=150)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.GALLERY)
    place = models.CharField(_("place"), max_length=150, blank=True, help_text=_("Town or regency, e.g. Pangkalpinang."))
    address = models.CharField(_("address"), max_length=255, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    website = models.URLField(_("website"), blank=True)
    description_id = models.TextField(_("description (Indonesian)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("owner")
        verbose_name_plural = _("owners")

    def __str__(self):
        return self.name

    @property
    def description(self) -> str:
        return self.localized("description")


class Ownership(models.Model):
    """Who makes a motif or holds rights in it. Unverified links are labelled wherever shown."""

    class Role(models.TextChoices):
        CREATOR = "creator", _("Creator")
        RIGHTS_HOLDER = "rights_holder", _("Rights holder")
        PRODUCER = "producer", _("Producer")

    motif = models.ForeignKey(Motif, on_delete=models.CASCADE, related_name="ownerships", verbose_name=_("motif"))
    owner = models.ForeignKey(Owner, on_delete=models.PROTECT, related_name="ownerships", verbose_name=_("owner"))
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.PRODUCER)
    reference = models.CharField(_("reference"), max_length=120, blank=True, help_text=_("E.g. a registration number."))
    since = models.DateField(_("since"), null=True, blank=True)
    verified = models.BooleanField(_("verified"), default=False)
    note = models.CharField(_("note"), max_length=255, blank=True)

    class Meta:
        ordering = ["-verified", "owner__name"]
        verbose_name = _("ownership")
        verbose_name_plural = _("ownerships")
        constraints = [models.UniqueConstraint(fields=["motif", "owner", "role"], name="unique_ownership_role")]

    def __str__(self):
        return f"{self.owner} – {self.motif} ({self.get_role_display()})"


def archive_image_path(instance, filename):
    """Stored names are generated from the content hash, never taken from the client."""
    return f"archive/{instance.sha256[:2]}/{instance.sha256}.{filename.rsplit('.', 1)[-1].lower()}"


class MotifImage(BilingualMixin, models.Model):
    class Source(models.TextChoices):
        GALLERY_PHOTO = "gallery_photo", _("Gallery photo")
        ONLINE = "online", _("Online source")
        VISITOR = "visitor", _("Visitor contribution")
        GENERATED = "generated", _("AI-generated design")
        SYNTHETIC_DEMO = "synthetic_demo", _("Synthetic demo (not real cloth)")

    class Split(models.TextChoices):
        TRAIN = "train", _("Training")
        VAL = "val", _("Validation")
        TEST = "test", _("Test")
        UNASSIGNED = "unassigned", _("Unassigned")

    motif = models.ForeignKey(Motif, on_delete=models.CASCADE, related_name="images", verbose_name=_("motif"))
    file = models.ImageField(_("file"), upload_to=archive_image_path, max_length=200)
    sha256 = models.CharField(
        _("SHA-256"), max_length=64, unique=True, editable=False,
        validators=[MinLengthValidator(64), RegexValidator(r"^[0-9a-f]{64}$")],
    )
    width = models.PositiveIntegerField(_("width"), editable=False, default=0)
    height = models.PositiveIntegerField(_("height"), editable=False, default=0)
    size_bytes = models.PositiveIntegerField(_("size in bytes"), editable=False, default=0)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices, default=Source.GALLERY_PHOTO)
    credit = models.CharField(_("credit"), max_length=200, blank=True)
    licence = models.CharField(_("licence"), max_length=100, blank=True)
    training_consent = models.BooleanField(
        _("consent for training"), default=True,
        help_text=_("May this image be used to train the models? Visitor contributions need the visitor's own consent."),
    )
    split = models.CharField(_("split"), max_length=10, choices=Split.choices, default=Split.UNASSIGNED)
    caption_id = models.CharField(_("caption (Indonesian)"), max_length=255, blank=True)
    caption_en = models.CharField(_("caption (English)"), max_length=255, blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["motif", "position", "id"]
        verbose_name = _("motif image")
        verbose_name_plural = _("motif images")
        indexes = [models.Index(fields=["motif", "split"])]

    def __str__(self):
        return f"{self.motif} · {self.sha256[:10]}"

    @property
    def is_synthetic(self) -> bool:
        return self.source == self.Source.SYNTHETIC_DEMO

    @property
    def alt_text(self) -> str:
        caption = self.localized("caption")
        return caption or str(self.motif)


class Collection(BilingualMixin, models.Model):
    """A curated, ordered set of motifs: an exhibition, or one gallery's works."""

    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    title_id = models.CharField(_("title (Indonesian)"), max_length=150)
    title_en = models.CharField(_("title (English)"), max_length=150, blank=True)
    description_id = models.TextField(_("description (Indonesian)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    owner = models.ForeignKey(
        Owner, on_delete=models.SET_NULL, null=True, blank=True, related_name="collections",
        verbose_name=_("owner"), help_text=_("Set when the collection is one gallery's works."),
    )
    is_public = models.BooleanField(_("public"), default=False)
    position = models.PositiveIntegerField(_("position"), default=0)
    motifs = models.ManyToManyField(Motif, through="CollectionItem", related_name="collections", verbose_name=_("motifs"))
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["position", "title_id"]
        verbose_name = _("collection")
        verbose_name_plural = _("collections")

    def __str__(self):
        return self.title_id

    @property
    def title(self) -> str:
        return self.localized("title")

    @property
    def description(self) -> str:
        return self.localized("description")


class CollectionItem(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items", verbose_name=_("collection"))
    motif = models.ForeignKey(Motif, on_delete=models.CASCADE, related_name="collection_items", verbose_name=_("motif"))
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("collection item")
        verbose_name_plural = _("collection items")
        constraints = [models.UniqueConstraint(fields=["collection", "motif"], name="unique_collection_motif")]

    def __str__(self):
        return f"{self.collection} · {self.motif}"


class Page(BilingualMixin, models.Model):
    """Curator-editable bilingual content such as the history of Batik Cual."""

    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    title_id = models.CharField(_("title (Indonesian)"), max_length=150)
    title_en = models.CharField(_("title (English)"), max_length=150, blank=True)
    body_id = models.TextField(_("text (Indonesian)"), help_text=_("Paragraphs separated by a blank line."))
    body_en = models.TextField(_("text (English)"), blank=True, help_text=_("Paragraphs separated by a blank line."))
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = _("page")
        verbose_name_plural = _("pages")

    def __str__(self):
        return self.title_id

    @property
    def title(self) -> str:
        return self.localized("title")

    @property
    def body(self) -> str:
        return self.localized("body")


def page_image_path(instance, filename):
    """Like archive images: named by content hash, never by the client."""
    return f"pages/{instance.sha256[:2]}/{instance.sha256}.{filename.rsplit('.', 1)[-1].lower()}"


class PageImage(BilingualMixin, models.Model):
    """A picture on a history or about page, uploaded by a curator (never training data)."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="images", verbose_name=_("page"))
    file = models.ImageField(_("file"), upload_to=page_image_path, max_length=200)
    sha256 = models.CharField(_("SHA-256"), max_length=64, editable=False)
    width = models.PositiveIntegerField(_("width"), editable=False, default=0)
    height = models.PositiveIntegerField(_("height"), editable=False, default=0)
    alt_id = models.CharField(
        _("alt text (Indonesian)"), max_length=255,
        help_text=_("What the picture shows, for visitors who cannot see it."),
    )
    alt_en = models.CharField(_("alt text (English)"), max_length=255, blank=True)
    caption_id = models.CharField(_("caption (Indonesian)"), max_length=255, blank=True)
    caption_en = models.CharField(_("caption (English)"), max_length=255, blank=True)
    credit = models.CharField(_("credit"), max_length=200, blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["page", "position", "id"]
        verbose_name = _("page image")
        verbose_name_plural = _("page images")

    def __str__(self):
        return f"{self.page} · {self.alt_id[:40]}"

    @property
    def alt_text(self) -> str:
        return self.localized("alt")

    @property
    def caption(self) -> str:
        return self.localized("caption")


class PageSource(models.Model):
    """A work a page draws on: a book, an article, a museum record."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="sources", verbose_name=_("page"))
    title = models.CharField(_("title"), max_length=255)
    url = models.URLField(_("URL"), max_length=500, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["page", "position", "id"]
        verbose_name = _("source")
        verbose_name_plural = _("sources")

    def __str__(self):
        return self.title
