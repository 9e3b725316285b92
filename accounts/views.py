from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from . import services
from .forms import SignUpForm
from .roles import ROLE_LABELS, user_role


@sensitive_post_parameters("password1", "password2")
def signup(request):
    if request.user.is_authenticated:
        return redirect("accounts:profile")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome to Cualify, %(name)s!") % {"name": user.username})
        return redirect("accounts:profile")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def profile(request):
    return _profile(request)


def _profile(request, **extra):
    role = user_role(request.user)
    return render(request, "accounts/profile.html", {
        "role": role, "role_label": ROLE_LABELS[role], "api_token": services.api_token_of(user=request.user), **extra,
    })


@require_POST
@login_required
def api_token_create(request):
    """A new API token, shown on this answer only (never stored in a message or a cookie)."""
    token = services.api_token_create(user=request.user)
    response = _profile(request, new_api_token=token.key)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def api_token_revoke(request):
    if services.api_token_revoke(user=request.user):
        messages.success(request, _("Your API token was revoked: programs using it can no longer sign in."))
    return redirect("accounts:profile")
