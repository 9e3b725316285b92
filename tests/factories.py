"""factory_boy factories for archive rows, and helpers that make real image bytes."""
import io

import factory
from django.contrib.auth.models import User
from PIL import Image

from accounts.roles import make_curator
from motifs import services
from motifs.models import Collection, Motif, Owner, Ownership


def image_bytes(color=(120, 20, 20), size=(64, 64), fmt="PNG", mode="RGB", **save_kwargs) -> bytes:
    """A real encoded image; vary ``color`` to get different bytes."""
    buffer = io.BytesIO()
    picture = Image.new(mode, size, color)
    # A little structure so JPEG encodings of different colours really differ.
    for x in range(0, size[0], 7):
        picture.putpixel((x, x % size[1]), (255, 215, 0) if mode == "RGB" else picture.getpixel((x, x % size[1])))
    picture.save(buffer, fmt, **save_kwargs)
    return buffer.getvalue()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("batik-cual-2026")

    @factory.post_generation
    def curator(self, create, extracted, **kwargs):
        if create and extracted:
            make_curator(self)


class MotifFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Motif

    slug = factory.Sequence(lambda n: f"test-motif-{n}")
    name = factory.Sequence(lambda n: f"Test Motif {n}")
    name_en = factory.Sequence(lambda n: f"Test motif {n}")
    category = "flora"
    status = Motif.Status.PUBLISHED
    description_id = "Deskripsi motif uji."
    description_en = "Description of a test motif."


class OwnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Owner

    slug = factory.Sequence(lambda n: f"owner-{n}")
    name = factory.Sequence(lambda n: f"Galeri Uji {n}")


class OwnershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ownership

    motif = factory.SubFactory(MotifFactory)
    owner = factory.SubFactory(OwnerFactory)


class CollectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Collection

    slug = factory.Sequence(lambda n: f"collection-{n}")
    title_id = factory.Sequence(lambda n: f"Koleksi {n}")
    title_en = factory.Sequence(lambda n: f"Collection {n}")
    is_public = True


_colour = iter(range(10**9))


def add_image(motif, **kwargs):
    """Archive a real, unique image for ``motif`` through the service."""
    n = next(_colour)
    data = kwargs.pop("data", None) or image_bytes(color=(n % 256, (n // 256) % 256, 90))
    return services.motif_image_create(motif=motif, data=data, **kwargs)
