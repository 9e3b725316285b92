"""The curators' workspace: the archive in the Django admin."""
from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core import intake
from core.imaging import ImageRejected

from . import services
from .models import Collection, CollectionItem, Motif, MotifAlias, MotifImage, Owner, Ownership, Page


# The image fields a curator sets; the file, hash and size come from the upload.
IMAGE_DETAIL_FIELDS = ["source", "credit", "licence", "training_consent", "split", "caption_id", "caption_en"]


class MotifImageForm(forms.ModelForm):
    """Uploads go through the archive's intake rules (sniffing, limits, EXIF dropped, dedupe)."""

    upload = forms.FileField(label=_("Image file"), required=False)

    class Meta:
        model = MotifImage
        fields = ["upload", *IMAGE_DETAIL_FIELDS, "position"]

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
        duplicate = services.image_find_duplicate(self.normalized.sha256)
        if duplicate:
            self.add_error("upload", services.DuplicateImage(duplicate).message)
        return cleaned

    def save(self, commit=True):
        if self.instance.pk or self.normalized is None:
            return super().save(commit)
        motif = self.instance.motif if self.instance.motif_id else self.cleaned_data.get("motif")
        data = {f: self.cleaned_data[f] for f in IMAGE_DETAIL_FIELDS if f in self.cleaned_data}
        self.instance = services.motif_image_create(motif=motif, normalized=self.normalized, **data)
        return self.instance

    def save_m2m(self):  # the inline formset calls it; an image has no many-to-many fields
        pass


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


class MotifImageInline(admin.TabularInline):
    model = MotifImage
    form = MotifImageForm
    extra = 1
    fields = ["preview", "upload", "source", "credit", "licence", "training_consent", "split", "position"]
    readonly_fields = ["preview"]

    @admin.display(description=_("Preview"))
    def preview(self, obj):
        return thumbnail(obj) if obj.pk else "—"


class MotifAliasInline(admin.TabularInline):
    model = MotifAlias
    extra = 1


class OwnershipInline(admin.TabularInline):
    model = Ownership
    extra = 0
    autocomplete_fields = ["owner"]


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


@admin.register(Motif)
class MotifAdmin(admin.ModelAdmin):
    list_display = ["cover", "name", "slug", "category", "status", "image_count", "updated"]
    list_display_links = ["cover", "name"]
    list_filter = ["status", "category", "origin", ("ownerships__owner", admin.RelatedOnlyFieldListFilter), VerifiedOwnershipFilter]
    search_fields = ["name", "name_en", "slug", "aliases__name", "description_id", "description_en"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MotifAliasInline, OwnershipInline, MotifImageInline]
    actions = ["publish", "unpublish"]
    fieldsets = [
        (None, {"fields": ["name", "name_en", "slug", "category", "origin", "status"]}),
        (_("Indonesian"), {"fields": ["description_id", "meaning_id"]}),
        (_("English"), {"fields": ["description_en", "meaning_en"]}),
    ]

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(num_images=Count("images", distinct=True))

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


@admin.register(Page)
class PageAdmin(admin.ModelAdmin):
    list_display = ["slug", "title_id", "title_en", "updated"]
    search_fields = ["title_id", "title_en", "body_id", "body_en"]
