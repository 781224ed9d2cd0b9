from django.urls import path

from sync.views import audit, contacts, duplicates, overview, records, rules, runs, settings, sync_errors

app_name = "sync"
urlpatterns = [
    path("", overview.overview, name="overview"),
    path("sync/", overview.sync_now, name="sync_now"),
    path("runs/", runs.runs, name="runs"),
    path("runs/<int:pk>/", runs.run, name="run"),
    path("runs/<int:pk>/progress/", overview.run_progress, name="run_progress"),
    path("runs/<int:pk>/retry/", runs.retry_errors, name="retry_errors"),
    path("duplicates/", duplicates.duplicates, name="duplicates"),
    path("duplicates/merge/", duplicates.merge_salesforce, name="merge_salesforce"),
    path("duplicates/merge-hubspot/", duplicates.merge_hubspot, name="merge_hubspot"),
    path("duplicates/merge-companies/", duplicates.merge_companies, name="merge_companies"),
    path("duplicates/convert/", duplicates.convert_lead, name="convert_lead"),
    path("contacts/", contacts.contacts, name="contacts"),
    path("contacts/resync/", contacts.bulk_resync, name="bulk_resync"),
    path("contacts/<str:hs_id>/", contacts.contact, name="contact"),
    path("contacts/<str:hs_id>/resync/", contacts.resync, name="resync"),
    path("jobs/<int:pk>/", contacts.job, name="job"),
    path("companies/<str:hs_id>/", records.company, name="company"),
    path("deals/<str:hs_id>/", records.deal, name="deal"),
    path("errors/", sync_errors.sync_errors, name="sync_errors"),
    path("errors/retry/", sync_errors.retry_sync_errors, name="retry_sync_errors"),
    path("errors/resync/", sync_errors.resync_sync_errors, name="resync_sync_errors"),
    path("errors/export.csv", sync_errors.sync_errors_csv, name="sync_errors_csv"),
    path("rules/", rules.rules, name="rules"),
    path("audit/", audit.audit, name="audit"),
    path("audit/export.csv", audit.audit_csv, name="audit_csv"),
    path("settings/", settings.settings_view, name="settings"),
    path("settings/test/<str:crm>/", settings.test_connection, name="test_connection"),
    path("settings/hubspot-lists/", settings.hubspot_lists, name="hubspot_lists"),
    path("settings/stages/", settings.stage_mapping, name="stage_mapping"),
    path("settings/stages/refresh/", settings.refresh_stages, name="refresh_stages"),
]
