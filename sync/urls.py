from django.urls import path

from sync import views

app_name = "sync"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("duplicates/", views.duplicates, name="duplicates"),
    path("contacts/", views.contacts, name="contacts"),
    path("contacts/<str:hs_id>/", views.contact, name="contact"),
    path("runs/", views.runs, name="runs"),
    path("runs/<int:pk>/", views.run, name="run"),
    path("audit/", views.audit, name="audit"),
    path("settings/", views.settings_view, name="settings"),
]
