from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def about(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"page": "about", "path": request.path})


urlpatterns = [
    path("health/", health),
    path("articles/", include("articles.urls")),
    # a language prefix API Gateway cannot express: a greedy resource under /pages
    re_path(r"^pages/(?:en|fr)/about/$", about),
]
