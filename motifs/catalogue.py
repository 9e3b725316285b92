"""The seed catalogue: the 14 motifs and three galleries of the original Cualify study, a
history and an about page, and two starter collections.

The slugs are fixed: classifier class names, generator class indices, API fields and tests
key on them. The study names which galleries supplied how many motifs (Ishadi 9, Santhi 3,
Destiani 2) but not which motif came from which gallery, so those links are seeded
**unverified** and labelled so wherever they are shown; curators confirm or fix them.

``seed_catalogue`` only adds what is missing, so it is safe to run again (the data migration
and ``bootstrap`` both call it) and never overwrites a curator's edits.
"""
from __future__ import annotations

from .text import normalize_name

MOTIFS = [
    # slug, name, English name, category, aliases,
    # description (id, en), meaning (id, en)
    dict(
        slug="kembang-kenanga", name="Kembang Kenanga", name_en="Ylang-ylang flower", category="flora",
        aliases=["Kenanga", "Bunga Kenanga", "Ylang-ylang"],
        description_id="Bunga kenanga dengan kelopak panjang yang menjuntai, disusun berulang di atas latar merah.",
        description_en="Ylang-ylang blossoms with long drooping petals, repeated across a red ground.",
        meaning_id="Kenanga yang harum melambangkan kesucian dan keanggunan; harapan agar pemakainya dikenang baik.",
        meaning_en="The fragrant ylang-ylang stands for purity and elegance, and the wish to be remembered well.",
    ),
    dict(
        slug="kembang-setaman", name="Kembang Setaman", name_en="Garden of flowers", category="flora",
        aliases=["Bunga Setaman", "Kembang Se-taman"],
        description_id="Aneka bunga kecil dari satu taman yang tersebar memenuhi kain.",
        description_en="Many small flowers of one garden scattered over the whole cloth.",
        meaning_id="Taman yang penuh bunga melambangkan keindahan, kerukunan dalam keberagaman, dan rezeki.",
        meaning_en="A garden in full bloom stands for beauty, harmony in diversity and good fortune.",
    ),
    dict(
        slug="kembang-rukem", name="Kembang Rukem", name_en="Rukem flower", category="flora",
        aliases=["Bunga Rukem", "Rukem"],
        description_id="Bunga dan buah rukem yang bergerombol bulat pada ranting-ranting.",
        description_en="Clusters of round rukem flowers and fruit along small branches.",
        meaning_id="Buah yang bergerombol melambangkan kesuburan dan kemakmuran keluarga.",
        meaning_en="Fruit growing in clusters stands for fertility and a prosperous family.",
    ),
    dict(
        slug="kembang-setangkai", name="Kembang Setangkai", name_en="Single-stem flower", category="flora",
        aliases=["Bunga Setangkai", "Setangkai"],
        description_id="Setangkai bunga dengan daun-daunnya, tegak dan sederhana.",
        description_en="A single flower on its stem with leaves, upright and simple.",
        meaning_id="Setangkai bunga melambangkan ketulusan dan kesetiaan.",
        meaning_en="A single stem stands for sincerity and faithfulness.",
    ),
    dict(
        slug="bebek-kembang-sumping", name="Bebek dan Kembang Sumping", name_en="Ducks and sumping flowers",
        category="mixed", aliases=["Bebek Kembang Sumping", "Bebek & Kembang Sumping", "Kembang Sumping"],
        description_id="Bebek-bebek di antara bunga sumping (hiasan bunga yang diselipkan di telinga).",
        description_en="Ducks among sumping flowers (the flower ornament worn tucked behind the ear).",
        meaning_id="Bebek yang selalu berjalan berbaris melambangkan persatuan; bunga sumping melambangkan keanggunan.",
        meaning_en="Ducks that always walk in line stand for unity; the sumping flower for elegance.",
    ),
    dict(
        slug="bebek-setaman", name="Bebek Setaman", name_en="Ducks in the garden", category="mixed",
        aliases=["Bebek Se-taman", "Bebek"],
        description_id="Barisan bebek di taman yang berbunga.",
        description_en="Rows of ducks in a flowering garden.",
        meaning_id="Bebek yang berkelompok melambangkan persatuan dan kebersamaan.",
        meaning_en="Ducks keeping together stand for unity and togetherness.",
    ),
    dict(
        slug="ubur-ubur", name="Ubur-ubur", name_en="Jellyfish", category="fauna",
        aliases=["Ubur Ubur", "Jellyfish"],
        description_id="Ubur-ubur dengan payung bulat dan tentakel yang bergelombang, dari laut Bangka Belitung.",
        description_en="Jellyfish with round bells and wavy tentacles, from the seas of Bangka Belitung.",
        meaning_id="Ubur-ubur yang mengikuti arus melambangkan keluwesan dan ketenangan hidup orang pesisir.",
        meaning_en="The jellyfish drifting with the current stands for the flexibility and calm of coastal life.",
    ),
    dict(
        slug="merak", name="Merak", name_en="Peacock", category="fauna",
        aliases=["Burung Merak", "Peacock"],
        description_id="Burung merak dengan ekor terbuka seperti kipas penuh bulatan mata.",
        description_en="A peacock with its tail open like a fan full of eye-spots.",
        meaning_id="Merak melambangkan keindahan, keanggunan, dan kewibawaan.",
        meaning_en="The peacock stands for beauty, grace and dignity.",
    ),
    dict(
        slug="kucing-tidur", name="Kucing Tidur", name_en="Sleeping cat", category="fauna",
        aliases=["Sleeping Cat"],
        description_id="Kucing yang tidur melingkar dengan ekor membungkus tubuhnya.",
        description_en="A cat asleep, curled up with its tail wrapped around its body.",
        meaning_id="Kucing yang tidur tenang melambangkan kedamaian dan rumah yang tenteram.",
        meaning_en="A cat sleeping peacefully stands for peace and a calm home.",
    ),
    dict(
        slug="burung-hong", name="Burung Hong", name_en="Phoenix", category="fauna",
        aliases=["Hong", "Phoenix", "Burung Phoenix"],
        description_id="Burung hong (phoenix) dengan bulu ekor panjang yang melengkung, pengaruh budaya Tionghoa di Bangka.",
        description_en="The hong bird (phoenix) with long curving tail plumes, a sign of Chinese influence in Bangka.",
        meaning_id="Burung hong melambangkan keberuntungan, kebajikan, dan kemuliaan.",
        meaning_en="The phoenix stands for good luck, virtue and nobility.",
    ),
    dict(
        slug="naga-betarung", name="Naga Betarung", name_en="Fighting dragons", category="fauna",
        aliases=["Naga Bertarung", "Naga", "Fighting Dragons"],
        description_id="Dua naga bersisik dengan tubuh panjang berkelok yang saling berhadapan.",
        description_en="Two scaled dragons with long winding bodies facing each other.",
        meaning_id="Naga melambangkan kekuatan dan perlindungan; pertarungannya, keseimbangan dua kekuatan.",
        meaning_en="Dragons stand for strength and protection; their fight for the balance of two forces.",
    ),
    dict(
        slug="kepiting", name="Kepiting", name_en="Crab", category="fauna",
        aliases=["Crab", "Ketam"],
        description_id="Kepiting dengan cangkang lonjong, capit, dan kaki-kakinya, hasil laut Bangka Belitung.",
        description_en="A crab with its oval shell, claws and legs, a catch of the Bangka Belitung sea.",
        meaning_id="Kepiting melambangkan keteguhan dan rezeki dari laut.",
        meaning_en="The crab stands for steadfastness and the bounty of the sea.",
    ),
    dict(
        slug="kuda-laut", name="Kuda Laut", name_en="Seahorse", category="fauna",
        aliases=["Seahorse", "Kuda-kuda Laut"],
        description_id="Kuda laut dengan tubuh melengkung seperti huruf S dan ekor yang menggulung.",
        description_en="Seahorses with S-curved bodies and curled tails.",
        meaning_id="Kuda laut melambangkan kesetiaan dan kasih sayang keluarga.",
        meaning_en="The seahorse stands for faithfulness and family love.",
    ),
    dict(
        slug="pucuk-rebung", name="Pucuk Rebung", name_en="Bamboo shoots", category="geometric",
        aliases=["Rebung", "Bamboo Shoot", "Bamboo Shoots"],
        description_id="Deretan segitiga runcing tunas bambu, biasanya sebagai pinggiran kain.",
        description_en="Rows of pointed bamboo-shoot triangles, usually along the border of the cloth.",
        meaning_id="Rebung yang tumbuh menjadi bambu melambangkan harapan, pertumbuhan, dan kehidupan yang bermanfaat.",
        meaning_en="The shoot that grows into bamboo stands for hope, growth and a useful life.",
    ),
]

MOTIF_SLUGS = tuple(m["slug"] for m in MOTIFS)

_STUDY_NOTE = (
    "Seeded from the Cualify study's gallery counts; which motif belongs to which gallery "
    "is not public and awaits a curator's check."
)

OWNERS = [
    dict(
        slug="ishadi-cual-gallery", name="Ishadi Cual Gallery", kind="gallery", place="Bangka Belitung",
        description_id="Galeri Batik Cual tempat sembilan motif arsip ini didokumentasikan.",
        description_en="Batik Cual gallery where nine of the archive's motifs were documented.",
        motifs=MOTIF_SLUGS[:9],
    ),
    dict(
        slug="santhi-cual-gallery", name="Santhi Cual Gallery", kind="gallery", place="Bangka Belitung",
        description_id="Galeri Batik Cual tempat tiga motif arsip ini didokumentasikan.",
        description_en="Batik Cual gallery where three of the archive's motifs were documented.",
        motifs=MOTIF_SLUGS[9:12],
    ),
    dict(
        slug="destiani-gallery", name="Destiani Gallery", kind="gallery", place="Bangka Belitung",
        description_id="Galeri tempat dua motif arsip ini didokumentasikan.",
        description_en="Gallery where two of the archive's motifs were documented.",
        motifs=MOTIF_SLUGS[12:],
    ),
]

COLLECTIONS = [
    dict(
        slug="flora-bangka", title_id="Flora Bangka", title_en="Flora of Bangka", position=0,
        description_id="Bunga dan tumbuhan dalam motif Batik Cual.",
        description_en="Flowers and plants in Batik Cual motifs.",
        motifs=["kembang-kenanga", "kembang-setaman", "kembang-rukem", "kembang-setangkai", "pucuk-rebung"],
    ),
    dict(
        slug="makhluk-laut", title_id="Makhluk Laut", title_en="Creatures of the Sea", position=1,
        description_id="Laut yang mengelilingi Bangka Belitung dalam motif Batik Cual.",
        description_en="The sea around Bangka Belitung in Batik Cual motifs.",
        motifs=["ubur-ubur", "kepiting", "kuda-laut"],
    ),
]

HISTORY_ID = """\
Batik Cual berakar pada kain tenun Cual dari Muntok, Bangka Barat. Pada abad ke-17 hingga ke-18 para penenun Muntok membuat kain Cual untuk keluarga bangsawan: kain tenun ikat dan songket yang halus, dengan benang emas yang ditenun di atas latar merah tua yang disebut "gula mutung", warna gula aren yang terbakar.

Cara menata motif pada kain itu punya nama. "Penganten Bekecak" adalah tata letak penuh: motif memenuhi seluruh bidang kain tanpa ruang kosong. "Jande Bekecak" adalah tata letak terbuka: motif ditabur dengan jarak sehingga latarnya tampak.

Tenun Cual yang rumit dan mahal sempat hampir hilang. Motif-motifnya kemudian dihidupkan kembali dalam bentuk batik: bunga kenanga, kembang setaman, bebek, merak, burung hong, naga, ubur-ubur, kepiting, dan kuda laut kini dibatik dan dicap oleh galeri-galeri di Bangka Belitung, sehingga warisan ini terjangkau dan dikenakan sehari-hari.

Cualify menyimpan motif-motif itu secara digital, bersama makna dan pembuatnya, agar dapat dipelajari, dikenali, dan dikembangkan oleh generasi berikutnya."""

HISTORY_EN = """\
Batik Cual has its roots in the Cual woven cloth of Muntok, West Bangka. In the 17th and 18th centuries the weavers of Muntok made Cual cloth for noble families: fine ikat and songket weaving, with gold thread worked over a deep maroon ground called "gula mutung", the colour of burnt palm sugar.

The ways of laying motifs on that cloth have names. "Penganten Bekecak" is the full layout: the motifs fill the whole field of the cloth with no empty space. "Jande Bekecak" is the open layout: motifs are strewn with gaps so that the ground shows through.

Cual weaving, intricate and costly, nearly disappeared. Its motifs were later revived as batik: ylang-ylang flowers, the garden of flowers, ducks, the peacock, the phoenix, dragons, jellyfish, crabs and seahorses are now drawn and stamped by galleries across Bangka Belitung, so the heritage is affordable and worn every day.

Cualify keeps these motifs digitally, with their meanings and their makers, so that the next generations can study them, recognise them and build on them."""

ABOUT_ID = """\
Cualify adalah platform terbuka untuk melestarikan motif Batik Cual dari Bangka Belitung. Kurator merawat arsip motif, galeri, gambar, dan sejarahnya; pengunjung menjelajahi galeri, mengenali motif dari foto kain, dan membuat motif baru dengan AI.

Cualify dibangun kembali dari purwarupa penelitian yang memakai YOLO11 untuk klasifikasi dan StyleGAN2-ADA dengan model difusi untuk pembuatan motif. Gambar berlabel "demo sintetis" dibuat oleh komputer sebagai contoh dan bukan foto kain asli."""

ABOUT_EN = """\
Cualify is an open platform that keeps the Batik Cual motifs of Bangka Belitung alive. Curators look after the archive of motifs, galleries, images and history; visitors browse the gallery, recognise a motif from a photo of a cloth, and create new motifs with AI.

Cualify rebuilds a research prototype that used YOLO11 for classification and StyleGAN2-ADA with a diffusion model for motif generation. Images labelled "synthetic demo" are drawn by the computer as examples and are not photographs of real cloth."""

PAGES = [
    dict(slug="history", title_id="Sejarah Batik Cual", title_en="History of Batik Cual", body_id=HISTORY_ID, body_en=HISTORY_EN),
    dict(slug="about", title_id="Tentang Cualify", title_en="About Cualify", body_id=ABOUT_ID, body_en=ABOUT_EN),
]


def seed_catalogue(get_model) -> dict[str, int]:
    """Add whatever of the seed catalogue is missing; returns how many rows of each were added.

    ``get_model(app_label, model_name)`` is ``apps.get_model`` in a migration, or
    ``django.apps.apps.get_model`` elsewhere, so the same code serves both.
    """
    Motif = get_model("motifs", "Motif")
    MotifAlias = get_model("motifs", "MotifAlias")
    Owner = get_model("motifs", "Owner")
    Ownership = get_model("motifs", "Ownership")
    Collection = get_model("motifs", "Collection")
    CollectionItem = get_model("motifs", "CollectionItem")
    Page = get_model("motifs", "Page")
    added = dict(motifs=0, aliases=0, owners=0, ownerships=0, collections=0, pages=0)

    motifs = {}
    for data in MOTIFS:
        fields = {k: v for k, v in data.items() if k not in ("slug", "aliases")}
        motif, created = Motif.objects.get_or_create(slug=data["slug"], defaults={**fields, "status": "published"})
        motifs[motif.slug] = motif
        added["motifs"] += created
        for alias in data["aliases"]:
            normalized = normalize_name(alias)
            if normalized == motif.slug or MotifAlias.objects.filter(normalized=normalized).exists():
                continue
            MotifAlias.objects.create(motif=motif, name=alias, normalized=normalized)
            added["aliases"] += 1

    for data in OWNERS:
        fields = {k: v for k, v in data.items() if k not in ("slug", "motifs")}
        owner, created = Owner.objects.get_or_create(slug=data["slug"], defaults=fields)
        added["owners"] += created
        for slug in data["motifs"]:
            _, created = Ownership.objects.get_or_create(
                motif=motifs[slug], owner=owner, role="producer",
                defaults={"verified": False, "note": _STUDY_NOTE},
            )
            added["ownerships"] += created

    for data in COLLECTIONS:
        fields = {k: v for k, v in data.items() if k not in ("slug", "motifs")}
        collection, created = Collection.objects.get_or_create(slug=data["slug"], defaults={**fields, "is_public": True})
        added["collections"] += created
        if created:
            for position, slug in enumerate(data["motifs"]):
                CollectionItem.objects.create(collection=collection, motif=motifs[slug], position=position)

    for data in PAGES:
        _, created = Page.objects.get_or_create(slug=data["slug"], defaults={k: v for k, v in data.items() if k != "slug"})
        added["pages"] += created
    return added
