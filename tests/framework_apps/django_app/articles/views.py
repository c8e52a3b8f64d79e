from django.http import HttpRequest, JsonResponse
from django.urls import reverse


def index(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"articles": [], "tags": request.GET.getlist("tag")})


def show(request: HttpRequest, article_id: int) -> JsonResponse:
    url = request.build_absolute_uri(reverse("show", args=[article_id]))
    return JsonResponse({"id": article_id, "url": url})


def attachment(request: HttpRequest, article_id: int, name: str) -> JsonResponse:
    return JsonResponse({"article": article_id, "name": name})


def archive(request: HttpRequest, year: str) -> JsonResponse:
    return JsonResponse({"year": int(year)})
