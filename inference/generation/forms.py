from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from core.imaging import ImageRejected
from motifs import services as archive
from motifs.models import Motif

from ..models import GenerationJob
from . import services as generation


class GenerateForm(forms.Form):
    """One form for the three modes; the motif picker is a grid of thumbnails (checkboxes),
    each with its own weight field ``weight_<slug>``."""

    mode = forms.ChoiceField(label=_("Mode"), choices=GenerationJob.Mode.choices, initial=GenerationJob.Mode.FUSION,
                             widget=forms.RadioSelect(attrs={"data-mode-input": ""}))
    motifs = forms.MultipleChoiceField(label=_("Motifs"), required=False, widget=forms.CheckboxSelectMultiple)
    structure_from = forms.ChoiceField(label=_("Structure from"), required=False,
                                       help_text=_("Fusion: the motif that gives the layout (coarse layers)."))
    detail_from = forms.ChoiceField(label=_("Detail and colour from"), required=False,
                                    help_text=_("Fusion: the motif that gives ornament and colour (fine layers)."))
    reference = forms.FileField(label=_("Reference image (variation)"), required=False,
                                widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
                                help_text=_("Optional: vary your own photo instead of an archive motif."))
    prompt = forms.CharField(label=_("Description"), required=False, max_length=300,
                             widget=forms.TextInput(attrs={"placeholder": _("e.g. bunga kenanga merah / red ylang-ylang flowers")}))
    seed = forms.IntegerField(label=_("Seed"), required=False, min_value=0, max_value=generation.MAX_SEED,
                              help_text=_("Empty: a random seed (always recorded, so any result can be made again)."))
    count = forms.IntegerField(label=_("Number of images"), min_value=1, max_value=generation.MAX_COUNT, initial=4)
    truncation = forms.FloatField(label=_("Truncation (lower: closer to the typical motif)"), min_value=0.1, max_value=1.0,
                                  initial=0.7, widget=forms.NumberInput(attrs={"step": "0.05"}))
    distance = forms.FloatField(label=_("How different (variation)"), min_value=0.0, max_value=1.0, initial=0.5,
                                widget=forms.NumberInput(attrs={"step": "0.05"}))
    refine = forms.BooleanField(label=_("Refine with the diffusion model"), required=False)
    refine_strength = forms.FloatField(label=_("Refinement strength"), min_value=0.05, max_value=0.9, initial=0.3,
                                       widget=forms.NumberInput(attrs={"step": "0.05"}))
    tile = forms.BooleanField(label=_("Seamless tile (repeats without seams, for printing)"), required=False, initial=True)
    upscale = forms.TypedChoiceField(label=_("Upscale"), coerce=int, initial=1,
                                     choices=[(f, f"×{f}") for f in generation.UPSCALE_FACTORS])

    def __init__(self, *args, motifs=(), refine_default=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.motif_list = list(motifs)
        choices = [(m.slug, m.name) for m in self.motif_list]
        self.fields["motifs"].choices = choices
        self.fields["structure_from"].choices = [("", _("— blend —"))] + choices
        self.fields["detail_from"].choices = [("", _("— blend —"))] + choices
        self.fields["refine"].initial = refine_default
        for motif in self.motif_list:
            self.fields[f"weight_{motif.slug}"] = forms.FloatField(
                label=_("Weight of %(motif)s") % {"motif": motif.name}, required=False, min_value=0.1, max_value=10.0,
                initial=1.0, widget=forms.NumberInput(attrs={"step": "0.1", "class": "weight-input"}),
            )

    def weight_fields(self):
        return {m.slug: self[f"weight_{m.slug}"] for m in self.motif_list}

    def picker(self):
        """(motif, checked, weight bound field) for the thumbnail grid."""
        chosen = set(self.data.getlist("motifs")) if self.is_bound else set(self.initial.get("motifs", []))
        return [(m, m.slug in chosen, self[f"weight_{m.slug}"]) for m in self.motif_list]

    def clean_reference(self):
        upload = self.cleaned_data.get("reference")
        if not upload:
            return None
        if upload.size > settings.CUALIFY_MAX_IMAGE_BYTES:
            raise forms.ValidationError(archive.REJECTION_MESSAGES["too_large"], code="too_large")
        try:
            return archive.image_normalize(upload.read())
        except ImageRejected as exc:
            raise forms.ValidationError(archive.rejection_message(exc), code=exc.code) from exc

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        mode = data["mode"]
        slugs = data.get("motifs") or []
        if mode == GenerationJob.Mode.PROMPT:
            slugs = []
        weights = tuple((slug, data.get(f"weight_{slug}") or 1.0) for slug in slugs)
        self.request = generation.GenerationRequest(
            mode=mode, motifs=weights,
            structure_from=data.get("structure_from", "") if mode == GenerationJob.Mode.FUSION else "",
            detail_from=data.get("detail_from", "") if mode == GenerationJob.Mode.FUSION else "",
            prompt=data.get("prompt", "") if mode == GenerationJob.Mode.PROMPT else "",
            reference=data.get("reference") if mode == GenerationJob.Mode.VARIATION else None,
            seed=data.get("seed"), count=data["count"], truncation=data["truncation"], distance=data["distance"],
            refine=data.get("refine", False), refine_strength=data["refine_strength"], tile=data.get("tile", False),
            upscale=data["upscale"],
        )
        try:
            generation.check_request(self.request, generation.active_generator())
        except generation.GenerationRejected as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from exc
        return data


class PrintForm(forms.Form):
    tile_cm = forms.FloatField(label=_("Printed tile size (cm)"), min_value=1.0, max_value=100.0, initial=5.0)
    fabric_width_cm = forms.FloatField(label=_("Fabric width (cm)"), min_value=1.0, max_value=300.0, initial=20.0)
    fabric_height_cm = forms.FloatField(label=_("Fabric height (cm)"), min_value=1.0, max_value=300.0, initial=20.0)


class PromoteForm(forms.Form):
    motif = forms.ModelChoiceField(label=_("Archive it under"), queryset=Motif.objects.order_by("name"))
