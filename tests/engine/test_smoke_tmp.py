import pytest
from sync import services
from sync.engine.cycle import run_cycle
from sync.models import *

pytestmark = pytest.mark.django_db(transaction=True)

def test_smoke(crm):
    crm.load({"salesforce": {"Contact": [{"FirstName": "Ann", "LastName": "Lee", "Email": "ann@example.com"}],
                             "Lead": [{"FirstName": "Ann", "LastName": "Lee", "Email": " ANN@example.com", "Company": "X"},
                                      {"FirstName": "Bo", "LastName": "B", "Email": "bo@example.com", "Company": "Y"}]},
              "hubspot": {"contacts": [{"properties": {"email": "ann@example.com", "firstname": "Ann"}},
                                       {"properties": {"email": "new@example.com", "lastname": "New"}}]}})
    run = run_cycle(services.request_sync(full=False, actor=None, enqueue=False).pk)
    print(run.status, run.error)
    print({k: getattr(run, k) for k in ("pulled","linked","switched","created","errors","sf_api_calls","hs_api_calls")})
    for l in ContactLink.objects.select_related("hs_contact","sf_person"): print(l, l.chosen_by)
    for e in AuditEvent.objects.all(): print(e, e.message)
    assert run.status == "succeeded"
    run2 = run_cycle(services.request_sync(full=False, actor=None, enqueue=False).pk)
    print({k: getattr(run2, k) for k in ("status","pulled","linked","switched","created","errors","sf_api_calls","hs_api_calls")})
    run3 = run_cycle(services.request_sync(full=False, actor=None, enqueue=False).pk)
    print({k: getattr(run3, k) for k in ("status","pulled","linked","switched","created","errors","sf_api_calls","hs_api_calls")}, run3.error)
