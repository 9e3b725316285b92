"""Who the API thinks the caller is: the quickest check that a token works."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .roles import ROLE_LABELS, user_role


class MeSerializer(serializers.Serializer):
    authenticated = serializers.BooleanField()
    username = serializers.CharField(allow_blank=True)
    role = serializers.ChoiceField(choices=list(ROLE_LABELS.items()))


class MeView(APIView):
    @extend_schema(summary="The caller", description="Anonymous callers are visitors.", responses=MeSerializer)
    def get(self, request):
        user = request.user
        return Response({"authenticated": user.is_authenticated,
                         "username": user.get_username() if user.is_authenticated else "", "role": user_role(user)})
