import time, pytest
from sandbox.scenario import scenario_dict
from tests.engine.conftest import sync
pytestmark = pytest.mark.django_db(transaction=True)
def test_probe(crm):
    t=time.time(); sc = scenario_dict(2000, seed=7); print("gen", time.time()-t)
    print({c:{k:len(v) for k,v in d.items()} for c,d in sc.items()})
    crm.load(sc); print("load", time.time()-t)
    for i in range(5):
        crm.reset_stats(); t=time.time()
        run = sync(); print(i, run.status, run.error[:300], time.time()-t, {k: getattr(run,k) for k in ("pulled","linked","switched","lost_primary","created","deleted","field_changes","errors","sf_api_calls","hs_api_calls")})
        print(crm.stats())
