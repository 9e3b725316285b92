from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Category, Owner


class GalleryFilterForm(forms.Form):
    """The gallery's filters: a GET form, so filtered views can be linked and bookmarked."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    category = forms.ChoiceField(label=_("Category"), required=False, choices=[("", _("All categories"))] + list(Category.choices))
    owner = forms.ChoiceField(label=_("Gallery or maker"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", _("All galleries"))] + list(Owner.objects.order_by("name").values_list("slug", "name"))
