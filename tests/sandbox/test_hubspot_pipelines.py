"""HubSpot emulator: deal pipelines (the default sales pipeline, custom ones from a scenario) and
the stage-within-pipeline check HubSpot makes on every deal write."""
import json

import pytest
import requests
from hubspot.crm.deals import (
    ApiException,
    BatchInputSimplePublicObjectBatchInputForCreate,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)

from sandbox.testing import raw

RENEWALS = {"id": "12345678", "label": "Renewals", "displayOrder": 1, "stages": [
    {"id": "12345679", "label": "Renewal due", "metadata": {"probability": "0.3", "isClosed": "false"}},
    {"id": "12345680", "label": "Renewed", "metadata": {"probability": "1.0", "isClosed": "true"}}]}


@pytest.fixture
def renewals(emu):
    emu.load_records("pipelines", [RENEWALS])
    return emu


def _problems(exc):
    """The entries of HubSpot's 'Property values were not valid: [...]' message."""
    body = json.loads(exc.body)
    assert exc.status == 400 and body["category"] == "VALIDATION_ERROR"
    prefix = "Property values were not valid: "
    assert body["message"].startswith(prefix)
    return json.loads(body["message"][len(prefix):])


def test_every_portal_has_the_default_sales_pipeline(client):
    """Seven standard stages with string metadata, in display order, read through the real client."""
    pipes = client.crm.pipelines.pipelines_api.get_all("deals").results
    assert [p.id for p in pipes] == ["default"]
    p = pipes[0]
    assert p.label == "Sales Pipeline" and p.display_order == 0 and p.archived is False and p.created_at
    stages = [(s.id, s.metadata["probability"], s.metadata["isClosed"]) for s in p.stages]
    assert stages == [("appointmentscheduled", "0.2", "false"), ("qualifiedtobuy", "0.4", "false"),
                      ("presentationscheduled", "0.6", "false"), ("decisionmakerboughtin", "0.8", "false"),
                      ("contractsent", "0.9", "false"), ("closedwon", "1.0", "true"),
                      ("closedlost", "0.0", "true")]
    assert [s.display_order for s in p.stages] == list(range(7))
    assert {s.write_permissions for s in p.stages} == {"CRM_PERMISSIONS_ENFORCEMENT"}


def test_one_pipeline_its_stages_and_a_stage(client, renewals, server):
    api, stages = client.crm.pipelines.pipelines_api, client.crm.pipelines.pipeline_stages_api
    assert [p.id for p in api.get_all("deals").results] == ["default", "12345678"]
    assert api.get_by_id("deals", "12345678").label == "Renewals"
    assert [s.id for s in stages.get_all("deals", "12345678").results] == ["12345679", "12345680"]
    assert stages.get_by_id("deals", "12345678", "12345680").metadata == {"probability": "1.0", "isClosed": "true"}
    assert raw(server, "GET", "/crm/v3/pipelines/0-3/default")[2]["id"] == "default"  # type id works too
    from hubspot.crm.pipelines import ApiException as PipelineError

    with pytest.raises(PipelineError) as ei:
        api.get_by_id("deals", "999")
    assert ei.value.status == 404 and json.loads(ei.value.body)["category"] == "OBJECT_NOT_FOUND"
    assert api.get_all("tickets").results == []   # no tickets in the sandbox
    assert raw(server, "GET", "/crm/v3/pipelines/contacts")[0] == 400


def test_a_stage_of_another_pipeline_is_refused(client, renewals):
    """HubSpot checks dealstage against the deal's pipeline (the default one when none is given)."""
    basic = client.crm.deals.basic_api
    with pytest.raises(ApiException) as ei:
        basic.create(SimplePublicObjectInputForCreate(properties={"dealname": "R", "dealstage": "12345679"}))
    (problem,) = _problems(ei.value)
    assert (problem["name"], problem["error"]) == ("dealstage", "INVALID_OPTION") and problem["isValid"] is False
    ok = basic.create(SimplePublicObjectInputForCreate(properties={
        "dealname": "R", "pipeline": "12345678", "dealstage": "12345679"}))
    assert ok.properties["pipeline"] == "12345678"
    for props in ({"dealstage": "closedwon"}, {"pipeline": "default"}):  # either half alone breaks the pair
        with pytest.raises(ApiException) as ei:
            basic.update(ok.id, SimplePublicObjectInput(properties=props))
        assert _problems(ei.value)[0]["name"] == "dealstage"
    moved = basic.update(ok.id, SimplePublicObjectInput(properties={"pipeline": "default",
                                                                    "dealstage": "closedwon"}))
    assert moved.properties["dealstage"] == "closedwon"
    with pytest.raises(ApiException) as ei:
        basic.create(SimplePublicObjectInputForCreate(properties={"dealname": "X", "pipeline": "nope"}))
    (problem,) = _problems(ei.value)
    assert (problem["name"], problem["error"]) == ("pipeline", "INVALID_OPTION")


def test_one_bad_stage_fails_the_whole_batch(client, renewals):
    """Like every other invalid property value in a batch: a 400, nothing written."""
    before = renewals.counts()["deals"]["live"]
    with pytest.raises(ApiException) as ei:
        client.crm.deals.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
            {"properties": {"dealname": "fine", "dealstage": "closedwon"}, "associations": []},
            {"properties": {"dealname": "bad", "pipeline": "12345678", "dealstage": "closedwon"},
             "associations": []}]))
    assert _problems(ei.value)[0]["name"] == "dealstage"
    assert renewals.counts()["deals"]["live"] == before


def test_deal_property_options_list_every_pipeline_and_stage(client, renewals):
    """What a client reads to map stages: the property definitions follow the pipelines."""
    core = client.crm.properties.core_api
    assert [o.value for o in core.get_by_name("deals", "pipeline").options] == ["default", "12345678"]
    stage_opts = {o.value: o.label for o in core.get_by_name("deals", "dealstage").options}
    assert stage_opts["12345679"] == "Renewal due" and stage_opts["closedwon"] == "Closed Won"


def test_pipelines_load_through_the_control_api_before_their_deals(server, emu):
    """A scenario's `hubspot.pipelines` is loaded first, so its deals can use it; bad ones are a 400."""
    scenario = {"hubspot": {"pipelines": [RENEWALS],
                            "deals": [{"id": "9100", "properties": {"dealname": "D", "pipeline": "12345678",
                                                                    "dealstage": "12345680"}}]}}
    r = requests.post(f"{server.url}/_sandbox/load", json=scenario)
    assert r.status_code == 200 and r.json()["loaded"]["hubspot"] == {"pipelines": 1, "deals": 1}
    emu.reset()
    bad_deal = {"hubspot": {"deals": [{"properties": {"dealname": "D", "dealstage": "12345680"}}]}}
    assert requests.post(f"{server.url}/_sandbox/load", json=bad_deal).status_code == 400
    twice = {**RENEWALS, "id": "22222222"}  # stage ids are unique across pipelines
    r = requests.post(f"{server.url}/_sandbox/load", json={"hubspot": {"pipelines": [RENEWALS, twice]}})
    assert r.status_code == 400 and "12345679" in r.json()["error"]


def test_the_demo_scenario_has_a_custom_pipeline_in_use(client, emu):
    from sandbox.scenario import generate

    emu.sandbox.load_records(t for t in generate("demo", now="2026-11-01T00:00:00Z") if t[0] == "hubspot")
    pipes = client.crm.pipelines.pipelines_api.get_all("deals").results
    assert len(pipes) == 2 and pipes[1].id.isdigit()
    res = client.crm.deals.search_api.do_search({"filterGroups": [{"filters": [
        {"propertyName": "pipeline", "operator": "EQ", "value": pipes[1].id}]}], "properties": ["dealstage"]})
    assert res.total >= 2
    assert {r.properties["dealstage"] for r in res.results} <= {s.id for s in pipes[1].stages}
