"""Model versions, queue-worker heartbeats, classification records and visitor corrections,
generation jobs with their images, and print jobs."""
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.limits import GENERATION_DEFAULTS as DEFAULTS


class ModelKind(models.TextChoices):
    CLASSIFIER = "classifier", _("Classifier")
    GENERATOR = "generator", _("Generator")
    REFINER = "refiner", _("Refiner")
    TEXT_ENCODER = "text_encoder", _("Text encoder")


class ModelVersion(models.Model):
    """One registered model file (or folder), stored by content hash under media so workers on
    any machine find it. One version per kind is active; workers reload when it changes."""

    class Source(models.TextChoices):
        SHIPPED = "shipped", _("Shipped with Cualify")
        TRAINED = "trained", _("Trained here")
        REGISTERED = "registered", _("Registered by an operator")

    kind = models.CharField(_("kind"), max_length=20, choices=ModelKind.choices)
    name = models.CharField(_("name"), max_length=120)
    sha256 = models.CharField(_("SHA-256"), max_length=64, editable=False)
    path = models.CharField(_("stored path"), max_length=255, editable=False, help_text=_("Relative to the media folder."))
    file_format = models.CharField(_("format"), max_length=20, editable=False)
    serving_path = models.CharField(
        _("serving path"), max_length=255, blank=True, editable=False,
        help_text=_("What workers load, when it differs from the stored file (e.g. its ONNX export)."),
    )
    size_bytes = models.BigIntegerField(_("size in bytes"), default=0, editable=False)
    class_names = models.JSONField(_("class names"), default=list, blank=True, help_text=_("In the model's own order."))
    class_map = models.JSONField(_("class → motif"), default=dict, blank=True, help_text=_("Class name to motif slug (or null)."))
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    calibration = models.JSONField(_("recognition calibration"), default=dict, blank=True, editable=False)
    plots = models.JSONField(_("plots"), default=dict, blank=True, editable=False, help_text=_("Name to media path."))
    training_data = models.JSONField(_("training data snapshot"), default=dict, blank=True, editable=False)
    source = models.CharField(_("source"), max_length=12, choices=Source.choices, default=Source.REGISTERED)
    notes = models.TextField(_("notes"), blank=True)
    is_active = models.BooleanField(_("active"), default=False, editable=False)
    activated_at = models.DateTimeField(_("last activated"), null=True, blank=True, editable=False)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, editable=False,
                                   verbose_name=_("created by"))

    class Meta:
        ordering = ["kind", "-created"]
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")
        constraints = [models.UniqueConstraint(fields=["kind", "sha256"], name="unique_model_file_per_kind")]
        indexes = [models.Index(fields=["kind", "is_active"])]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk} {self.name}"

    def motif_slug(self, class_index: int) -> str | None:
        names = self.class_names
        return self.class_map.get(names[class_index]) if 0 <= class_index < len(names) else None


class WorkerHeartbeat(models.Model):
    """One row per queue-worker process: what it has loaded and when it last said so."""

    host = models.CharField(_("host"), max_length=255)
    pid = models.PositiveIntegerField(_("process id"))
    started = models.DateTimeField(_("started"), default=timezone.now)
    last_seen = models.DateTimeField(_("last seen"), default=timezone.now, db_index=True)
    models_loaded = models.JSONField(_("models loaded"), default=dict, blank=True, help_text=_("Kind to model version id."))
    cluster = models.CharField(_("cluster"), max_length=64, blank=True, default="",
                               help_text=_("The queue cluster this worker takes tasks from (classify or generate)."))
    serves = models.JSONField(_("serves"), default=list, blank=True,
                              help_text=_("The model kinds this worker loads when it starts."))
    device = models.CharField(_("device"), max_length=32, blank=True, default="cpu")

    class Meta:
        ordering = ["-last_seen"]
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")
        constraints = [models.UniqueConstraint(fields=["host", "pid"], name="unique_worker_process")]

    def __str__(self):
        return f"{self.host}:{self.pid}"


def classification_upload_path(instance, filename):
    return f"uploads/classify/{instance.public_id.hex[:2]}/{instance.public_id.hex}.{filename.rsplit('.', 1)[-1]}"


def saliency_path(instance, filename):
    return f"uploads/saliency/{instance.public_id.hex[:2]}/{instance.public_id.hex}.jpg"


class ClassificationRecord(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    image = models.FileField(_("photo"), upload_to=classification_upload_path, max_length=200)
    width = models.PositiveIntegerField(_("width"), default=0)
    height = models.PositiveIntegerField(_("height"), default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="classifications",
                             verbose_name=_("user"))
    # A keyed hash of the anonymous visitor's key (``inference.visitors``), never the key itself.
    session_key = models.CharField(_("visitor key (hashed)"), max_length=64, blank=True, db_index=True, editable=False)
    consent_training = models.BooleanField(_("consent for training"), default=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="classifications",
                                      verbose_name=_("model version"))
    top = models.JSONField(_("top guesses"), default=list, blank=True, help_text=_("Label, motif slug, probability (0–1)."))
    motif = models.ForeignKey("motifs.Motif", on_delete=models.SET_NULL, null=True, blank=True, related_name="classifications", verbose_name=_("motif"))
    recognised = models.BooleanField(_("recognised"), default=False)
    confidence = models.FloatField(_("confidence"), null=True, blank=True)
    distance = models.FloatField(_("distance to the archive"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=30, blank=True)
    timings = models.JSONField(_("timings (s)"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    saliency = models.FileField(_("heat map"), upload_to=saliency_path, blank=True, max_length=200)
    # When the heat map was last asked for: one task per request (services.classification_saliency_request).
    saliency_requested = models.DateTimeField(_("heat map requested"), null=True, blank=True, editable=False)
    # The lease, as for generation jobs: a worker claims the record (attempts + 1) and must answer
    # before the lease runs out; the sweeper sends a lost one again once, then fails it.
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    lease_expires = models.DateTimeField(_("lease expires"), null=True, blank=True, editable=False, db_index=True)
    created = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    completed = models.DateTimeField(_("completed"), null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = _("classification")
        verbose_name_plural = _("classifications")

    def __str__(self):
        return f"{self.public_id.hex[:8]} {self.top[0]['label'] if self.top else self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status != self.Status.QUEUED


class Correction(models.Model):
    """A visitor's "this is actually <motif>" or "not batik", reviewed by curators."""

    class Kind(models.TextChoices):
        MOTIF = "motif", _("It is another motif")
        NOT_BATIK = "not_batik", _("It is not Batik Cual")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for review")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")

    record = models.ForeignKey(ClassificationRecord, on_delete=models.CASCADE, related_name="corrections",
                               verbose_name=_("classification"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    motif = models.ForeignKey("motifs.Motif", on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("motif"))
    comment = models.CharField(_("comment"), max_length=500, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                    verbose_name=_("reviewed by"))
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    archive_image = models.ForeignKey("motifs.MotifImage", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                      verbose_name=_("archive image"))
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["status", "-created"]
        verbose_name = _("correction")
        verbose_name_plural = _("corrections")

    def __str__(self):
        return f"{self.get_kind_display()}: {self.motif or '—'}"


def generation_reference_path(instance, filename):
    return f"uploads/generate/references/{instance.public_id.hex[:2]}/{instance.public_id.hex}.{filename.rsplit('.', 1)[-1]}"


def generated_image_path(instance, filename):
    job = instance.job.public_id.hex
    return f"uploads/generate/results/{job[:2]}/{job}/{instance.index:02d}-seed{instance.seed}.png"


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class LeasedJob(models.Model):
    """What every job a queue worker leases has (generation and print jobs): the row is the
    source of truth and the queue only carries its id; a worker claims it with an atomic
    conditional update and renews a lease while it works (``generation.pipeline``), so a job
    whose worker died is claimed again and no job runs twice at once."""

    Status = JobStatus
    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    stage = models.CharField(_("stage"), max_length=60, blank=True)
    progress = models.FloatField(_("progress"), default=0.0, help_text=_("0–1."))
    timings = models.JSONField(_("timings (s)"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    lease_owner = models.CharField(_("lease owner"), max_length=100, blank=True, editable=False)
    lease_expires = models.DateTimeField(_("lease expires"), null=True, blank=True, editable=False, db_index=True)
    created = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    started = models.DateTimeField(_("started"), null=True, blank=True)
    finished = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created"]

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class GenerationJob(LeasedJob):
    """One request to generate motifs (a leased job: ``LeasedJob``)."""

    class Mode(models.TextChoices):
        FUSION = "fusion", _("Fusion of motifs")
        VARIATION = "variation", _("Variation")
        PROMPT = "prompt", _("From a description")

    mode = models.CharField(_("mode"), max_length=10, choices=Mode.choices)
    motifs = models.JSONField(_("motifs and weights"), default=list, blank=True, help_text="[{\"slug\": ..., \"weight\": ...}]")
    structure_from = models.CharField(_("structure from"), max_length=80, blank=True)
    detail_from = models.CharField(_("detail from"), max_length=80, blank=True)
    reference = models.FileField(_("reference image"), upload_to=generation_reference_path, blank=True, max_length=200)
    prompt = models.CharField(_("prompt"), max_length=300, blank=True)
    prompt_match = models.JSONField(_("what the prompt matched"), default=dict, blank=True)
    seed = models.BigIntegerField(_("seed"))
    count = models.PositiveSmallIntegerField(_("number of images"), default=DEFAULTS.count)
    truncation = models.FloatField(_("truncation"), default=DEFAULTS.truncation)
    distance = models.FloatField(_("how different"), default=DEFAULTS.distance)
    refine = models.BooleanField(_("diffusion refinement"), default=DEFAULTS.refine)
    refine_strength = models.FloatField(_("refinement strength"), default=DEFAULTS.refine_strength)
    tile = models.BooleanField(_("seamless tile"), default=DEFAULTS.tile)
    upscale = models.PositiveSmallIntegerField(_("upscale factor"), default=DEFAULTS.upscale)
    model_versions = models.JSONField(_("model versions"), default=dict, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="generation_jobs",
                             verbose_name=_("user"))
    # A keyed hash of the anonymous visitor's key (``inference.visitors``), never the key itself.
    session_key = models.CharField(_("visitor key (hashed)"), max_length=64, blank=True, db_index=True, editable=False)
    # Made through the Flask-compatible service or the ``generate`` command, without an account
    # or a session: the job's random id is the capability to read it there. A job whose account
    # was deleted is not: it is private to curators.
    readable_by_id = models.BooleanField(_("readable by its id"), default=False, editable=False)

    class Meta(LeasedJob.Meta):
        verbose_name = _("generation job")
        verbose_name_plural = _("generation jobs")

    def __str__(self):
        return f"{self.get_mode_display()} {self.public_id.hex[:8]} ({self.get_status_display()})"

    @property
    def motif_slugs(self) -> list[str]:
        return [item["slug"] for item in self.motifs]


class GeneratedImage(models.Model):
    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="images", verbose_name=_("generation job"))
    index = models.PositiveSmallIntegerField(_("index"))
    seed = models.BigIntegerField(_("seed"))
    file = models.FileField(_("image"), upload_to=generated_image_path, max_length=200)
    width = models.PositiveIntegerField(_("width"), default=0)
    height = models.PositiveIntegerField(_("height"), default=0)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    archive_image = models.ForeignKey("motifs.MotifImage", on_delete=models.SET_NULL, null=True, blank=True,
                                      related_name="generated_from", verbose_name=_("archive image"))
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["job", "index"]
        verbose_name = _("generated image")
        verbose_name_plural = _("generated images")
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="unique_image_per_job_index")]

    def __str__(self):
        return f"{self.job.public_id.hex[:8]} #{self.index} seed {self.seed}"


def print_file_path(instance, filename):
    # Private like every upload (``uploads/``): served only by the print job's own views.
    return f"uploads/print/{instance.public_id.hex[:2]}/{instance.public_id.hex}-{filename}"


class PrintJob(LeasedJob):
    """Print files of one result, made in a queue worker like a generation job (the same lease,
    claim and sweep): the seamless tile at its printed size at 300 dpi, and the whole cloth at
    150 dpi. It belongs to its result's generation job: whoever may see that job may see, make
    and cancel its prints."""

    image = models.ForeignKey(GeneratedImage, on_delete=models.CASCADE, related_name="prints",
                              verbose_name=_("generated image"))
    tile_cm = models.FloatField(_("printed tile size (cm)"))
    fabric_width_cm = models.FloatField(_("fabric width (cm)"))
    fabric_height_cm = models.FloatField(_("fabric height (cm)"))
    # The files' sizes in pixels, as the door computed them (``services.print_sizes``).
    tile_px = models.PositiveIntegerField(_("tile (px)"), default=0)
    fabric_width_px = models.PositiveIntegerField(_("fabric width (px)"), default=0)
    fabric_height_px = models.PositiveIntegerField(_("fabric height (px)"), default=0)
    tile = models.FileField(_("tile file (300 dpi)"), upload_to=print_file_path, blank=True, max_length=200)
    fabric = models.FileField(_("fabric file (150 dpi)"), upload_to=print_file_path, blank=True, max_length=200)

    class Meta(LeasedJob.Meta):
        verbose_name = _("print job")
        verbose_name_plural = _("print jobs")

    def __str__(self):
        return f"{self.fabric_width_cm:g} × {self.fabric_height_cm:g} cm {self.public_id.hex[:8]} ({self.get_status_display()})"
