from django import forms
from django.utils.translation import gettext_lazy as _

from motifs.models import Motif

from ..models import Correction


class ClassifyForm(forms.Form):
    photo = forms.FileField(
        label=_("Photo of the cloth"),
        widget=forms.ClearableFileInput(attrs={"accept": "image/*", "capture": "environment", "data-photo-input": ""}),
    )
    consent_training = forms.BooleanField(
        label=_("Curators may add this photo to the archive to improve the model"), required=False, initial=False,
    )


class CorrectionForm(forms.Form):
    choice = forms.ChoiceField(label=_("What is it really?"))
    comment = forms.CharField(label=_("Comment (optional)"), required=False, max_length=500)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        motifs = [(m.slug, m.name) for m in Motif.objects.published().order_by("name")]
        self.fields["choice"].choices = [("", "—")] + motifs + [(Correction.Kind.NOT_BATIK, _("It is not Batik Cual"))]

    def clean(self):
        cleaned = super().clean()
        choice = cleaned.get("choice")
        if choice == Correction.Kind.NOT_BATIK:
            cleaned["kind"], cleaned["motif"] = Correction.Kind.NOT_BATIK, None
        elif choice:
            cleaned["kind"], cleaned["motif"] = Correction.Kind.MOTIF, Motif.objects.get(slug=choice)
        return cleaned
