"""The "your photos and generations" page: what Cualify keeps of a visitor's classifications and generations, and
deleting all of it. Signed-in users delete their account's records; anonymous visitors their
browser session's."""
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from ..visitors import viewer_key
from . import services as privacy


@require_http_methods(["GET", "POST"])
def my_data(request):
    """GET, or a POST without ``confirm``, shows what would go (the confirm step); a POST with
    ``confirm=yes`` deletes it."""
    user = request.user
    session_key = "" if user.is_authenticated else viewer_key(request)
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        deleted = privacy.visitor_records_delete(user=user, session_key=session_key)
        messages.success(request, _("Deleted with all their images: classifications %(classifications)s, generations %(generations)s.")
                         % {"classifications": deleted.classifications, "generations": deleted.generations})
        return redirect("accounts:profile" if user.is_authenticated else "privacy")
    classifications, generations = privacy.visitor_records(user=user, session_key=session_key)
    return render(request, "inference/privacy.html", {
        "classifications": classifications.count(), "generations": generations.count(),
        "retention_days": settings.CUALIFY_ANONYMOUS_RETENTION_DAYS,
    })
