"""Curators inspect, activate and roll back model versions, review corrections, and see (and
retry) generation jobs."""
from django.contrib import admin, messages
from django.core.files.storage import default_storage
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from . import registry
from .classification import services
from .generation import services as generation
from .models import ClassificationRecord, Correction, GeneratedImage, GenerationJob, ModelVersion, WorkerHeartbeat


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "is_active", "source", "headline_metrics", "activated_at", "created"]
    list_filter = ["kind", "is_active", "source"]
    search_fields = ["name", "sha256", "notes"]
    readonly_fields = ["kind", "sha256", "path", "serving_path", "file_format", "size_bytes", "class_names", "class_map",
                       "metrics_table", "plot_images", "calibration_summary", "training_data", "source", "is_active",
                       "activated_at", "created", "created_by"]
    fields = ["name", "notes", *readonly_fields]
    actions = ["activate", "roll_back"]

    def has_add_permission(self, request):
        return False  # model files are registered from the command line (they can carry code)

    @admin.display(description=_("Metrics"))
    def headline_metrics(self, obj):
        keys = [k for k in ("top1", "top5", "macro_f1") if isinstance(obj.metrics.get(k), (int, float))]
        evaluation = obj.metrics.get("evaluation") if isinstance(obj.metrics.get("evaluation"), dict) else {}
        parts = [f"{k} {obj.metrics[k]:.3f}" for k in keys]
        parts += [f"{label} {evaluation[k]:.3f}" for k, label in (("frechet", "FD"), ("kid", "KID"), ("agreement", "agreement"))
                  if isinstance(evaluation.get(k), (int, float))]
        return ", ".join(parts) or "—"

    @admin.display(description=_("Metrics"))
    def metrics_table(self, obj):
        rows = [(k, v) for k, v in obj.metrics.items() if not isinstance(v, (dict, list))]
        table = format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)) if rows else ""
        evaluation = obj.metrics.get("evaluation")
        if isinstance(evaluation, dict):
            table = format_html("{}{}", table, self._evaluation_table(evaluation))
        return table or "—"

    @staticmethod
    def _evaluation_table(evaluation: dict):
        """``evaluate_generator``'s figures: the headline, then one row per motif."""
        def cell(value):
            return "—" if value is None else f"{value:.4f}" if isinstance(value, float) else value

        n = evaluation.get("n") or {}
        headline = [
            (_("Fréchet distance"), cell(evaluation.get("frechet"))),
            (_("KID (mean of motifs)"), cell(evaluation.get("kid"))),
            (_("KID (all images)"), cell(evaluation.get("kid_overall"))),
            (_("classifier agreement"), cell(evaluation.get("agreement"))),
            (_("diversity (generated / archive)"),
             f"{cell(evaluation.get('diversity'))} / {cell(evaluation.get('diversity_real'))}"),
            (_("images (generated / archive)"), f"{cell(n.get('generated'))} / {cell(n.get('real'))}"),
            (_("measured"), _("%(date)s with classifier %(classifier)s, %(per_class)s per class, seed %(seed)s, psi %(psi)s") % {
                "date": evaluation.get("date", "?"),
                # Figures shipped in weights/manifest.json name the classifier by hash: ids are per database.
                "classifier": f"#{evaluation['classifier_version']}" if evaluation.get("classifier_version")
                else str(evaluation.get("classifier_sha256", "?"))[:12],
                "per_class": evaluation.get("per_class", "?"), "seed": evaluation.get("seed", "?"),
                "psi": evaluation.get("truncation", "?")}),
        ]
        per_motif = evaluation.get("per_motif") or {}
        motif_rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
            (slug, cell(row.get("kid")), cell(row.get("agreement")), cell(row.get("diversity")),
             cell(row.get("diversity_real")), cell(row.get("n_generated")), cell(row.get("n_real")))
            for slug, row in per_motif.items() if isinstance(row, dict)
        ))
        return format_html(
            '<h3 style="margin-top:1rem">{}</h3><table>{}</table>'
            "<table><thead><tr><th>{}</th><th>KID</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            _("Generator evaluation"), format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", headline),
            _("motif"), _("agreement"), _("diversity"), _("archive diversity"), _("generated"), _("archive"),
            motif_rows,
        )

    @admin.display(description=_("Plots"))
    def plot_images(self, obj):
        return format_html_join(
            "", '<figure style="display:inline-block;margin:0 1rem 1rem 0"><img src="{}" alt="{}" style="max-width:480px"><figcaption>{}</figcaption></figure>',
            ((default_storage.url(path), name, name) for name, path in obj.plots.items()),
        ) or "—"

    @admin.display(description=_("Recognition calibration"))
    def calibration_summary(self, obj):
        metrics = (obj.calibration or {}).get("metrics") or {}
        return ", ".join(f"{k}: {v}" for k, v in metrics.items() if not isinstance(v, (dict, list))) or "—"

    @admin.action(description=_("Activate the selected version"), permissions=["change"])
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one version to activate."), messages.ERROR)
            return
        version = registry.model_version_activate(version=queryset.get())
        self.message_user(request, _("%(version)s is now active; the workers reload it by themselves.") % {"version": version}, messages.SUCCESS)

    @admin.action(description=_("Roll back to the previously active version"), permissions=["change"])
    def roll_back(self, request, queryset):
        for kind in sorted(set(queryset.values_list("kind", flat=True))):
            try:
                version = registry.model_version_rollback(kind=kind)
            except registry.RegistryError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, _("%(version)s is active again.") % {"version": version}, messages.SUCCESS)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["host", "pid", "models_loaded", "started", "last_seen"]
    readonly_fields = ["host", "pid", "models_loaded", "started", "last_seen"]

    def has_add_permission(self, request):
        return False


def _visible_fields(model) -> list[str]:
    """Every field but ``session_key``: a visitor's hashed key ties rows to their browser and is
    nothing a curator needs to read; ``owner`` (the account, or "anonymous visitor") stands in
    for ``user``."""
    return ["owner" if f.name == "user" else f.name for f in model._meta.fields if f.name != "session_key"]


class VisitorOwnerMixin:
    @admin.display(description=_("owner"), ordering="user__username")
    def owner(self, obj):
        return obj.user or _("anonymous visitor")


class CorrectionInline(admin.TabularInline):
    model = Correction
    extra = 0
    readonly_fields = ["kind", "motif", "comment", "status", "reviewed_by", "reviewed_at", "archive_image"]
    can_delete = False


@admin.register(ClassificationRecord)
class ClassificationRecordAdmin(VisitorOwnerMixin, admin.ModelAdmin):
    list_display = ["public_id", "status", "motif", "recognised", "confidence", "model_version", "owner", "created"]
    list_filter = ["status", "recognised", "model_version"]
    readonly_fields = _visible_fields(ClassificationRecord) + ["photo"]
    inlines = [CorrectionInline]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("Photo"))
    def photo(self, obj):
        from django.urls import reverse

        return format_html('<img src="{}" alt="" style="max-width:320px">', reverse("classify_photo", args=[obj.public_id]))


@admin.register(Correction)
class CorrectionAdmin(admin.ModelAdmin):
    list_display = ["record", "kind", "motif", "status", "consent", "created"]
    list_filter = ["status", "kind"]
    readonly_fields = ["record", "kind", "motif", "comment", "status", "reviewed_by", "reviewed_at", "archive_image", "photo"]
    actions = ["accept", "reject"]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("consent for training"), boolean=True)
    def consent(self, obj):
        return obj.record.consent_training

    @admin.display(description=_("Photo"))
    def photo(self, obj):
        from django.urls import reverse

        return format_html('<img src="{}" alt="" style="max-width:320px">', reverse("classify_photo", args=[obj.record.public_id]))

    @admin.action(description=_("Accept (consented photos join the archive)"), permissions=["change"])
    def accept(self, request, queryset):
        for correction in queryset.select_related("record", "motif"):
            services.correction_accept(correction=correction, reviewer=request.user)
        self.message_user(request, _("Corrections accepted."), messages.SUCCESS)

    @admin.action(description=_("Reject"), permissions=["change"])
    def reject(self, request, queryset):
        for correction in queryset:
            services.correction_reject(correction=correction, reviewer=request.user)
        self.message_user(request, _("Corrections rejected."), messages.SUCCESS)


class GeneratedImageInline(admin.TabularInline):
    model = GeneratedImage
    extra = 0
    can_delete = False
    fields = ["preview", "index", "seed", "width", "height", "archive_image"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("Image"))
    def preview(self, obj):
        from django.urls import reverse

        return format_html('<img src="{}" alt="" width="96" height="96" style="image-rendering:pixelated">',
                           reverse("generate_admin_image", args=[obj.pk]))


@admin.register(GenerationJob)
class GenerationJobAdmin(VisitorOwnerMixin, admin.ModelAdmin):
    list_display = ["public_id", "mode", "status", "stage", "attempts", "owner", "created", "finished"]
    list_filter = ["status", "mode"]
    search_fields = ["public_id", "prompt", "error"]
    readonly_fields = _visible_fields(GenerationJob)
    inlines = [GeneratedImageInline]
    actions = ["retry", "cancel"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Retry (failed or cancelled jobs)"), permissions=["change"])
    def retry(self, request, queryset):
        retried = sum(generation.generation_job_retry(job=job) for job in queryset)
        self.message_user(request, _("%(count)d jobs queued again.") % {"count": retried}, messages.SUCCESS)

    @admin.action(description=_("Cancel (queued or running jobs)"), permissions=["change"])
    def cancel(self, request, queryset):
        cancelled = sum(generation.generation_job_cancel(job=job) for job in queryset)
        self.message_user(request, _("%(count)d jobs cancelled.") % {"count": cancelled}, messages.SUCCESS)
