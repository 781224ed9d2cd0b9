"""Deal stages → Salesforce opportunity stages on the Settings page: read from both CRMs (HubSpot's
pipelines, the org's OpportunityStage rows), proposed from probabilities, changed by an admin and
audited, refused when a stage is not one the org offers; a deal in an unmapped custom stage is a
record error until it is mapped, and then its opportunity is created with the chosen stage."""
from __future__ import annotations

import pytest
from django.urls import reverse

from sync.models import AuditEvent, OrgStage, RecordError, StageMapping
from tests.conftest import restore_reference_data
from tests.console.test_merge import messages_of
from tests.engine.conftest import sync_ok

pytestmark = pytest.mark.django_db(transaction=True)
RENEWALS = {"id": "777", "label": "Renewals", "displayOrder": 1, "stages": [
    {"id": "7001", "label": "Talking", "displayOrder": 0, "metadata": {"probability": "0.45", "isClosed": "false"}},
    {"id": "7002", "label": "Renewed", "displayOrder": 1, "metadata": {"probability": "1.0", "isClosed": "true"}}]}


@pytest.fixture(autouse=True)
def _reference(transactional_db):
    restore_reference_data()


def _refresh(admin_client_):
    return admin_client_.post(reverse("sync:refresh_stages"), follow=True)


def test_reading_the_pipelines_proposes_a_stage_for_each(crm, admin_client_, admin_user):
    crm.load({"hubspot": {"pipelines": [RENEWALS]}})
    response = _refresh(admin_client_)
    assert messages_of(response) == ["Read the pipelines and stages: 9 new stage(s) got a proposed mapping."]
    proposed = dict(StageMapping.objects.values_list("stage_id", "salesforce_stage"))
    assert proposed["7001"] == "Value Proposition" and proposed["7002"] == "Closed Won"
    assert proposed["contractsent"] == "Negotiation/Review"          # the default pipeline's standard counterpart
    assert "Closed Lost" in set(OrgStage.objects.values_list("name", flat=True))
    html = response.content.decode()
    assert "Renewals" in html and "Talking" in html
    assert AuditEvent.objects.get(target_id="stages").actor == admin_user


def test_an_admin_maps_a_stage_and_it_is_audited(crm, admin_client_, admin_user):
    crm.load({"hubspot": {"pipelines": [RENEWALS]}})
    _refresh(admin_client_)
    row = StageMapping.objects.get(stage_id="7001")
    response = admin_client_.post(reverse("sync:stage_mapping"), {f"stage-{row.pk}": "Qualification"}, follow=True)
    assert messages_of(response) == ["Deal stage mapping saved (1 stage(s) changed)."]
    row.refresh_from_db()
    assert (row.salesforce_stage, row.set_by) == ("Qualification", "person")
    event = AuditEvent.objects.get(target_id="stage:777.7001")
    assert (event.before, event.after, event.actor) == ({"salesforce_stage": "Value Proposition"},
                                                        {"salesforce_stage": "Qualification"}, admin_user)


def test_a_stage_the_org_does_not_offer_is_refused_and_nothing_changes(crm, admin_client_):
    crm.load({"hubspot": {"pipelines": [RENEWALS]}})
    _refresh(admin_client_)
    row = StageMapping.objects.get(stage_id="7001")
    response = admin_client_.post(reverse("sync:stage_mapping"), {f"stage-{row.pk}": "7001"}, follow=True)
    [message] = messages_of(response)
    assert message.startswith("Not an opportunity stage of this Salesforce org: 7001.")
    row.refresh_from_db()
    assert row.salesforce_stage == "Value Proposition"
    assert not AuditEvent.objects.filter(target_id="stage:777.7001").exists()


def test_only_admins_change_the_mapping(crm, operator_client, client):
    assert operator_client.post(reverse("sync:stage_mapping"), {}).status_code == 403
    assert operator_client.post(reverse("sync:refresh_stages")).status_code == 403
    assert client.post(reverse("sync:stage_mapping"), {})["Location"].startswith("/login/")
    assert operator_client.get(reverse("sync:stage_mapping")).status_code == 405


def test_an_unmapped_stage_is_a_record_error_until_mapped_then_its_opportunity_is_made(crm, admin_client_):
    from sandbox.testing import salesforce_client

    sf = salesforce_client(crm.url)
    crm.load({"hubspot": {"pipelines": [RENEWALS], "deals": [
        {"id": "9001", "properties": {"dealname": "Renewal", "pipeline": "777", "dealstage": "7001"}}]}})
    _refresh(admin_client_)
    row = StageMapping.objects.get(stage_id="7001")
    admin_client_.post(reverse("sync:stage_mapping"), {f"stage-{row.pk}": ""})
    run = sync_ok(full=True)
    [error] = RecordError.objects.filter(run=run, record_id="9001")
    assert "not mapped to a Salesforce opportunity stage" in error.message and "Settings page" in error.message
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == 0
    admin_client_.post(reverse("sync:stage_mapping"), {f"stage-{row.pk}": "Needs Analysis"})
    sync_ok()
    [opp] = sf.query("SELECT StageName, HubSpot_Deal_Id__c FROM Opportunity")["records"]
    assert (opp["StageName"], opp["HubSpot_Deal_Id__c"]) == ("Needs Analysis", "9001")
