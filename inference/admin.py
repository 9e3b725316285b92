"""Curators inspect, activate and roll back model versions, review corrections, and see (and
retry) generation jobs."""
import json
import mimetypes
import re

from django.contrib import admin, messages
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from . import registry
from .classification import services
from .generation import services as generation
from .models import (ClassificationRecord, Correction, GeneratedImage, GenerationJob, ModelKind, ModelVersion,
                     WorkerHeartbeat)

# What the metrics a version carries mean (train_classifier, weights/manifest.json, the
# generator and refiner trainers); a key without a label is shown as it is.
METRIC_LABELS = {
    "n": _("test images"),
    "top1": _("top-1 accuracy"),
    "top5": _("top-5 accuracy"),
    "macro_precision": _("macro precision"),
    "macro_recall": _("macro recall"),
    "macro_f1": _("macro F1"),
    "imgsz": _("input size (px)"),
    "epochs": _("epochs trained"),
    "train_seconds": _("training time (s)"),
    "batch": _("batch size"),
    "seed": _("seed"),
    "augment": _("augmented copies per training image"),
    "fine_tuned_from": _("started from"),
    "heldout_acceptance": _("held-out acceptance (correct photos accepted)"),
    "ood_false_acceptance": _("false acceptance (strangers accepted)"),
    "ood_false_acceptance_confidence_only": _("false acceptance with the confidence alone"),
    "default_on": _("on by default"),
    "kimg": _("training length (kimg)"),
    "resolution": _("resolution (px)"),
    "seconds_per_kimg": _("seconds per kimg"),
    "augment_p": _("augmentation probability"),
    "steps": _("training steps"),
    "final_loss": _("final loss"),
}
SPLIT_LABELS = {"test_": _("test split: %(metric)s"), "val_": _("validation split: %(metric)s")}
PLOT_LABELS = {"confusion matrix": _("confusion matrix"), "training curves": _("training curves")}


def _metric_label(key: str):
    if key in METRIC_LABELS:
        return METRIC_LABELS[key]
    for prefix, label in SPLIT_LABELS.items():
        metric = key[len(prefix):]
        if key.startswith(prefix) and metric in METRIC_LABELS:
            return label % {"metric": _("images") if metric == "n" else METRIC_LABELS[metric]}
    return key


def _plot_label(label: str):
    return PLOT_LABELS.get(label, label)


def _cell(value):
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return f"{value:.4f}" if isinstance(value, float) else value


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
        rows = [(key, _metric_label(key), _cell(value)) for key, value in obj.metrics.items()
                if not isinstance(value, (dict, list))]
        table = format_html("<table>{}</table>", format_html_join(
            "", '<tr><th title="{}">{}</th><td>{}</td></tr>', rows)) if rows else ""
        per_class = obj.metrics.get("per_class")
        if isinstance(per_class, dict) and per_class:
            table = format_html("{}{}", table, self._per_class_table(per_class))
        evaluation = obj.metrics.get("evaluation")
        if isinstance(evaluation, dict):
            table = format_html("{}{}", table, self._evaluation_table(evaluation))
        return table or "—"

    @staticmethod
    def _per_class_table(per_class: dict):
        """A classifier's figures per class on its test split (``evaluate_folder``'s ``per_class``)."""
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
            (name, _cell(row.get("precision")), _cell(row.get("recall")), _cell(row.get("f1")), _cell(row.get("support")))
            for name, row in per_class.items() if isinstance(row, dict)
        ))
        return format_html(
            '<h3 style="margin-top:1rem">{}</h3><table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>F1</th><th>{}</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            _("Per class (test split)"), _("class"), _("precision"), _("recall"), _("test images"), rows,
        )

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
        # Plots are stored with the model under models/, which /media/ never serves: they come
        # through plot_view below, to whoever may view the version.
        return format_html_join(
            "", '<figure style="display:inline-block;margin:0 1rem 1rem 0"><a href="{0}"><img src="{0}" alt="{1}" '
            'style="max-width:480px"></a><figcaption>{1}</figcaption></figure>',
            ((reverse("admin:inference_modelversion_plot", args=[obj.pk, index]), _plot_label(label))
             for index, label in enumerate(obj.plots if isinstance(obj.plots, dict) else {})),
        ) or "—"

    def get_urls(self):
        plot = path("<path:object_id>/plot/<int:index>/", self.admin_site.admin_view(self.plot_view),
                    name="inference_modelversion_plot")
        return [plot, *super().get_urls()]

    def plot_view(self, request, object_id, index):
        """One stored plot image of a version, for those who may view the version."""
        version = self.get_object(request, object_id)
        if version is None or not self.has_view_permission(request, version):
            raise Http404
        names = list(version.plots.values()) if isinstance(version.plots, dict) else []
        name = names[index] if 0 <= index < len(names) and isinstance(names[index], str) else ""
        content_type = mimetypes.guess_type(name)[0] or ""
        if not content_type.startswith("image/") or not default_storage.exists(name):
            raise Http404
        return FileResponse(default_storage.open(name, "rb"), content_type=content_type)

    @admin.display(description=_("Recognition calibration"))
    def calibration_summary(self, obj):
        calibration = obj.calibration or {}
        if not calibration:
            if obj.kind != ModelKind.CLASSIFIER:
                return "—"
            return format_html(
                "<p><strong>{}</strong></p><p>{}</p>",
                _('"Not a known motif" is off for this version (no calibration): every photo is answered as its '
                  "closest motif, however unlike the archive it is."),
                _("Calibrate it from the command line: manage.py register_model FILE --kind classifier "
                  "--calibrate-on DIR (one folder of photos per class)."),
            )
        metrics = calibration.get("metrics") or {}

        def count(key):
            return _cell(metrics.get(key))

        rows = [
            (_("recognised when the confidence is at least"), _cell(calibration.get("min_confidence"))),
            (_("and the distance to the archive at most"), _cell(calibration.get("max_distance"))),
            (_("held-out acceptance (correct photos accepted)"), _cell(metrics.get("heldout_acceptance"))),
            (_("false acceptance (strangers accepted)"), _cell(metrics.get("ood_false_acceptance"))),
            (_("false acceptance with the confidence alone"), _cell(metrics.get("ood_false_acceptance_confidence_only"))),
            (_("held-out accuracy"), _cell(metrics.get("heldout_accuracy"))),
            (_("images (prototypes / held-out / strangers)"),
             f"{count('n_train')} / {count('n_heldout')} / {count('n_ood')}"),
            (_("prototypes"), count("prototypes")),
            (_("calibrated on"), metrics.get("calibrated_on") or "—"),
        ]
        by_kind = metrics.get("ood_false_acceptance_by_kind")
        if isinstance(by_kind, dict) and by_kind:
            rows.append((_("false acceptance by kind of stranger"),
                         ", ".join(f"{kind} {_cell(value)}" for kind, value in by_kind.items())))
        prototypes = calibration.get("prototypes") or []
        raw = {**calibration, "prototypes": f"{len(prototypes)} × {len(prototypes[0]) if prototypes else 0} numbers"}
        # One line per list of numbers (the prototypes' labels), not one line per number.
        text = re.sub(r"\[([-\d.eE+,\s]*)\]", lambda m: "[" + " ".join(m.group(1).split()) + "]",
                      json.dumps(raw, indent=2, ensure_ascii=False))
        return format_html(
            "<table>{}</table><details><summary>{}</summary><pre>{}</pre></details>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows), _("Raw calibration (JSON)"), text,
        )

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
