"""Acting on duplicate groups from the console — each with a preview of what it will do in both
CRMs first, every step audited, a half-done action recorded as such:

* `salesforce`: merge an R2 group in Salesforce (R5), field by field;
* `hubspot`: merge an R7 group in HubSpot;
* `conversion`: convert a lead into the contact of its group (Salesforce's convertLead);
* `companies`: merge an R9 group of HubSpot companies."""
from sync.merges.companies import CompanyMergePreview, count_associations, merge_company_group, preview_company_merge
from sync.merges.conversion import ConversionPreview, convert_lead, preview_conversion
from sync.merges.hubspot import HubSpotMergePreview, HubSpotMergeResult, merge_hubspot_group, preview_hubspot_merge
from sync.merges.salesforce import MergePreview, group_key, merge_salesforce_group, preview_salesforce_merge

__all__ = ["CompanyMergePreview", "ConversionPreview", "HubSpotMergePreview", "HubSpotMergeResult", "MergePreview",
           "convert_lead", "count_associations", "group_key", "merge_company_group", "merge_hubspot_group",
           "merge_salesforce_group",
           "preview_company_merge", "preview_conversion", "preview_hubspot_merge", "preview_salesforce_merge"]
