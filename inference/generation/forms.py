from django import forms
from django.utils.translation import gettext_lazy as _

from core import intake
from core.imaging import ImageRejected
from motifs.models import Motif

from core import limits
from core.limits import GENERATION_DEFAULTS as DEFAULTS

from ..models import GenerationJob
from . import messages
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
    prompt = forms.CharField(label=_("Description"), required=False, max_length=limits.PROMPT_MAX_CHARS,
                             widget=forms.TextInput(attrs={"placeholder": _("e.g. bunga kenanga merah / red ylang-ylang flowers")}))
    seed = forms.IntegerField(label=_("Seed"), required=False, min_value=0, max_value=limits.MAX_SEED,
                              help_text=_("Empty: a random seed (always recorded, so any result can be made again)."))
    count = forms.IntegerField(label=_("Number of images"), initial=DEFAULTS.count, **limits.COUNT.field_kwargs())
    truncation = forms.FloatField(label=_("Truncation (lower: closer to the typical motif)"), initial=DEFAULTS.truncation,
                                  widget=forms.NumberInput(attrs={"step": "0.05"}), **limits.TRUNCATION.field_kwargs())
    distance = forms.FloatField(label=_("How different (variation)"), initial=DEFAULTS.distance,
                                widget=forms.NumberInput(attrs={"step": "0.05"}), **limits.DISTANCE.field_kwargs())
    refine = forms.BooleanField(label=_("Refine with the diffusion model"), required=False)
    refine_strength = forms.FloatField(label=_("Refinement strength"), initial=DEFAULTS.refine_strength,
                                       widget=forms.NumberInput(attrs={"step": "0.05"}), **limits.REFINE_STRENGTH.field_kwargs())
    tile = forms.BooleanField(label=_("Seamless tile (repeats without seams, for printing)"), required=False,
                              initial=DEFAULTS.tile)
    upscale = forms.TypedChoiceField(label=_("Upscale"), coerce=int, initial=DEFAULTS.upscale,
                                     choices=[(f, f"×{f}") for f in limits.UPSCALE_FACTORS])

    def __init__(self, *args, motifs=(), refine_default=False, refine_side=None, **kwargs):
        super().__init__(*args, **kwargs)
        if refine_side:
            # The super-resolution refiner: say what it gives before the visitor asks for it.
            self.fields["refine"].help_text = _(
                "Draws the motif again at %(side)s px, with sharp edges and fine texture, instead of only "
                "enlarging it (the upscale factor then enlarges that)."
            ) % {"side": refine_side}
        self.motif_list = list(motifs)
        choices = [(m.slug, m.name) for m in self.motif_list]
        self.fields["motifs"].choices = choices
        self.fields["structure_from"].choices = [("", _("— blend —"))] + choices
        self.fields["detail_from"].choices = [("", _("— blend —"))] + choices
        self.fields["refine"].initial = refine_default
        for motif in self.motif_list:
            self.fields[f"weight_{motif.slug}"] = forms.FloatField(
                label=_("Weight of %(motif)s") % {"motif": motif.name}, required=False, **limits.WEIGHT.field_kwargs(),
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
        if not upload or not generation.reference_needed(self.data.get("mode", "")):
            return None
        try:
            return intake.image_normalize(upload.read())
        except ImageRejected as exc:
            raise forms.ValidationError(intake.rejection_message(exc), code=exc.code) from exc

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        weights = tuple((slug, data.get(f"weight_{slug}") or 1.0) for slug in data.get("motifs") or [])
        self.request = generation.generation_request(
            mode=data["mode"], motifs=weights, structure_from=data.get("structure_from"), detail_from=data.get("detail_from"),
            prompt=data.get("prompt"), reference=data.get("reference"), seed=data.get("seed"), count=data["count"],
            truncation=data["truncation"], distance=data["distance"], refine=data.get("refine", False),
            refine_strength=data["refine_strength"], tile=data.get("tile", False), upscale=data["upscale"],
        )
        try:
            generation.check_request(self.request, generation.active_generator())
        except generation.GenerationRejected as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from exc
        return data


class PrintForm(forms.Form):
    tile_cm = forms.FloatField(label=_("Printed tile size (cm)"), initial=5.0, **limits.PRINT_TILE_CM.field_kwargs())
    fabric_width_cm = forms.FloatField(label=_("Fabric width (cm)"), initial=200.0, **limits.PRINT_FABRIC_CM.field_kwargs())
    fabric_height_cm = forms.FloatField(label=_("Fabric height (cm)"), initial=110.0, **limits.PRINT_FABRIC_CM.field_kwargs())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The limit is said before anyone asks for too much (the same figures as the refusals).
        self.limit_note = _("You get two files: the tile at 300 dpi, at most %(print_tile_cm)s × %(print_tile_cm)s cm, "
                            "and the whole fabric at 150 dpi, at most %(fabric_megapixels)s megapixels (for example "
                            "%(fabric_kain_cm)s × %(kain_height_cm)s cm, or %(fabric_side_cm)s × %(fabric_side_cm)s cm)."
                            ) % messages.limit_values()

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                generation.print_sizes(**data)
            except generation.GenerationRejected as exc:
                raise forms.ValidationError(exc.message, code=exc.code) from exc
        return data


class PromoteForm(forms.Form):
    motif = forms.ModelChoiceField(label=_("Archive it under"), queryset=Motif.objects.order_by("name"))
