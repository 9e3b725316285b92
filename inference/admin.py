"""Curators inspect, activate and roll back model versions, review corrections, and see (and
retry) generation jobs."""
import json
import mimetypes
import re

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from . import registry
from .classification import services
from .generation import messages as generation_messages
from .generation import services as generation
from .models import (ClassificationRecord, Correction, GeneratedImage, GenerationJob, ModelKind, ModelVersion,
                     PrintJob, WorkerHeartbeat)

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
    "arch": _("architecture"),
    "best_epoch": _("best epoch"),
    "views_seconds": _("time to prepare the training views (s)"),
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
    # The super-resolution refiner against Lanczos (inference/engines/refiner/upscaler_quality.py).
    "scale": _("enlargement factor"),
    "output_resolution": _("output size (px)"),
    "perceptual_lanczos": _("held-out perceptual distance, Lanczos"),
    "perceptual_refined": _("held-out perceptual distance, refined"),
    "psnr_lanczos": _("held-out PSNR (dB), Lanczos"),
    "psnr_refined": _("held-out PSNR (dB), refined"),
    "frechet_lanczos": _("neutral Fréchet distance of generated motifs, Lanczos"),
    "frechet_refined": _("neutral Fréchet distance of generated motifs, refined"),
    "frechet_floor": _("neutral Fréchet distance, the archive against itself"),
    "agreement_lanczos": _("classifier agreement, Lanczos"),
    "agreement_refined": _("classifier agreement, refined"),
    "seconds_per_image": _("seconds per refined image"),
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


def json_table(value):
    """A JSON value as (nested) tables for people to read: objects as two-column tables, lists
    of objects as one row each, lists of lists as a grid, lists of plain values on one line."""
    if isinstance(value, dict):
        if not value:
            return "—"
        rows = format_html_join("", '<tr><th scope="row">{}</th><td>{}</td></tr>', ((k, json_table(v)) for k, v in value.items()))
        return format_html('<table class="cualify-json">{}</table>', rows)
    if isinstance(value, list):
        if not value:
            return "—"
        if all(isinstance(item, dict) for item in value):
            columns = list(dict.fromkeys(key for item in value for key in item))
            head = format_html_join("", '<th scope="col">{}</th>', ((column,) for column in columns))
            body = format_html_join("", "<tr>{}</tr>", (
                (format_html_join("", "<td>{}</td>", ((json_table(item.get(column)),) for column in columns)),)
                for item in value
            ))
            return format_html('<table class="cualify-json"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, body)
        if all(isinstance(item, list) for item in value):
            body = format_html_join("", "<tr>{}</tr>", (
                (format_html_join("", "<td>{}</td>", ((json_table(cell),) for cell in row)),) for row in value
            ))
            return format_html('<table class="cualify-json"><tbody>{}</tbody></table>', body)
        return format_html_join(", ", "{}", ((json_table(item),) for item in value))
    return _cell(value)


def json_display(model, name: str):
    """A read-only admin field showing the JSON field ``name`` as tables, labelled as the field."""
    def display(self, obj):
        return json_table(getattr(obj, name)) if obj is not None else "—"

    display.__name__ = f"{name}_table"
    return admin.display(description=model._meta.get_field(name).verbose_name)(display)


def _neutral_rows(neutral) -> list[tuple]:
    """The neutral-space headline (ImageNet EfficientNet-Lite0), each figure beside the archive
    measured against itself; none for evaluations made before it existed."""
    if not isinstance(neutral, dict):
        return []
    floor = neutral.get("floor") if isinstance(neutral.get("floor"), dict) else {}

    def beside(key: str) -> str:
        return _("%(generated)s (archive against itself: %(floor)s)") % {
            "generated": _cell(neutral.get(key)), "floor": _cell(floor.get(key))}

    return [
        (_("neutral space"), neutral.get("features", "?")),
        (_("neutral Fréchet distance"), beside("frechet")),
        (_("neutral KID (mean of motifs)"), beside("kid")),
        (_("neutral KID (all images)"), beside("kid_overall")),
        (_("neutral diversity (generated / archive)"),
         f"{_cell(neutral.get('diversity'))} / {_cell(neutral.get('diversity_real'))}"),
        (_("near-duplicate pairs (closer than the archive's closest pair of that motif)"),
         f"{_cell(neutral.get('near_duplicates'))} / {_cell(neutral.get('pairs'))}"),
    ]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "is_active", "source", "headline_metrics", "activated_at", "created"]
    list_filter = ["kind", "is_active", "source"]
    search_fields = ["name", "sha256", "notes"]
    readonly_fields = ["kind", "sha256", "path", "serving_path", "file_format", "size_bytes", "class_names_table",
                       "class_map_table", "metrics_table", "plot_images", "calibration_summary", "training_data_table",
                       "source", "is_active", "activated_at", "created", "created_by"]
    # What a curator compares versions by comes first; the file's particulars and the long
    # class lists are folded away (Django's "collapse" fieldsets are <details> elements).
    fieldsets = [
        (None, {"fields": ["name", "notes", "kind", "source", "is_active", "activated_at"]}),
        (_("Evaluation"), {"fields": ["metrics_table", "plot_images", "calibration_summary"]}),
        (_("Classes"), {"fields": ["class_names_table", "class_map_table"], "classes": ["collapse"]}),
        (_("Training data"), {"fields": ["training_data_table"], "classes": ["collapse"]}),
        (_("Stored file"), {"fields": ["sha256", "path", "serving_path", "file_format", "size_bytes", "created", "created_by"],
                            "classes": ["collapse"]}),
    ]
    actions = ["activate", "roll_back"]

    class_names_table = json_display(ModelVersion, "class_names")
    class_map_table = json_display(ModelVersion, "class_map")
    training_data_table = json_display(ModelVersion, "training_data")

    def has_add_permission(self, request):
        return False  # model files are registered from the command line (they can carry code)

    def has_delete_permission(self, request, obj=None):
        # Versions are the record of what was trained and served: curators activate and roll
        # back; only a superuser deletes one, and never the version being served.
        if not request.user.is_active or not request.user.is_superuser:
            return False
        return obj is None or not obj.is_active

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            actions["delete_selected"] = (type(self).delete_inactive, "delete_selected", actions["delete_selected"][2])
        return actions

    def delete_inactive(self, request, queryset):
        """Django's bulk delete, refused when the selection holds an active version."""
        active = [str(version) for version in queryset.filter(is_active=True)]
        if active:
            self.message_user(request, _("An active version cannot be deleted: activate another one first (%(versions)s).")
                              % {"versions": ", ".join(active)}, messages.ERROR)
            return None
        return delete_selected(self, request, queryset)

    def delete_queryset(self, request, queryset):
        # Belt and braces: whatever path leads here, the active version stays.
        super().delete_queryset(request, queryset.filter(is_active=False))

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
        rows = [(key, capfirst(_metric_label(key)), _cell(value)) for key, value in obj.metrics.items()
                if not isinstance(value, (dict, list))]
        table = format_html('<table class="cualify-metrics">{}</table>', format_html_join(
            "", '<tr><th scope="row" title="{}">{}</th><td>{}</td></tr>', rows)) if rows else ""
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
            '<h3 class="cualify-subhead">{}</h3><table class="cualify-per-class"><thead><tr><th scope="col">{}</th>'
            '<th scope="col">{}</th><th scope="col">{}</th><th scope="col">F1</th><th scope="col">{}</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            _("Per class (test split)"), capfirst(_("class")), capfirst(_("precision")), capfirst(_("recall")),
            capfirst(_("test images")), rows,
        )

    @staticmethod
    def _evaluation_table(evaluation: dict):
        """``evaluate_generator``'s figures: the headline, then one row per motif."""
        n = evaluation.get("n") or {}
        headline = [
            (_("Fréchet distance"), _cell(evaluation.get("frechet"))),
            (_("KID (mean of motifs)"), _cell(evaluation.get("kid"))),
            (_("KID (all images)"), _cell(evaluation.get("kid_overall"))),
            (_("classifier agreement"), _cell(evaluation.get("agreement"))),
            (_("recognised by “Classify this”"), _cell(evaluation.get("recognised"))),
            (_("diversity (generated / archive)"),
             f"{_cell(evaluation.get('diversity'))} / {_cell(evaluation.get('diversity_real'))}"),
            (_("images (generated / archive)"), f"{_cell(n.get('generated'))} / {_cell(n.get('real'))}"),
            *_neutral_rows(evaluation.get("neutral")),
            (_("measured"), _("%(date)s with classifier %(classifier)s, %(per_class)s per class, seed %(seed)s, psi %(psi)s") % {
                "date": evaluation.get("date", "?"),
                # Figures shipped in weights/manifest.json name the classifier by hash: ids are per database.
                "classifier": f"#{evaluation['classifier_version']}" if evaluation.get("classifier_version")
                else str(evaluation.get("classifier_sha256", "?"))[:12],
                "per_class": evaluation.get("per_class", "?"), "seed": evaluation.get("seed", "?"),
                "psi": evaluation.get("truncation", "?")}),
        ]
        per_motif = evaluation.get("per_motif") or {}
        neutral = evaluation.get("neutral") if isinstance(evaluation.get("neutral"), dict) else {}
        neutral_rows = neutral.get("per_motif") if isinstance(neutral.get("per_motif"), dict) else {}

        def near_duplicates(row: dict) -> str:
            return "—" if row.get("near_duplicates") is None else f"{row['near_duplicates']} / {row.get('pairs', '?')}"

        motif_rows = format_html_join("", "<tr>" + "<td>{}</td>" * 11 + "</tr>", (
            (slug, _cell(row.get("kid")), _cell(row.get("agreement")), _cell(row.get("diversity")),
             _cell(row.get("diversity_real")), _cell(other.get("kid")), _cell(other.get("kid_floor")),
             f"{_cell(other.get('diversity'))} / {_cell(other.get('diversity_real'))}", near_duplicates(other),
             _cell(row.get("n_generated")), _cell(row.get("n_real")))
            for slug, row in per_motif.items() if isinstance(row, dict)
            for other in [neutral_rows.get(slug) if isinstance(neutral_rows.get(slug), dict) else {}]
        ))
        return format_html(
            '<h3 style="margin-top:1rem">{}</h3><table>{}</table>'
            "<table><thead><tr><th>{}</th><th>KID</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>"
            "<th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
            _("Generator evaluation"), format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", headline),
            _("motif"), _("agreement"), _("diversity"), _("archive diversity"), _("neutral KID"),
            _("neutral KID, archive against itself"), _("neutral diversity (generated / archive)"),
            _("near-duplicate pairs"), _("generated"), _("archive"), motif_rows,
        )

    @admin.display(description=_("Plots"))
    def plot_images(self, obj):
        # Plots are stored with the model under models/, which /media/ never serves: they come
        # through plot_view below, to whoever may view the version.
        return format_html_join(
            "", '<figure class="cualify-plot"><a href="{0}"><img src="{0}" alt="{1}"></a><figcaption>{2}</figcaption></figure>',
            ((reverse("admin:inference_modelversion_plot", args=[obj.pk, index]), _plot_label(label), capfirst(_plot_label(label)))
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
            (_("minimum confidence to recognise a motif"), _cell(calibration.get("min_confidence"))),
            (_("maximum distance to the archive"), _cell(calibration.get("max_distance"))),
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
            '<table class="cualify-calibration">{}</table><details class="cualify-raw"><summary>{}</summary><pre>{}</pre></details>',
            format_html_join("", '<tr><th scope="row">{}</th><td>{}</td></tr>', ((capfirst(label), value) for label, value in rows)),
            _("Raw calibration (JSON)"), text,
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
    list_display = ["host", "pid", "models_loaded_table", "started", "last_seen"]
    readonly_fields = ["host", "pid", "models_loaded_table", "started", "last_seen"]

    models_loaded_table = json_display(WorkerHeartbeat, "models_loaded")

    def has_add_permission(self, request):
        return False


def _visible_fields(model) -> list[str]:
    """Every field but ``session_key``: a visitor's hashed key ties rows to their browser and is
    nothing a curator needs to read; ``owner`` (the account, or "anonymous visitor") stands in
    for ``user``; a JSON field is shown as tables (``<name>_table``, see ``json_display``)."""
    def shown(field):
        if field.name == "user":
            return "owner"
        return f"{field.name}_table" if field.get_internal_type() == "JSONField" else field.name

    return [shown(f) for f in model._meta.fields if f.name != "session_key"]


class VisitorOwnerMixin:
    @admin.display(description=_("owner"), ordering="user__username")
    def owner(self, obj):
        return obj.user or _("anonymous visitor")


def _thumbnail(url: str, alt, size: int = 48):
    """A fixed-size thumbnail (the image is cropped to fill the square)."""
    return format_html('<img class="cualify-thumb" src="{}" alt="{}" width="{}" height="{}" loading="lazy">', url, alt, size, size)


@admin.display(description=_("public id"), ordering="public_id")
def short_public_id(obj):
    return obj.public_id.hex[:8]


class CorrectionInline(admin.TabularInline):
    model = Correction
    extra = 0
    readonly_fields = ["kind", "motif", "comment", "status", "reviewed_by", "reviewed_at", "archive_image"]
    can_delete = False


@admin.register(ClassificationRecord)
class ClassificationRecordAdmin(VisitorOwnerMixin, admin.ModelAdmin):
    list_display = [short_public_id, "thumbnail", "status", "motif", "recognised", "confidence", "model_version", "owner", "created"]
    list_display_links = [short_public_id]
    list_filter = ["status", "recognised", "model_version"]
    readonly_fields = _visible_fields(ClassificationRecord) + ["photo"]
    fields = readonly_fields  # nothing is edited; the JSON fields appear only as their tables
    inlines = [CorrectionInline]

    top_table = json_display(ClassificationRecord, "top")
    timings_table = json_display(ClassificationRecord, "timings")

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("Photo"))
    def thumbnail(self, obj):
        return _thumbnail(reverse("classify_photo", args=[obj.public_id]), _("Photo %(id)s") % {"id": obj.public_id.hex[:8]})

    @admin.display(description=_("Photo"))
    def photo(self, obj):
        return format_html('<img src="{}" alt="" style="max-width:320px">', reverse("classify_photo", args=[obj.public_id]))


@admin.register(Correction)
class CorrectionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "thumbnail", "record", "kind", "motif", "status", "consent", "created"]
    list_filter = ["status", "kind"]
    list_select_related = ["record", "motif"]
    readonly_fields = ["record", "kind", "motif", "comment", "status", "reviewed_by", "reviewed_at", "archive_image", "photo"]
    actions = ["accept", "reject"]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("consent for training"), boolean=True)
    def consent(self, obj):
        return obj.record.consent_training

    @admin.display(description=_("Photo"))
    def thumbnail(self, obj):
        return _thumbnail(reverse("classify_photo", args=[obj.record.public_id]),
                          _("Photo %(id)s") % {"id": obj.record.public_id.hex[:8]})

    @admin.display(description=_("Photo"))
    def photo(self, obj):
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

    def get_urls(self):
        review = [path(f"<path:object_id>/{decision}/", self.admin_site.admin_view(self.review_view),
                       {"decision": decision}, name=f"inference_correction_{decision}")
                  for decision in ("accept", "reject")]
        return [*review, *super().get_urls()]

    def review_view(self, request, object_id, decision):
        """The accept and reject buttons of a correction's own page (POST, CSRF-checked by admin_view)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        correction = self.get_object(request, object_id)
        if correction is None:
            raise Http404
        if not self.has_change_permission(request, correction):
            raise PermissionDenied
        change_page = reverse("admin:inference_correction_change", args=[correction.pk])
        if correction.status != Correction.Status.PENDING:
            self.message_user(request, _("This correction was already reviewed."), messages.WARNING)
            return HttpResponseRedirect(change_page)
        if decision == "accept":
            services.correction_accept(correction=correction, reviewer=request.user)
            self.message_user(request, _("Correction accepted."), messages.SUCCESS)
        else:
            services.correction_reject(correction=correction, reviewer=request.user)
            self.message_user(request, _("Correction rejected."), messages.SUCCESS)
        return HttpResponseRedirect(change_page)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        correction = self.get_object(request, object_id)
        review_urls = None
        if correction is not None and correction.status == Correction.Status.PENDING and self.has_change_permission(request, correction):
            review_urls = {decision: reverse(f"admin:inference_correction_{decision}", args=[correction.pk])
                           for decision in ("accept", "reject")}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "review_urls": review_urls})


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
        return format_html('<img src="{}" alt="" width="96" height="96" style="image-rendering:pixelated">',
                           reverse("generate_admin_image", args=[obj.pk]))


class StageTextMixin:
    @admin.display(description=_("stage"), ordering="stage")
    def stage_text(self, obj):
        """The worker's stage code in the curator's language (as the site and the API say it)."""
        return generation_messages.stage_label(obj.stage) or "—"


@admin.register(PrintJob)
class PrintJobAdmin(StageTextMixin, admin.ModelAdmin):
    """Print jobs, read-only (a visitor asks for them from a result): what was asked, how far the
    worker is, why one failed; curators may cancel."""

    list_display = [short_public_id, "status", "stage_text", "sizes", "attempts", "created", "finished"]
    list_display_links = [short_public_id]
    list_filter = ["status"]
    search_fields = ["public_id", "error", "image__job__public_id"]
    readonly_fields = _visible_fields(PrintJob)
    fields = readonly_fields
    actions = ["cancel"]

    timings_table = json_display(PrintJob, "timings")

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("image__job")

    @admin.display(description=_("size"))
    def sizes(self, obj):
        return _("tile %(tile)s cm, cloth %(width)s × %(height)s cm") % {
            "tile": f"{obj.tile_cm:g}", "width": f"{obj.fabric_width_cm:g}", "height": f"{obj.fabric_height_cm:g}"}

    @admin.action(description=_("Cancel (queued or running jobs)"), permissions=["change"])
    def cancel(self, request, queryset):
        cancelled = sum(generation.job_cancel(job=job) for job in queryset)
        self.message_user(request, _("%(count)d jobs cancelled.") % {"count": cancelled}, messages.SUCCESS)


@admin.register(GenerationJob)
class GenerationJobAdmin(StageTextMixin, VisitorOwnerMixin, admin.ModelAdmin):
    list_display = [short_public_id, "thumbnail", "mode", "status", "stage_text", "attempts", "owner", "created", "finished"]
    list_display_links = [short_public_id]
    list_filter = ["status", "mode"]
    search_fields = ["public_id", "prompt", "error"]
    readonly_fields = _visible_fields(GenerationJob)
    fields = readonly_fields  # nothing is edited; the JSON fields appear only as their tables
    inlines = [GeneratedImageInline]
    actions = ["retry", "cancel"]

    motifs_table = json_display(GenerationJob, "motifs")
    prompt_match_table = json_display(GenerationJob, "prompt_match")
    timings_table = json_display(GenerationJob, "timings")
    model_versions_table = json_display(GenerationJob, "model_versions")

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user").prefetch_related("images")

    @admin.display(description=_("First image"))
    def thumbnail(self, obj):
        images = sorted(obj.images.all(), key=lambda image: image.index)
        if not images:
            return "—"
        return _thumbnail(reverse("generate_admin_image", args=[images[0].pk]),
                          _("First image of job %(id)s") % {"id": obj.public_id.hex[:8]})

    @admin.action(description=_("Retry (failed or cancelled jobs)"), permissions=["change"])
    def retry(self, request, queryset):
        retried = sum(generation.generation_job_retry(job=job) for job in queryset)
        self.message_user(request, _("%(count)d jobs queued again.") % {"count": retried}, messages.SUCCESS)

    @admin.action(description=_("Cancel (queued or running jobs)"), permissions=["change"])
    def cancel(self, request, queryset):
        cancelled = sum(generation.generation_job_cancel(job=job) for job in queryset)
        self.message_user(request, _("%(count)d jobs cancelled.") % {"count": cancelled}, messages.SUCCESS)
