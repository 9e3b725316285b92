"""The archive over the REST API: motifs, owners, collections and images. Everyone reads the
published catalogue; curators also see drafts and write motifs, owners and images."""
from __future__ import annotations

import re

import django_filters
from django.core.validators import URLValidator, validate_email
from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import filters, mixins, serializers, status, viewsets
from rest_framework.response import Response

from accounts.roles import is_curator
from accounts.permissions import CuratorWritesOthersRead
from core.api import ApiError, MultiPartParser, image_rejected
from core.api_schema import error_response
from core.imaging import ImageRejected

from . import services
from .models import Category, Collection, CollectionItem, Motif, MotifImage, Origin, Owner, Ownership

# --- serializers -----------------------------------------------------------------------------


class MotifImageSerializer(serializers.ModelSerializer):
    motif = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    url = serializers.SerializerMethodField(help_text="Absolute address of the stored (re-encoded) image.")
    caption = serializers.SerializerMethodField(help_text="The caption in the caller's language.")

    class Meta:
        model = MotifImage
        fields = ["id", "motif", "url", "width", "height", "size_bytes", "sha256", "source", "credit", "licence",
                  "caption", "caption_id", "caption_en", "position", "created"]
        read_only_fields = fields

    def get_url(self, image) -> str:
        return self.context["request"].build_absolute_uri(image.file.url)

    def get_caption(self, image) -> str:
        return image.localized("caption")


class MotifImageCreateSerializer(serializers.Serializer):
    """A new archive image. It is checked by its content (not its name or type), its metadata is
    dropped and it is stored re-encoded under a name made from its hash."""

    motif = serializers.SlugRelatedField(slug_field="slug", queryset=Motif.objects.all())
    file = serializers.FileField(allow_empty_file=True, help_text="JPEG, PNG, WebP, GIF, BMP or TIFF.")
    source = serializers.ChoiceField(choices=MotifImage.Source.choices, default=MotifImage.Source.GALLERY_PHOTO)
    credit = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    licence = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    training_consent = serializers.BooleanField(default=True)
    caption_id = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    caption_en = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class OwnershipSerializer(serializers.ModelSerializer):
    """One owner of a motif: unverified links are labelled wherever they are shown."""

    slug = serializers.CharField(source="owner.slug", read_only=True)
    name = serializers.CharField(source="owner.name", read_only=True)
    kind = serializers.CharField(source="owner.kind", read_only=True)
    place = serializers.CharField(source="owner.place", read_only=True)

    class Meta:
        model = Ownership
        fields = ["slug", "name", "kind", "place", "role", "reference", "since", "verified"]
        read_only_fields = fields


class MotifSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:motif-detail", lookup_field="slug")
    description = serializers.CharField(read_only=True, help_text="In the caller's language.")
    cover = serializers.SerializerMethodField(help_text="Address of the first image, or null.")

    class Meta:
        model = Motif
        fields = ["url", "slug", "name", "name_en", "category", "origin", "status", "description", "cover", "updated"]
        read_only_fields = fields

    def get_cover(self, motif) -> str | None:
        images = getattr(motif, "prefetched_images", None)
        image = images[0] if images else None
        return self.context["request"].build_absolute_uri(image.file.url) if image else None


class MotifDetailSerializer(MotifSerializer):
    meaning = serializers.CharField(read_only=True, help_text="In the caller's language.")
    aliases = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    images = serializers.SerializerMethodField()
    owners = OwnershipSerializer(source="ownerships", many=True, read_only=True)

    class Meta(MotifSerializer.Meta):
        fields = MotifSerializer.Meta.fields + [
            "description_id", "description_en", "meaning", "meaning_id", "meaning_en", "aliases", "images", "owners",
            "created",
        ]
        read_only_fields = fields

    @extend_schema_field(MotifImageSerializer(many=True))
    def get_images(self, motif):
        return MotifImageSerializer(motif.prefetched_images, many=True, context=self.context).data


class MotifWriteSerializer(serializers.ModelSerializer):
    """A new motif (aliases are edited in the admin; images are added through /images/)."""

    class Meta:
        model = Motif
        fields = ["slug", "name", "name_en", "category", "origin", "status", "description_id", "description_en",
                  "meaning_id", "meaning_en"]


class MotifUpdateSerializer(MotifWriteSerializer):
    """The slug is the motif's fixed key (class names and generator classes use it)."""

    class Meta(MotifWriteSerializer.Meta):
        read_only_fields = ["slug"]


class OwnerMotifSerializer(serializers.ModelSerializer):
    slug = serializers.CharField(source="motif.slug", read_only=True)
    name = serializers.CharField(source="motif.name", read_only=True)

    class Meta:
        model = Ownership
        fields = ["slug", "name", "role", "verified"]
        read_only_fields = fields


class OptionalURLField(serializers.CharField):
    """A web address or blank. Checked here rather than by a validator, which would give the
    schema ``format: uri`` — a format that refuses the blank the archive allows."""

    validate_value = staticmethod(URLValidator())

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value:
            self.validate_value(value)
        return value


class OptionalEmailField(OptionalURLField):
    validate_value = staticmethod(validate_email)


class OwnerSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:owner-detail", lookup_field="slug")
    website = serializers.CharField(read_only=True, help_text="A web address, or empty.")
    description = serializers.CharField(read_only=True, help_text="In the caller's language.")
    motifs = serializers.SerializerMethodField(help_text="The owner's motifs (published ones unless a curator asks).")

    class Meta:
        model = Owner
        fields = ["url", "id", "slug", "name", "kind", "place", "website", "description", "description_id",
                  "description_en", "motifs"]
        read_only_fields = fields

    @extend_schema_field(OwnerMotifSerializer(many=True))
    def get_motifs(self, owner):
        return OwnerMotifSerializer(owner.visible_ownerships, many=True, context=self.context).data


class OwnerCuratorSerializer(OwnerSerializer):
    """Curators also see (and write) the contact details, which public pages never show."""

    website = OptionalURLField(required=False, allow_blank=True, max_length=200, help_text="A web address, or empty.")
    email = OptionalEmailField(required=False, allow_blank=True, max_length=254, help_text="An e-mail address, or empty.")

    class Meta(OwnerSerializer.Meta):
        fields = OwnerSerializer.Meta.fields + ["address", "phone", "email"]
        read_only_fields = ["url", "id", "motifs"]


class CollectionItemSerializer(serializers.ModelSerializer):
    slug = serializers.CharField(source="motif.slug", read_only=True)
    name = serializers.CharField(source="motif.name", read_only=True)
    name_en = serializers.CharField(source="motif.name_en", read_only=True)
    url = serializers.HyperlinkedRelatedField(source="motif", view_name="api:motif-detail", lookup_field="slug",
                                              read_only=True)

    class Meta:
        model = CollectionItem
        fields = ["position", "slug", "name", "name_en", "url"]
        read_only_fields = fields


class CollectionSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:collection-detail", lookup_field="slug")
    title = serializers.CharField(read_only=True, help_text="In the caller's language.")
    description = serializers.CharField(read_only=True, help_text="In the caller's language.")
    owner = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True,
                                         help_text="The gallery whose works these are, if one.")
    motifs = CollectionItemSerializer(source="items", many=True, read_only=True, help_text="In the curators' order.")

    class Meta:
        model = Collection
        fields = ["url", "slug", "title", "title_id", "title_en", "description", "description_id", "description_en",
                  "owner", "is_public", "motifs"]
        read_only_fields = fields


# --- filters ---------------------------------------------------------------------------------


class MotifFilter(django_filters.FilterSet):
    category = django_filters.ChoiceFilter(choices=Category.choices)
    origin = django_filters.ChoiceFilter(choices=Origin.choices)
    owner = django_filters.CharFilter(method="filter_owner", label="Owner slug or id")
    status = django_filters.ChoiceFilter(choices=Motif.Status.choices, label="Status (drafts: curators only)")

    class Meta:
        model = Motif
        fields = ["category", "origin", "owner", "status"]

    def filter_owner(self, queryset, name, value):
        # An id is a plain number the database can hold ("²" is a digit too, to Python).
        if re.fullmatch(r"[0-9]{1,18}", value):
            return queryset.filter(ownerships__owner_id=int(value)).distinct()
        return queryset.filter(ownerships__owner__slug=value).distinct()


class MotifImageFilter(django_filters.FilterSet):
    motif = django_filters.CharFilter(field_name="motif__slug", label="Motif slug")
    source = django_filters.ChoiceFilter(choices=MotifImage.Source.choices)

    class Meta:
        model = MotifImage
        fields = ["motif", "source"]


# --- views -----------------------------------------------------------------------------------


def _slug(value: str) -> list[OpenApiParameter]:
    """The path's slug with an example from the seeded catalogue (the docs' "Try it out" and
    the schema tests start from it)."""
    return [OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH,
                             examples=[OpenApiExample(value, value=value)])]


def _images():
    return Prefetch("images", queryset=MotifImage.objects.order_by("position", "id"), to_attr="prefetched_images")


@extend_schema_view(
    list=extend_schema(summary="List motifs", description=(
        "Published motifs (curators: drafts too). Filter by category, origin, owner (slug or id) and, for "
        "curators, status; `search` looks in names, aliases, descriptions and meanings.")),
    retrieve=extend_schema(summary="One motif with its images and owners", responses=MotifDetailSerializer,
                           parameters=_slug("merak")),
    create=extend_schema(summary="Create a motif (curators)", request=MotifWriteSerializer,
                         responses={201: MotifDetailSerializer},
                         examples=[OpenApiExample("A draft motif", request_only=True, value={
                             "slug": "bunga-cempaka", "name": "Bunga Cempaka", "name_en": "Champak flower",
                             "category": "flora", "origin": "bangka", "status": "draft",
                             "description_id": "Motif bunga cempaka.", "description_en": "A champak flower motif."})]),
    update=extend_schema(summary="Replace a motif's fields (curators)", request=MotifUpdateSerializer,
                         responses=MotifDetailSerializer, parameters=_slug("merak")),
    partial_update=extend_schema(summary="Change some of a motif's fields (curators)", request=MotifUpdateSerializer,
                                 responses=MotifDetailSerializer, parameters=_slug("merak"),
                                 examples=[OpenApiExample("Publish", request_only=True, value={"status": "published"})]),
)
class MotifViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    """The Batik Cual motifs. A motif is retired by setting it to draft."""

    # No delete: removing a motif (and its images) stays in the admin, where the cascade is shown.

    permission_classes = [CuratorWritesOthersRead]
    lookup_field = "slug"
    lookup_value_converter = "slug"
    filterset_class = MotifFilter
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend, filters.SearchFilter, filters.OrderingFilter]
    search_fields = ["name", "name_en", "slug", "aliases__name", "description_id", "description_en", "meaning_id",
                     "meaning_en"]
    ordering_fields = ["name", "created", "updated"]
    ordering = ["name"]

    def get_queryset(self):
        motifs = Motif.objects.all() if is_curator(self.request.user) else Motif.objects.published()
        if self.action == "list":
            return motifs.prefetch_related(_images())
        return motifs.prefetch_related(
            _images(), Prefetch("ownerships", queryset=Ownership.objects.select_related("owner")), "aliases",
        )

    def get_serializer_class(self):
        return {"list": MotifSerializer, "create": MotifWriteSerializer, "update": MotifUpdateSerializer,
                "partial_update": MotifUpdateSerializer}.get(self.action, MotifDetailSerializer)

    def _detail(self, motif, status_code=status.HTTP_200_OK):
        motif = self.get_queryset().get(pk=motif.pk)
        return Response(MotifDetailSerializer(motif, context=self.get_serializer_context()).data, status=status_code)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._detail(serializer.save(), status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        return self._detail(serializer.save())


@extend_schema_view(
    list=extend_schema(summary="List owners (galleries, workshops, artisans)",
                       description="Curators also see address, phone and e-mail."),
    retrieve=extend_schema(summary="One owner with their motifs", parameters=_slug("ishadi-cual-gallery")),
    create=extend_schema(summary="Create an owner (curators)", request=OwnerCuratorSerializer,
                         responses={201: OwnerCuratorSerializer}),
    update=extend_schema(summary="Replace an owner's fields (curators)", request=OwnerCuratorSerializer,
                         responses=OwnerCuratorSerializer, parameters=_slug("ishadi-cual-gallery")),
    partial_update=extend_schema(summary="Change some of an owner's fields (curators)", request=OwnerCuratorSerializer,
                                 responses=OwnerCuratorSerializer, parameters=_slug("ishadi-cual-gallery")),
)
class OwnerViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    permission_classes = [CuratorWritesOthersRead]
    lookup_field = "slug"
    lookup_value_converter = "slug"
    filter_backends = [filters.SearchFilter]
    search_fields = ["name", "place", "slug"]

    def get_queryset(self):
        links = Ownership.objects.select_related("motif").order_by("motif__name", "role")
        if not is_curator(self.request.user):
            links = links.filter(motif__status=Motif.Status.PUBLISHED)
        return Owner.objects.prefetch_related(Prefetch("ownerships", queryset=links, to_attr="visible_ownerships"))

    def get_serializer_class(self):
        return OwnerCuratorSerializer if is_curator(self.request.user) else OwnerSerializer

    def perform_create(self, serializer):
        serializer.save()
        serializer.instance.visible_ownerships = []

    def perform_update(self, serializer):
        serializer.save()
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)


@extend_schema_view(
    list=extend_schema(summary="List collections", description="Public collections (curators: all), each with its "
                                                               "motifs in order."),
    retrieve=extend_schema(summary="One collection with its motifs in order", parameters=_slug("flora-bangka")),
)
class CollectionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = CollectionSerializer
    lookup_field = "slug"
    lookup_value_converter = "slug"

    def get_queryset(self):
        items = CollectionItem.objects.select_related("motif").order_by("position", "id")
        collections = Collection.objects.select_related("owner")
        if not is_curator(self.request.user):
            items = items.filter(motif__status=Motif.Status.PUBLISHED)
            collections = collections.filter(is_public=True)
        return collections.prefetch_related(Prefetch("items", queryset=items))


@extend_schema_view(
    list=extend_schema(summary="List archive images", description="Images of published motifs (curators: all)."),
    retrieve=extend_schema(summary="One archive image"),
    create=extend_schema(
        summary="Add an image to a motif (curators)", request={"multipart/form-data": MotifImageCreateSerializer},
        responses={201: MotifImageSerializer, 400: error_response("Not a usable image, or invalid fields."),
                   409: error_response("The same image (after re-encoding) is already in the archive."),
                   413: error_response("The file or the request is too large.")},
    ),
)
class MotifImageViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    permission_classes = [CuratorWritesOthersRead]
    filterset_class = MotifImageFilter
    lookup_value_converter = "int"
    parser_classes = [MultiPartParser]

    def get_queryset(self):
        images = MotifImage.objects.select_related("motif").order_by("motif__name", "position", "id")
        return images if is_curator(self.request.user) else images.filter(motif__status=Motif.Status.PUBLISHED)

    def get_serializer_class(self):
        return MotifImageCreateSerializer if self.action == "create" else MotifImageSerializer


    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        upload = data.pop("file")
        try:
            image = services.motif_image_create(data=upload.read(), **data)
        except ImageRejected as exc:
            raise image_rejected(exc, field="file") from exc
        except services.DuplicateImage as exc:
            raise ApiError(exc.message, status=409, code="duplicate", existing=exc.existing.pk) from exc
        return Response(MotifImageSerializer(image, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)
