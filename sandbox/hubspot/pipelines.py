"""Deal pipelines: `GET /crm/v3/pipelines/{objectType}[/{pipelineId}[/stages[/{stageId}]]]` and the
check HubSpot makes on deal writes (a deal's `dealstage` must be a stage of its `pipeline`).

Wire format: the SDK's `hubspot.crm.pipelines` models (`Pipeline`, `PipelineStage`; all fields
required except `archivedAt` and `writePermissions`); stage `metadata` values are strings
(`{"isClosed": "false", "probability": "0.2"}`), as in HubSpot's own examples. Every portal has the
sales pipeline `default` with the seven standard stages; scenarios add pipelines under
`hubspot.pipelines` (custom ones have numeric-string ids, e.g. "75318642", as in real portals).
Tickets have pipelines in HubSpot but no records here: their list is empty.
"""
from __future__ import annotations

import json

from sandbox.hubspot.util import HubSpotError, json_response, validation_error

# The portal's creation time stands in for the standard pipeline's timestamps (UNCONFIRMED value;
# live portals show their own creation date here).
_SEED_TS = "2019-08-06T02:41:08.029Z"
DEFAULT_STAGES = (  # id, label, probability, closed
    ("appointmentscheduled", "Appointment Scheduled", "0.2", False),
    ("qualifiedtobuy", "Qualified To Buy", "0.4", False),
    ("presentationscheduled", "Presentation Scheduled", "0.6", False),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", False),
    ("contractsent", "Contract Sent", "0.9", False),
    ("closedwon", "Closed Won", "1.0", True),
    ("closedlost", "Closed Lost", "0.0", True),
)
PIPELINE_TYPES = {"deals": "deals", "deal": "deals", "0-3": "deals",
                  "tickets": "tickets", "ticket": "tickets", "0-5": "tickets"}


def _stage(sid: str, label: str, order: int, probability: str, closed: bool, ts: str = _SEED_TS) -> dict:
    return {"id": sid, "label": label, "displayOrder": order,
            "metadata": {"isClosed": "true" if closed else "false", "probability": probability},
            "createdAt": ts, "updatedAt": ts, "archived": False,
            "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"}


def default_pipeline() -> dict:
    return {"id": "default", "label": "Sales Pipeline", "displayOrder": 0, "createdAt": _SEED_TS,
            "updatedAt": _SEED_TS, "archived": False,
            "stages": [_stage(sid, label, i, p, closed) for i, (sid, label, p, closed) in enumerate(DEFAULT_STAGES)]}


def _text(value, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"pipeline {what} must be a non-empty string, not {value!r}")
    return value


def _order(value, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"displayOrder must be an integer, not {value!r}")
    return value


def _metadata(raw) -> dict:
    """Deal stages carry `probability` (0..1) and `isClosed`; values are strings on the wire."""
    raw = dict(raw or {})
    prob = raw.get("probability", "0.0")
    try:
        p = float(prob)
    except (TypeError, ValueError):
        raise ValueError(f"stage probability must be a number between 0 and 1, not {prob!r}") from None
    if not 0 <= p <= 1:
        raise ValueError(f"stage probability must be between 0 and 1, not {prob!r}")
    closed = raw.get("isClosed", p in (0.0, 1.0))
    closed = closed if isinstance(closed, bool) else str(closed).lower() == "true"
    out = {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in raw.items()}
    out.update({"isClosed": "true" if closed else "false", "probability": str(prob)})
    return out


class PipelineRegistry:
    """Deal pipelines by id, in display order; `stage_ids[pipeline id]` for the write check."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.deals: dict[str, dict] = {}
        self.stage_ids: dict[str, set[str]] = {}
        self.add(default_pipeline())

    def add(self, p: dict) -> None:
        self.deals[p["id"]] = p
        self.stage_ids[p["id"]] = {s["id"] for s in p["stages"] if not s["archived"]}

    def load(self, raw: dict) -> dict:
        """A scenario pipeline: `{id, label, displayOrder?, stages: [{id, label, displayOrder?,
        metadata: {probability, isClosed}}], createdAt?, updatedAt?}` (deals only)."""
        if not isinstance(raw, dict):
            raise ValueError(f"a pipeline must be an object, not {raw!r}")
        if (raw.get("objectType") or "deals") not in ("deals", "0-3"):
            raise ValueError("only deal pipelines can be loaded")
        pid = _text(raw.get("id"), "id")
        ts = raw.get("createdAt") or _SEED_TS
        stages = raw.get("stages")
        if not isinstance(stages, list) or not stages:
            raise ValueError(f"pipeline {pid}: needs at least one stage")
        seen: set[str] = set()
        out_stages = []
        for i, s in enumerate(stages):
            if not isinstance(s, dict):
                raise ValueError(f"pipeline {pid}: a stage must be an object, not {s!r}")
            sid = _text(s.get("id"), "stage id")
            taken = any(sid in ids for other, ids in self.stage_ids.items() if other != pid)
            if sid in seen or taken:
                raise ValueError(f"pipeline {pid}: stage id {sid!r} is already used")  # stage ids are portal-wide
            seen.add(sid)
            stage = _stage(sid, _text(s.get("label"), "stage label"), _order(s.get("displayOrder"), i), "0.0", False,
                           s.get("createdAt") or ts)
            stage["metadata"] = _metadata(s.get("metadata"))
            stage["updatedAt"] = s.get("updatedAt") or stage["createdAt"]
            out_stages.append(stage)
        p = {"id": pid, "label": _text(raw.get("label"), "label"),
             "displayOrder": _order(raw.get("displayOrder"), len(self.deals)), "createdAt": ts,
             "updatedAt": raw.get("updatedAt") or ts, "archived": False,
             "stages": sorted(out_stages, key=lambda st: (st["displayOrder"], st["label"]))}
        self.add(p)
        return p

    def ordered(self) -> list[dict]:
        return sorted(self.deals.values(), key=lambda p: (p["displayOrder"], p["label"]))

    def option_values(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(pipeline options, dealstage options) as (value, label) for the deal property definitions."""
        pipes = self.ordered()
        return ([(p["id"], p["label"]) for p in pipes],
                [(s["id"], s["label"]) for p in pipes for s in p["stages"] if not s["archived"]])

    # ---- the deal write check --------------------------------------------------------------------
    def check_deal(self, changes: dict, current: dict | None) -> None:
        """HubSpot refuses a deal whose `dealstage` is not a stage of its `pipeline` (the default
        pipeline when none is set): 400 "Property values were not valid" with INVALID_OPTION
        (reference §2.5; message wording UNCONFIRMED). A write that changes only the pipeline is
        checked against the deal's current stage too (the docs: set the pipeline that lines up
        with the stage)."""
        current = current or {}
        if "pipeline" not in changes and "dealstage" not in changes:
            return
        pipeline = changes["pipeline"] if "pipeline" in changes else current.get("pipeline")
        stage = changes["dealstage"] if "dealstage" in changes else current.get("dealstage")
        pipeline = pipeline or "default"
        bad = []
        if pipeline not in self.deals:
            msg = f"{pipeline} was not one of the allowed options: {sorted(self.deals)}"
            bad.append(_invalid("pipeline", msg))
        elif stage and stage not in self.stage_ids[pipeline]:
            allowed = [s["id"] for s in self.deals[pipeline]["stages"] if not s["archived"]]
            msg = f"{stage} was not one of the allowed options for pipeline {pipeline}: {allowed}"
            bad.append(_invalid("dealstage", msg))
        if bad:
            raise validation_error("Property values were not valid: " + json.dumps(bad, separators=(",", ":")))

    # ---- HTTP ------------------------------------------------------------------------------------------
    def handle(self, req, parts: list[str]):
        """parts: the path after `/crm/v3/pipelines/`."""
        if req.method != "GET":
            return None
        otype = PIPELINE_TYPES.get(parts[0].lower())
        if otype is None:
            # UNCONFIRMED wording; contacts and companies have no pipelines
            raise validation_error(f"Object type {parts[0]} does not support pipelines.")
        table = self.deals if otype == "deals" else {}
        if len(parts) == 1:
            return json_response(200, {"results": self.ordered() if otype == "deals" else []})
        p = table.get(parts[1])
        if p is None:
            # UNCONFIRMED wording
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Unable to find pipeline {parts[1]} for object type "
                                                        f"{'0-3' if otype == 'deals' else '0-5'}.")
        if len(parts) == 2:
            return json_response(200, p)
        if parts[2] != "stages" or len(parts) > 4:
            return None
        if len(parts) == 3:
            return json_response(200, {"results": p["stages"]})
        stage = next((s for s in p["stages"] if s["id"] == parts[3]), None)
        if stage is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Unable to find stage {parts[3]} in pipeline {p['id']}.")
        return json_response(200, stage)


def _invalid(name: str, msg: str) -> dict:
    return {"isValid": False, "message": msg, "error": "INVALID_OPTION", "name": name,
            "localizedErrorMessage": msg}
