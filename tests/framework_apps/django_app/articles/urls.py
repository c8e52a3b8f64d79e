from django.urls import path, re_path

from articles import views

urlpatterns = [
    path("", views.index, name="index"),
    path("<int:article_id>/", views.show, name="show"),
    path("<int:article_id>/files/<path:name>", views.attachment, name="attachment"),
    re_path(r"^archive/(?P<year>[0-9]{4})/$", views.archive, name="archive"),
]
