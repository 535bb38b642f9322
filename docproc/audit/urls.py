from django.urls import path

from . import views

app_name = "audit"
urlpatterns = [
    path("", views.event_list, name="events"),
    path("events/<int:seq>/", views.event_detail, name="event"),
    path("export/<str:fmt>/", views.export, name="export"),
    path("export/<str:fmt>/manifest/", views.export_manifest, name="manifest"),
]
