"""The curators' workspace: the archive in the Django admin."""
from django import forms
from django.contrib import admin, messages
from django.db import models
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core import intake
from core.imaging import ImageRejected

from . import services
from .models import Collection, CollectionItem, Motif, MotifAlias, MotifImage, Owner, Ownership, Page, PageImage, PageSource


# The image fields a curator sets; the file, hash and size come from the upload.
IMAGE_DETAIL_FIELDS = ["source", "credit", "licence", "training_consent", "split", "caption_id", "caption_en"]


class IntakeUploadForm(forms.ModelForm):
    """An image row whose file is uploaded once, through the archive's intake rules (sniffing,
    limits, EXIF dropped); ``create(normalized, details)`` makes the row. A file is never
    replaced: a new picture is a new row."""

    upload = forms.FileField(label=_("Image file"), required=False)
    detail_fields: list[str] = []

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("upload")
        self.normalized = None
        if self.instance.pk:
            if upload:
                self.add_error("upload", _("An image's file cannot be replaced; add a new image instead."))
            return cleaned
        if not upload:
            self.add_error("upload", _("Choose an image file."))
            return cleaned
        try:
            self.normalized = intake.image_normalize(upload.read())
        except ImageRejected as exc:
            self.add_error("upload", intake.rejection_message(exc))
            return cleaned
        self.check_normalized(self.normalized)
        return cleaned

    def check_normalized(self, normalized) -> None:
        """More rules for an accepted picture (errors through ``add_error``)."""

    def create(self, normalized, details: dict):
        raise NotImplementedError

    def save(self, commit=True):
        if self.instance.pk or self.normalized is None:
            return super().save(commit)
        details = {f: self.cleaned_data[f] for f in self.detail_fields if f in self.cleaned_data}
        self.instance = self.create(self.normalized, details)
        return self.instance

    def save_m2m(self):  # the inline formset calls it; an image has no many-to-many fields
        pass


class MotifImageForm(IntakeUploadForm):
    """Archive images: the intake rules, and the same picture never twice."""

    detail_fields = IMAGE_DETAIL_FIELDS

    class Meta:
        model = MotifImage
        fields = ["upload", *IMAGE_DETAIL_FIELDS, "position"]

    def check_normalized(self, normalized) -> None:
        duplicate = services.image_find_duplicate(normalized.sha256)
        if duplicate:
            self.add_error("upload", services.DuplicateImage(duplicate).message)

    def create(self, normalized, details: dict):
        motif = self.instance.motif if self.instance.motif_id else self.cleaned_data.get("motif")
        return services.motif_image_create(motif=motif, normalized=normalized, **details)


class StandaloneMotifImageForm(MotifImageForm):
    class Meta(MotifImageForm.Meta):
        fields = ["motif"] + MotifImageForm.Meta.fields


def thumbnail(image: MotifImage | None, size: int = 72):
    if not image or not image.file:
        return "—"
    return format_html(
        '<img src="{}" alt="{}" width="{}" height="{}" style="object-fit:cover;border-radius:4px">',
        image.file.url, image.alt_text, size, size,
    )


class ImageInline(admin.StackedInline):
    """An inline of pictures uploaded through the intake rules, each with its thumbnail."""

    readonly_fields = ["preview"]

    @admin.display(description=_("Preview"))
    def preview(self, obj):
        return thumbnail(obj) if obj.pk else "—"


class MotifImageInline(ImageInline):
    # Stacked, two fields a row: the eight columns of a tabular inline made the motif form
    # nearly 2000 px wide.
    model = MotifImage
    form = MotifImageForm
    extra = 1
    fields = ["preview", "upload", ("source", "split"), ("credit", "licence"), ("training_consent", "position")]


class MotifAliasInline(admin.TabularInline):
    model = MotifAlias
    extra = 1


class OwnershipInline(admin.StackedInline):
    # Stacked like the images: six columns overflowed a 1366 px screen, and each field gets its label.
    model = Ownership
    extra = 0
    autocomplete_fields = ["owner"]
    fields = [("owner", "role"), ("reference", "since"), ("verified", "note")]


class VerifiedOwnershipFilter(admin.SimpleListFilter):
    title = _("ownership verified")
    parameter_name = "verified"

    def lookups(self, request, model_admin):
        return [("yes", _("Verified")), ("no", _("Unverified"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(ownerships__verified=True).distinct()
        if self.value() == "no":
            return queryset.filter(ownerships__verified=False).distinct()
        return queryset


def active_model_slugs() -> dict[str, set[str] | None]:
    """The motif slugs each active classifier and generator has classes for (its class map),
    by kind; None where no version of that kind is active."""
    from inference.models import ModelKind, ModelVersion

    known: dict[str, set[str] | None] = {ModelKind.CLASSIFIER: None, ModelKind.GENERATOR: None}
    for kind, class_map in ModelVersion.objects.filter(is_active=True, kind__in=list(known)).values_list("kind", "class_map"):
        known[kind] = {slug for slug in (class_map or {}).values() if slug}
    return known


def with_model_knowledge(queryset):
    """Annotate ``unknown_to_classifier`` / ``unknown_to_generator``: True where the active
    model of that kind has no class for the motif (None where none is active)."""
    from django.db.models import BooleanField, Case, Value, When

    annotations = {}
    for kind, slugs in active_model_slugs().items():
        annotations[f"unknown_to_{kind}"] = Value(None, BooleanField()) if slugs is None else Case(
            When(slug__in=sorted(slugs), then=Value(False)), default=Value(True), output_field=BooleanField())
    return queryset.annotate(**annotations)


def _missing_kinds(motif) -> list[str]:
    if not hasattr(motif, "unknown_to_classifier"):  # a motif being added, or not from the admin's queryset
        known = active_model_slugs()
        return [kind for kind, slugs in known.items() if slugs is not None and motif.slug not in slugs]
    return [kind for kind in ("classifier", "generator") if getattr(motif, f"unknown_to_{kind}")]


class ModelKnowledgeFilter(admin.SimpleListFilter):
    title = _("known to the active models")
    parameter_name = "known"

    def lookups(self, request, model_admin):
        return [("yes", _("Known to both")), ("no", _("Not yet known to one of them"))]

    def queryset(self, request, queryset):
        known = [slugs for slugs in active_model_slugs().values() if slugs is not None]
        if self.value() == "yes":
            for slugs in known:
                queryset = queryset.filter(slug__in=sorted(slugs))
        elif self.value() == "no":
            from django.db.models import Q

            unknown = Q(pk__in=[])
            for slugs in known:
                unknown |= ~Q(slug__in=sorted(slugs))
            queryset = queryset.filter(unknown)
        return queryset


class ModelKnowledgeMixin:
    """Says, on the motif list and form, when the active classifier or generator has no class
    for a motif yet (a new motif), and what to do about it."""

    MISSING_LABELS = {
        ("classifier",): _("not yet to the classifier"),
        ("generator",): _("not yet to the generator"),
        ("classifier", "generator"): _("not yet to the classifier nor the generator"),
    }

    @admin.display(description=_("Known to the models"))
    def model_knowledge(self, obj):
        missing = _missing_kinds(obj)
        return self.MISSING_LABELS[tuple(missing)] if missing else _("yes")

    @admin.display(description=_("Known to the models"))
    def model_notice(self, obj):
        from django.urls import reverse

        missing = _missing_kinds(obj)
        if not missing:
            return _("The active classifier and generator both know this motif.")
        lines = {
            "classifier": _("The active classifier does not know this motif yet: a photo of it is answered as "
                            "another motif (or as not a known motif)."),
            "generator": _("The active generator does not know this motif yet: it cannot be generated or used "
                           "in a fusion."),
        }
        return format_html(
            '<div class="cualify-notice">{}<p>{}</p><p><a href="{}">{}</a></p></div>',
            format_html_join("", "<p><strong>{}</strong></p>", ((lines[kind],) for kind in missing)),
            _("What to do: add images of it here (with consent for training), retrain (manage.py train_classifier, "
              "manage.py train_generator), then activate the new version under Model versions."),
            reverse("admin:inference_modelversion_changelist"), _("Model versions"),
        )


@admin.register(Motif)
class MotifAdmin(ModelKnowledgeMixin, admin.ModelAdmin):
    list_display = ["cover", "name", "slug", "category", "status", "image_count", "model_knowledge", "updated"]
    list_display_links = ["cover", "name"]
    list_filter = ["status", "category", "origin", ("ownerships__owner", admin.RelatedOnlyFieldListFilter), VerifiedOwnershipFilter,
                   ModelKnowledgeFilter]
    readonly_fields = ["model_notice"]
    search_fields = ["name", "name_en", "slug", "aliases__name", "description_id", "description_en"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MotifAliasInline, OwnershipInline, MotifImageInline]
    actions = ["publish", "unpublish"]
    fieldsets = [
        (None, {"fields": ["name", "name_en", "slug", "category", "origin", "status", "model_notice"]}),
        (_("Indonesian"), {"fields": ["description_id", "meaning_id"]}),
        (_("English"), {"fields": ["description_en", "meaning_en"]}),
    ]

    def get_queryset(self, request):
        from django.db.models import Count

        return with_model_knowledge(super().get_queryset(request).annotate(num_images=Count("images", distinct=True)))

    @admin.display(description=_("Image"))
    def cover(self, obj):
        return thumbnail(obj.cover_image, 48)

    @admin.display(description=_("Images"), ordering="num_images")
    def image_count(self, obj):
        return obj.num_images

    @admin.action(description=_("Publish the selected motifs"), permissions=["change"])
    def publish(self, request, queryset):
        count = services.motifs_set_status(motifs=queryset, status=Motif.Status.PUBLISHED)
        self.message_user(request, ngettext("%d motif published.", "%d motifs published.", count) % count, messages.SUCCESS)

    @admin.action(description=_("Unpublish the selected motifs"), permissions=["change"])
    def unpublish(self, request, queryset):
        count = services.motifs_set_status(motifs=queryset, status=Motif.Status.DRAFT)
        self.message_user(request, ngettext("%d motif unpublished.", "%d motifs unpublished.", count) % count, messages.SUCCESS)


def _split_action(split: str, label):
    def action(modeladmin, request, queryset):
        count = services.images_assign_split(images=queryset, split=split)
        modeladmin.message_user(request, ngettext("%d image assigned.", "%d images assigned.", count) % count, messages.SUCCESS)

    action.__name__ = f"assign_split_{split}"
    return admin.action(description=label, permissions=["change"])(action)


@admin.register(MotifImage)
class MotifImageAdmin(admin.ModelAdmin):
    form = StandaloneMotifImageForm
    list_display = ["preview", "motif", "source", "split", "training_consent", "width", "height", "created"]
    list_filter = ["split", "source", "training_consent", "motif__category", "motif"]
    search_fields = ["motif__name", "sha256", "credit"]
    readonly_fields = ["preview", "sha256", "width", "height", "size_bytes", "created"]
    autocomplete_fields = ["motif"]
    actions = [
        _split_action(MotifImage.Split.TRAIN, _("Assign to the training split")),
        _split_action(MotifImage.Split.VAL, _("Assign to the validation split")),
        _split_action(MotifImage.Split.TEST, _("Assign to the test split")),
        _split_action(MotifImage.Split.UNASSIGNED, _("Unassign the split")),
    ]

    @admin.display(description=_("Preview"))
    def preview(self, obj):
        return thumbnail(obj)


@admin.register(Owner)
class OwnerAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "place", "website"]
    list_filter = ["kind"]
    search_fields = ["name", "place"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Ownership)
class OwnershipAdmin(admin.ModelAdmin):
    list_display = ["motif", "owner", "role", "verified", "reference", "since"]
    list_filter = ["verified", "role", "owner"]
    list_editable = ["verified"]
    search_fields = ["motif__name", "owner__name", "reference"]
    autocomplete_fields = ["motif", "owner"]


class CollectionItemInline(admin.TabularInline):
    model = CollectionItem
    extra = 1
    autocomplete_fields = ["motif"]


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ["title_id", "title_en", "owner", "is_public", "position"]
    list_filter = ["is_public"]
    list_editable = ["is_public", "position"]
    search_fields = ["title_id", "title_en"]
    prepopulated_fields = {"slug": ["title_id"]}
    inlines = [CollectionItemInline]


PAGE_IMAGE_DETAIL_FIELDS = ["alt_id", "alt_en", "caption_id", "caption_en", "credit", "position"]


class PageImageForm(IntakeUploadForm):
    """A page's picture passes the archive's intake rules too."""

    detail_fields = PAGE_IMAGE_DETAIL_FIELDS

    class Meta:
        model = PageImage
        fields = ["upload", *PAGE_IMAGE_DETAIL_FIELDS]

    def create(self, normalized, details: dict):
        return services.page_image_create(page=self.instance.page, normalized=normalized, **details)


class PageImageInline(ImageInline):
    model = PageImage
    form = PageImageForm
    extra = 0
    fields = ["preview", "upload", *PAGE_IMAGE_DETAIL_FIELDS]


class PageSourceInline(admin.TabularInline):
    model = PageSource
    extra = 1
    fields = ["title", "url", "note", "position"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Page)
class PageAdmin(admin.ModelAdmin):
    list_display = ["slug", "title_id", "title_en", "updated"]
    search_fields = ["title_id", "title_en", "body_id", "body_en"]
    inlines = [PageImageInline, PageSourceInline]
