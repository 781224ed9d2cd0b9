"""The sync's data: a mirror of both CRMs, the links between them, settings, runs and audit.

Mirror rows are keyed by their CRM id and never deleted: a Salesforce record merged or deleted
keeps its row with `is_deleted` and `master_record_id`, and an archived HubSpot record keeps
its row with `archived`, so the console can explain what happened to them.
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Length
from django.utils import timezone

models.CharField.register_lookup(Length)  # for the "18-character id" check constraints

RULES = [(f"R{n}", f"R{n}") for n in range(1, 12)]


def email_key(email: str | None) -> str:
    """R1: compare emails case-insensitively after trimming white space, nothing else."""
    return (email or "").strip().lower()


class SfObject(models.TextChoices):
    LEAD = "Lead", "Lead"
    CONTACT = "Contact", "Contact"


# R2: the live records that form duplicate groups — not deleted, not a converted lead, with an
# email. The same rule as sync.engine.rules.is_group_member, for the database.
GROUP_MEMBER = Q(is_deleted=False, is_converted=False) & ~Q(email_key="")


class SfPersonQuerySet(models.QuerySet):
    def group_members(self) -> SfPersonQuerySet:
        """R2's live members (GROUP_MEMBER), through the sfperson_live_by_email index."""
        return self.filter(GROUP_MEMBER)


class SfPerson(models.Model):
    """A Salesforce lead or contact. Both live in one table because a duplicate group (R2)
    spans both kinds."""

    sf_id = models.CharField(max_length=18, unique=True)
    object_type = models.CharField(max_length=7, choices=SfObject)
    email = models.CharField(max_length=255, blank=True)
    email_key = models.CharField(max_length=255, blank=True, editable=False)
    first_name = models.CharField(max_length=120, blank=True)
    last_name = models.CharField(max_length=120, blank=True)
    company = models.CharField(max_length=255, blank=True)  # Lead.Company
    phone = models.CharField(max_length=60, blank=True)
    title = models.CharField(max_length=128, blank=True)
    account_id = models.CharField(max_length=18, blank=True)  # Contact.AccountId
    is_deleted = models.BooleanField(default=False)
    master_record_id = models.CharField(max_length=18, blank=True)  # set on merged-away rows (R5)
    is_converted = models.BooleanField(default=False)  # Lead.IsConverted (R2: not a member)
    converted_contact_id = models.CharField(max_length=18, blank=True)
    hubspot_contact_id = models.CharField(max_length=40, blank=True)  # our external-id field
    created_date = models.DateTimeField(null=True, blank=True)
    last_modified_date = models.DateTimeField(null=True, blank=True)
    system_modstamp = models.DateTimeField(null=True, blank=True)
    # R3: the position at which Salesforce returned this record in the latest pull. Kept so
    # "first record returned" can be decided from the mirror without asking Salesforce again.
    pull_seq = models.BigIntegerField(default=0)
    raw = models.JSONField(default=dict, blank=True)
    mirrored_at = models.DateTimeField(default=timezone.now)
    # Pulled and changed, not yet reconciled by a run that finished (see sync.engine.pull).
    dirty = models.BooleanField(default=False, db_default=False)

    objects = SfPersonQuerySet.as_manager()

    class Meta:
        verbose_name = "Salesforce lead/contact"
        constraints = [
            models.CheckConstraint(condition=Q(object_type__in=SfObject.values), name="sfperson_object_type_valid"),
            models.CheckConstraint(condition=Q(sf_id__length=18), name="sfperson_sf_id_18_chars"),
            # Only leads can be converted.
            models.CheckConstraint(condition=Q(is_converted=False) | Q(object_type=SfObject.LEAD),
                                   name="sfperson_only_leads_convert"),
            models.CheckConstraint(condition=~Q(master_record_id=F("sf_id")), name="sfperson_not_own_master"),
        ]
        indexes = [
            models.Index(fields=["sf_id"], name="sfperson_dirty", condition=Q(dirty=True)),  # rows a run must reconcile
            # Duplicate groups (R2) and R3/R4 candidate lookups: live, unconverted records by email key.
            models.Index(fields=["email_key", "pull_seq"], name="sfperson_live_by_email", condition=GROUP_MEMBER),
            # R10: a Salesforce contact's account; a full run walks the accounts in order here.
            models.Index(fields=["account_id"], name="sfperson_by_account"),
            # The contact card's "every Salesforce record with this email", which includes deleted,
            # merged and converted records (the partial index above leaves those out).
            models.Index(fields=["email_key"], name="sfperson_by_email"),
            # Resync (R6) follows MasterRecordId of merged-away rows.
            models.Index(fields=["master_record_id"], name="sfperson_by_master", condition=~Q(master_record_id="")),
            # Incremental pull: newest SystemModstamp per object type is the next watermark.
            models.Index(fields=["object_type", "system_modstamp"], name="sfperson_by_modstamp"),
        ]

    def __str__(self) -> str:
        return f"{self.object_type} {self.sf_id}"

    def save(self, *args, **kwargs) -> None:
        self.email_key = email_key(self.email)
        super().save(*args, **kwargs)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class SfAccount(models.Model):
    sf_id = models.CharField(max_length=18, unique=True)
    name = models.CharField(max_length=255, blank=True)
    is_deleted = models.BooleanField(default=False)
    master_record_id = models.CharField(max_length=18, blank=True)
    hubspot_company_id = models.CharField(max_length=40, blank=True)  # our external-id field
    last_modified_date = models.DateTimeField(null=True, blank=True)
    system_modstamp = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    mirrored_at = models.DateTimeField(default=timezone.now)
    # Pulled and changed, not yet reconciled by a run that finished (see sync.engine.pull).
    dirty = models.BooleanField(default=False, db_default=False)

    class Meta:
        verbose_name = "Salesforce account"
        constraints = [models.CheckConstraint(condition=Q(sf_id__length=18), name="sfaccount_sf_id_18_chars")]
        indexes = [
            models.Index(fields=["system_modstamp"], name="sfaccount_by_modstamp"),
            models.Index(fields=["sf_id"], name="sfaccount_dirty", condition=Q(dirty=True)),  # rows a run must reconcile
        ]

    def __str__(self) -> str:
        return f"Account {self.sf_id}"


class SfOpportunity(models.Model):
    sf_id = models.CharField(max_length=18, unique=True)
    name = models.CharField(max_length=255, blank=True)
    account_id = models.CharField(max_length=18, blank=True)
    stage_name = models.CharField(max_length=120, blank=True)
    close_date = models.DateField(null=True, blank=True)
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    is_deleted = models.BooleanField(default=False)
    hubspot_deal_id = models.CharField(max_length=40, blank=True)  # external id: idempotent creates (R11)
    last_modified_date = models.DateTimeField(null=True, blank=True)
    system_modstamp = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    mirrored_at = models.DateTimeField(default=timezone.now)
    # Pulled and changed, not yet reconciled by a run that finished (see sync.engine.pull).
    dirty = models.BooleanField(default=False, db_default=False)

    class Meta:
        verbose_name = "Salesforce opportunity"
        verbose_name_plural = "Salesforce opportunities"
        constraints = [models.CheckConstraint(condition=Q(sf_id__length=18), name="sfopportunity_sf_id_18_chars")]
        indexes = [
            models.Index(fields=["system_modstamp"], name="sfopportunity_by_modstamp"),
            models.Index(fields=["sf_id"], name="sfopportunity_dirty", condition=Q(dirty=True)),  # rows a run must reconcile
            # A company's page: the deals of its account's opportunities.
            models.Index(fields=["account_id"], name="sfopportunity_by_account", condition=~Q(account_id="")),
        ]

    def __str__(self) -> str:
        return f"Opportunity {self.sf_id}"


class HsContact(models.Model):
    hs_id = models.CharField(max_length=40, unique=True)
    email = models.CharField(max_length=255, blank=True)
    email_key = models.CharField(max_length=255, blank=True, editable=False)
    first_name = models.CharField(max_length=120, blank=True)
    last_name = models.CharField(max_length=120, blank=True)
    phone = models.CharField(max_length=60, blank=True)
    company_name = models.CharField(max_length=255, blank=True)
    job_title = models.CharField(max_length=128, blank=True)
    # The values of the HubSpot properties named in SyncSettings (what HubSpot shows as synced).
    salesforce_lead_id = models.CharField(max_length=18, blank=True)
    salesforce_contact_id = models.CharField(max_length=18, blank=True)
    primary_company_id = models.CharField(max_length=40, blank=True)  # associated company (R10)
    archived = models.BooleanField(default=False)
    merged_into_id = models.CharField(max_length=40, blank=True)  # HubSpot merge gives a new id
    merged_ids = models.TextField(blank=True)  # hs_merged_object_ids: the ids merged into this one, ";"-separated
    created_at = models.DateTimeField(null=True, blank=True)
    last_modified = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    mirrored_at = models.DateTimeField(default=timezone.now)
    # Pulled and changed, not yet reconciled by a run that finished (see sync.engine.pull).
    dirty = models.BooleanField(default=False, db_default=False)
    # Outside the inclusion list when a run last read it (engine/inclusion.py): not synced to
    # Salesforce. None: never read against a list (no list is chosen, or new since the last read).
    outside_list = models.BooleanField(null=True, default=None)

    class Meta:
        verbose_name = "HubSpot contact"
        indexes = [
            models.Index(fields=["hs_id"], name="hscontact_outside_list", condition=Q(outside_list=True)),
            # HubSpot-side merges (sync/engine/removals.py): the survivors, which name the merged ids.
            models.Index(fields=["hs_id"], name="hscontact_survivors", condition=~Q(merged_ids="")),
            models.Index(fields=["hs_id"], name="hscontact_dirty", condition=Q(dirty=True)),  # rows a run must reconcile
            # R7: HubSpot contacts that point at one Salesforce record.
            models.Index(fields=["salesforce_contact_id"], name="hscontact_by_sf_contact",
                         condition=~Q(salesforce_contact_id="") & Q(archived=False)),
            models.Index(fields=["salesforce_lead_id"], name="hscontact_by_sf_lead",
                         condition=~Q(salesforce_lead_id="") & Q(archived=False)),
            # Console search and the "same email" panel of the contact card.
            models.Index(fields=["email_key"], name="hscontact_by_email"),
            models.Index(fields=["last_modified"], name="hscontact_by_modified"),
            # A company's page: its contacts.
            models.Index(fields=["primary_company_id"], name="hscontact_by_company", condition=~Q(primary_company_id="")),
        ]

    def __str__(self) -> str:
        return f"HubSpot contact {self.hs_id}"

    def save(self, *args, **kwargs) -> None:
        self.email_key = email_key(self.email)
        super().save(*args, **kwargs)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class HsCompany(models.Model):
    hs_id = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=255, blank=True)
    domain = models.CharField(max_length=255, blank=True)
    salesforce_account_id = models.CharField(max_length=18, blank=True)
    archived = models.BooleanField(default=False)
    merged_into_id = models.CharField(max_length=40, blank=True)  # HubSpot merge gives a new id
    merged_ids = models.TextField(blank=True)  # hs_merged_object_ids
    created_at = models.DateTimeField(null=True, blank=True)
    last_modified = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    mirrored_at = models.DateTimeField(default=timezone.now)
    # Pulled and changed, not yet reconciled by a run that finished (see sync.engine.pull).
    dirty = models.BooleanField(default=False, db_default=False)

    class Meta:
        verbose_name = "HubSpot company"
        verbose_name_plural = "HubSpot companies"
        indexes = [
            models.Index(fields=["hs_id"], name="hscompany_survivors", condition=~Q(merged_ids="")),
            models.Index(fields=["hs_id"], name="hscompany_dirty", condition=Q(dirty=True)),  # rows a run must reconcile
            # R9: companies sharing one Salesforce account id are duplicates.
            models.Index(fields=["salesforce_account_id"], name="hscompany_by_sf_account",
                         condition=~Q(salesforce_account_id="") & Q(archived=False)),
        ]

    def __str__(self) -> str:
        return f"HubSpot company {self.hs_id}"


class HsDeal(models.Model):
    hs_id = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=255, blank=True)
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    stage = models.CharField(max_length=120, blank=True)
    close_date = models.DateField(null=True, blank=True)
    salesforce_opportunity_id = models.CharField(max_length=18, blank=True)
    company_id = models.CharField(max_length=40, blank=True)
    pipeline = models.CharField(max_length=120, blank=True)  # the deal's pipeline id ("default" or a custom one)
    archived = models.BooleanField(default=False)
    merged_into_id = models.CharField(max_length=40, blank=True)  # HubSpot merge gives a new id
    merged_ids = models.TextField(blank=True)  # hs_merged_object_ids
    created_at = models.DateTimeField(null=True, blank=True)
    last_modified = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    mirrored_at = models.DateTimeField(default=timezone.now)
    # Pulled and changed, not yet reconciled by a run that finished (see sync.engine.pull).
    dirty = models.BooleanField(default=False, db_default=False)

    class Meta:
        verbose_name = "HubSpot deal"
        indexes = [
            models.Index(fields=["hs_id"], name="hsdeal_survivors", condition=~Q(merged_ids="")),
            models.Index(fields=["last_modified"], name="hsdeal_by_modified"),
            models.Index(fields=["hs_id"], name="hsdeal_dirty", condition=Q(dirty=True)),  # rows a run must reconcile
            models.Index(fields=["company_id"], name="hsdeal_by_company", condition=~Q(company_id="")),  # a company's deals
        ]

    def __str__(self) -> str:
        return f"HubSpot deal {self.hs_id}"


class LinkStatus(models.TextChoices):
    SYNCED = "synced", "Synced"
    LOST_PRIMARY = "lost_primary", "No longer syncing with Salesforce"
    UNSYNCED = "unsynced", "Not synced"
    DELETED = "deleted", "Deleted"
    # R7: the contact names a Salesforce record that another HubSpot contact syncs with; only
    # that one may write to the record, this one waits to be merged into it in HubSpot.
    DUPLICATE = "duplicate", "Duplicate of the contact that syncs with its Salesforce record"
    MERGED = "merged", "Merged into another HubSpot contact"


class PairStatus(models.TextChoices):
    """A company ↔ account or deal ↔ opportunity link: in sync, or one side is gone. A link whose
    side is gone is kept, so the sync never brings back a record a person deleted."""

    SYNCED = "synced", "Synced"
    HUBSPOT_DELETED = "hubspot_deleted", "Deleted in HubSpot"
    SALESFORCE_DELETED = "salesforce_deleted", "Deleted in Salesforce"


class ContactLink(models.Model):
    """A HubSpot contact and the one Salesforce lead or contact it currently syncs with."""

    class ChosenBy(models.TextChoices):
        FIRST_RETURNED = "R3", "R3 · first record returned"
        MOST_RECENT = "R4", "R4 · most recently updated"
        RESYNC = "R6", "R6 · resynced by a person"
        CREATED = "created", "Created by the sync"
        EXISTING = "existing", "Already synced in HubSpot"
        CONVERTED = "converted", "Followed a lead conversion"

    hs_contact = models.OneToOneField(HsContact, models.CASCADE, related_name="link")
    # Null only when unsynced; for a lost primary it stays on the record that was merged away,
    # whose master_record_id tells Resync (R6) where to go.
    sf_person = models.ForeignKey(SfPerson, models.PROTECT, null=True, blank=True, related_name="links")
    status = models.CharField(max_length=12, choices=LinkStatus, default=LinkStatus.SYNCED)
    chosen_by = models.CharField(max_length=10, choices=ChosenBy, blank=True)
    chosen_by_user = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True,
                                       related_name="+")
    since = models.DateTimeField(default=timezone.now)  # when the current link (or status) began
    # R4: the SystemModstamp of the linked record when the link was made; only updates after
    # it may move the link.
    linked_modstamp = models.DateTimeField(null=True, blank=True)
    status_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(status__in=LinkStatus.values), name="contactlink_status_valid"),
            # Synced, lost-primary and duplicate links name a Salesforce record; the others may not.
            models.CheckConstraint(condition=Q(sf_person__isnull=False) | Q(status__in=["unsynced", "deleted", "merged"]),
                                   name="contactlink_synced_has_record"),
            models.CheckConstraint(condition=Q(chosen_by_user__isnull=True) | Q(chosen_by="R6"),
                                   name="contactlink_user_only_for_resync"),
        ]
        indexes = [
            # Overview counts and the "lost primary" list: links by status, newest first.
            models.Index(fields=["status", "-since"], name="contactlink_by_status"),
        ]

    def __str__(self) -> str:
        return f"{self.hs_contact_id} → {self.sf_person_id or '—'} ({self.status})"


class CompanyLink(models.Model):
    """A HubSpot company and the Salesforce account it syncs with (R9, R10)."""

    class ChosenBy(models.TextChoices):
        ACCOUNT_ID = "R9", "R9 · matched by account id"
        FOLLOWED_CONTACT = "R10", "R10 · followed its contact"
        CREATED = "created", "Created by the sync"

    hs_company = models.OneToOneField(HsCompany, models.CASCADE, related_name="link")
    sf_account = models.ForeignKey(SfAccount, models.PROTECT, related_name="links")
    chosen_by = models.CharField(max_length=7, choices=ChosenBy)
    since = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=20, choices=PairStatus, default=PairStatus.SYNCED)
    status_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            # R10: a company already linked to an account is always reused, never duplicated.
            models.UniqueConstraint(fields=["sf_account"], name="companylink_one_company_per_account"),
            models.CheckConstraint(condition=Q(status__in=PairStatus.values), name="companylink_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.hs_company_id} ↔ {self.sf_account_id}"


class DealLink(models.Model):
    """R11: a deal and an opportunity, one to one, never matched by name or amount."""

    class Origin(models.TextChoices):
        FROM_HUBSPOT = "hubspot", "Opportunity created from the deal"
        FROM_SALESFORCE = "salesforce", "Deal created from the opportunity"
        EXISTING = "existing", "Linked by opportunity id"

    hs_deal = models.OneToOneField(HsDeal, models.CASCADE, related_name="link")
    sf_opportunity = models.OneToOneField(SfOpportunity, models.PROTECT, related_name="link")
    origin = models.CharField(max_length=10, choices=Origin)
    since = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=20, choices=PairStatus, default=PairStatus.SYNCED)
    status_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(status__in=PairStatus.values), name="deallink_status_valid")]

    def __str__(self) -> str:
        return f"{self.hs_deal_id} ↔ {self.sf_opportunity_id}"


class FieldRule(models.Model):
    """How one standard field syncs, like HubSpot's field mappings (defaults from migration 0003)."""

    class Rule(models.TextChoices):
        PREFER_SALESFORCE = "prefer_sf", "Prefer Salesforce unless blank"
        ALWAYS_SALESFORCE = "always_sf", "Always use Salesforce"
        TWO_WAY = "two_way", "Two-way (most recent change wins)"
        NONE = "none", "Don't sync"

    class Object(models.TextChoices):
        CONTACT = "contact", "Contact ↔ lead/contact"
        COMPANY = "company", "Company ↔ account"
        DEAL = "deal", "Deal ↔ opportunity"

    object = models.CharField(max_length=10, choices=Object)
    hubspot_property = models.CharField(max_length=100)
    salesforce_field = models.CharField(max_length=100)
    rule = models.CharField(max_length=10, choices=Rule, default=Rule.PREFER_SALESFORCE)
    label = models.CharField(max_length=100)

    class Meta:
        ordering = ["object", "id"]
        constraints = [
            models.UniqueConstraint(fields=["object", "hubspot_property"], name="fieldrule_one_per_property"),
            models.CheckConstraint(condition=Q(rule__in=["prefer_sf", "always_sf", "two_way", "none"]),
                                   name="fieldrule_rule_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.object}.{self.hubspot_property} ↔ {self.salesforce_field}: {self.rule}"


class StageMapping(models.Model):
    """Which Salesforce opportunity stage a HubSpot deal stage becomes: Salesforce's StageName is a
    restricted picklist, so a custom pipeline's stage id sent as is would be refused for ever.
    Rows are proposed from each stage's probability and closed/won flags (sync/engine/stages.py)
    and changed by an admin on the Settings page."""

    class SetBy(models.TextChoices):
        DEFAULT = "default", "Proposed from the stages' probabilities"
        PERSON = "person", "Chosen on the Settings page"

    pipeline_id = models.CharField(max_length=120)
    pipeline_label = models.CharField(max_length=255, blank=True)
    stage_id = models.CharField(max_length=120)
    stage_label = models.CharField(max_length=255, blank=True)
    display_order = models.IntegerField(default=0)
    probability = models.FloatField(null=True, blank=True)
    closed = models.BooleanField(default=False)
    salesforce_stage = models.CharField(max_length=255, blank=True)  # blank: not mapped (a record error)
    set_by = models.CharField(max_length=10, choices=SetBy, default=SetBy.DEFAULT)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pipeline_id", "display_order", "stage_id"]
        constraints = [models.UniqueConstraint(fields=["pipeline_id", "stage_id"], name="stagemapping_one_per_stage")]

    def __str__(self) -> str:
        return f"{self.pipeline_label or self.pipeline_id} / {self.stage_label or self.stage_id} → {self.salesforce_stage or '—'}"


class OrgStage(models.Model):
    """An opportunity stage the Salesforce org offers (its OpportunityStage rows, read with the
    deal pipelines by stages.refresh): what a stage mapping may name."""

    name = models.CharField(max_length=255, unique=True)
    probability = models.FloatField(default=0)
    closed = models.BooleanField(default=False)
    won = models.BooleanField(default=False)
    sort_order = models.IntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "name"]

    def __str__(self) -> str:
        return self.name


class SyncSettings(models.Model):
    """The sync's settings: a single row (pk 1), read with SyncSettings.load()."""

    delete_hubspot_contact_on_delete = models.BooleanField(
        default=False,
        help_text="R5/R8: when a Salesforce lead or contact is deleted or merged away, delete (archive) the "
                  "HubSpot contact that synced with it. Off: the contact stays, marked as no longer syncing.")
    create_salesforce_leads = models.BooleanField(
        default=True, help_text="A new HubSpot contact whose email matches no Salesforce record creates a lead.")
    create_hubspot_contacts = models.BooleanField(
        default=True, help_text="A new Salesforce lead or contact with no HubSpot contact creates one.")
    schedule_minutes = models.PositiveIntegerField(default=5, help_text="Minutes between scheduled sync runs.")
    # Live sync's Salesforce side (engine/live.py): a live run this often reads what changed in
    # Salesforce since the last run (one query per object when nothing did). 0: off.
    live_poll_minutes = models.PositiveSmallIntegerField(
        default=0, choices=[(0, "Off"), (1, "1"), (2, "2"), (5, "5"), (10, "10"), (15, "15"), (30, "30")],
        help_text="Minutes between live runs that bring Salesforce's changes over between the scheduled runs.")
    salesforce_api_share = models.PositiveSmallIntegerField(
        default=50, help_text="Percent of the org's daily API request limit the sync may use.")
    hubspot_api_share = models.PositiveSmallIntegerField(
        default=50, help_text="Percent of the portal's daily API limit the sync may use.")
    prop_salesforce_contact_id = models.CharField(max_length=100, default="salesforcecontactid")
    prop_salesforce_lead_id = models.CharField(max_length=100, default="salesforceleadid")
    prop_salesforce_account_id = models.CharField(max_length=100, default="salesforceaccountid")
    prop_salesforce_opportunity_id = models.CharField(max_length=100, default="hs_salesforceopportunityid")
    # The inclusion list (engine/inclusion.py): only the HubSpot contacts in this contact list are
    # created in or updated to Salesforce. Blank: every contact syncs.
    inclusion_list_id = models.CharField(
        max_length=32, blank=True,
        help_text="Only HubSpot contacts in this list are created in or updated to Salesforce; contacts outside it "
                  "also stop receiving Salesforce's updates. Blank: every contact syncs.")
    inclusion_list_name = models.CharField(max_length=255, blank=True)   # as HubSpot named it when it was chosen
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "sync settings"
        verbose_name_plural = "sync settings"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="syncsettings_single_row"),
            models.CheckConstraint(condition=Q(schedule_minutes__gte=1, schedule_minutes__lte=1440),
                                   name="syncsettings_schedule_1_to_1440_minutes"),
            models.CheckConstraint(condition=Q(live_poll_minutes__in=[0, 1, 2, 5, 10, 15, 30]),
                                   name="syncsettings_live_poll_minutes"),
            models.CheckConstraint(condition=Q(salesforce_api_share__gte=1, salesforce_api_share__lte=100),
                                   name="syncsettings_sf_share_percent"),
            models.CheckConstraint(condition=Q(hubspot_api_share__gte=1, hubspot_api_share__lte=100),
                                   name="syncsettings_hs_share_percent"),
        ]

    def __str__(self) -> str:
        return "Sync settings"

    @classmethod
    def load(cls) -> SyncSettings:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class SyncRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        STOPPED = "stopped", "Stopped (API budget)"
        SKIPPED = "skipped", "Skipped (another run was going)"
        INTERRUPTED = "interrupted", "Interrupted"

    class Phase(models.TextChoices):
        QUEUED = "queued", "Queued"
        PULL = "pull", "Pulling"
        RECONCILE = "reconcile", "Reconciling"
        PUSH = "push", "Pushing"
        FIELDS = "fields", "Syncing fields"
        DONE = "done", "Done"

    status = models.CharField(max_length=12, choices=Status, default=Status.PENDING)
    phase = models.CharField(max_length=10, choices=Phase, default=Phase.QUEUED)
    full = models.BooleanField(default=False)
    # A live run syncs only the records HubSpot's webhooks named (sync/engine/live.py).
    live = models.BooleanField(default=False)
    # "Retry these records" on a run page queues a run that re-checks the records that failed there.
    retry_of = models.ForeignKey("self", models.SET_NULL, null=True, blank=True, related_name="retries")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True,
                                     related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # a stale heartbeat means a crashed worker
    worker = models.CharField(max_length=200, blank=True)  # "host:pid" of the process running it
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    pulled = models.PositiveIntegerField(default=0)
    linked = models.PositiveIntegerField(default=0)
    switched = models.PositiveIntegerField(default=0)
    lost_primary = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    field_changes = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    sf_api_calls = models.PositiveIntegerField(default=0)
    hs_api_calls = models.PositiveIntegerField(default=0)
    # End-of-run snapshot for the overview chart (duplicate groups by kind, lost primaries).
    snapshot = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            # Only one cycle runs at a time; a second claim fails in the database itself.
            models.UniqueConstraint(fields=["status"], condition=Q(status="running"), name="syncrun_one_running"),
            models.CheckConstraint(condition=Q(finished_at__isnull=True) | Q(started_at__isnull=False),
                                   name="syncrun_finished_after_started"),
            models.CheckConstraint(condition=Q(finished_at__isnull=True) | Q(finished_at__gte=F("started_at")),
                                   name="syncrun_finish_not_before_start"),
            models.CheckConstraint(condition=Q(progress_done__lte=F("progress_total")) | Q(progress_total=0),
                                   name="syncrun_progress_within_total"),
        ]
        indexes = [
            # Runs page and the overview chart: newest first.
            models.Index(fields=["-created_at"], name="syncrun_newest"),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.status})"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    def parts(self) -> list[SyncChunk]:
        """A parallel full sync's parts (pull, then field sync), in the order they were queued;
        none for other runs."""
        return list(self.chunks.order_by("pk"))


class SyncChunk(models.Model):
    """One part of a parallel full sync, run as its own django-q2 task so several workers share
    the work: a pull part (one object type of one CRM) or a field-sync part (a range of links).
    The last pull part carries the run on through reconcile and push; the last field-sync part
    finishes it (sync/engine/parallel.py)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(SyncRun, models.CASCADE, related_name="chunks")
    name = models.CharField(max_length=40)  # "salesforce:Contact", "hubspot:deals", "fields:contacts:0-25000", …
    status = models.CharField(max_length=8, choices=Status, default=Status.PENDING)
    worker = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    pulled = models.PositiveIntegerField(default=0)
    # Where this object's next pull starts; saved as the run's watermark only when the run finishes.
    watermark = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="syncchunk_one_per_object")]

    def __str__(self) -> str:
        return f"Run {self.run_id} {self.name} ({self.status})"

    @property
    def crm(self) -> str:
        """Whose records the part handles ("Field sync" for a part of a parallel field sync)."""
        return {"salesforce": "Salesforce", "hubspot": "HubSpot", "fields": "Field sync"}.get(
            self.name.partition(":")[0], "")

    @property
    def object_type(self) -> str:
        kind, _, rest = self.name.partition(":")
        if kind == "fields":  # fields:contacts:0-25000 → "contacts, links 1–25000"
            hs_type, _, bounds = rest.partition(":")
            lo, _, hi = bounds.partition("-")
            return f"{hs_type}, links {int(lo) + 1}–{hi}" if lo.isdigit() else rest
        return rest

    @property
    def duration(self):
        """Whole seconds: parts take seconds to minutes."""
        if self.started_at and self.finished_at:
            return timedelta(seconds=round((self.finished_at - self.started_at).total_seconds()))
        return None


class DuplicateGroupQuerySet(models.QuerySet):
    """"Not a duplicate" holds while a group has no more members than when it was said (rules.is_dismissed)."""

    @staticmethod
    def _dismissal() -> Exists:
        return Exists(Dismissal.objects.filter(kind=OuterRef("kind"), key=OuterRef("key"), size__gte=OuterRef("size"),
                                               undone_at__isnull=True))

    def standing(self, kind: str | None = None) -> DuplicateGroupQuerySet:
        """The groups nobody marked "not a duplicate" (or that gained a member since)."""
        return (self.filter(kind=kind) if kind else self).exclude(self._dismissal())

    def dismissed(self, kind: str) -> DuplicateGroupQuerySet:
        return self.filter(kind=kind).filter(self._dismissal())


class DuplicateGroup(models.Model):
    """One duplicate group, kept up to date by the sync at the end of each run, so the console's
    duplicate pages read an indexed table instead of grouping millions of mirror rows per request.

    r2: live Salesforce leads/contacts sharing an email key; r7: live HubSpot contacts carrying
    one Salesforce id; r9: live HubSpot companies carrying one account id."""

    class Kind(models.TextChoices):
        R2 = "r2", "Same email in Salesforce (R2)"
        R7 = "r7", "One Salesforce record, several HubSpot contacts (R7)"
        R9 = "r9", "Companies sharing an account (R9)"

    kind = models.CharField(max_length=2, choices=Kind)
    key = models.CharField(max_length=255)  # the email key, Salesforce id or account id
    size = models.PositiveIntegerField()
    leads = models.PositiveIntegerField(default=0)  # r2: how many members are leads (the "mix" filter)
    modified = models.DateTimeField(null=True, blank=True)  # newest member modification
    # What the tab's search looks in: the key and each member's ids, email and names, lower-case
    # (engine.groups.search_text); trigram-indexed on PostgreSQL (migration 0018).
    search = models.TextField(blank=True, default="", editable=False)
    refreshed_at = models.DateTimeField(default=timezone.now)

    objects = DuplicateGroupQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "key"], name="duplicategroup_one_per_key"),
            models.CheckConstraint(condition=Q(size__gte=2), name="duplicategroup_has_two_members"),
            models.CheckConstraint(condition=Q(leads__lte=F("size")), name="duplicategroup_leads_within_size"),
        ]
        indexes = [
            # The duplicates pages: one kind, sorted by key, by size or by newest change.
            models.Index(fields=["kind", "-size", "key"], name="duplicategroup_by_size"),
            models.Index(fields=["kind", "-modified", "key"], name="duplicategroup_by_modified"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} ({self.size})"


class BulkJob(models.Model):
    """A person's bulk action (e.g. Resync all) running as a background task, with progress."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=20, choices=[("resync", "Resync")])
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    targets = models.JSONField(default=list)  # HubSpot contact ids
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(done__lte=F("total")), name="bulkjob_done_within_total")]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"


class BulkJobItem(models.Model):
    """One contact's outcome in a bulk job: the Salesforce record it now syncs with, or why not
    (the ResyncResult's words). Written a chunk at a time, so the job page lists them as it runs."""

    job = models.ForeignKey(BulkJob, models.CASCADE, related_name="items")
    hs_id = models.CharField(max_length=40)
    ok = models.BooleanField()
    sf_id = models.CharField(max_length=18, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "hs_id"], name="bulkjobitem_one_per_contact")]

    def __str__(self) -> str:
        return f"job {self.job_id} contact {self.hs_id}: {'ok' if self.ok else 'not resynced'}"


class AlertDigest(models.Model):
    """One email digest of new problems sent to the admins (sync/alerts.py)."""

    class Status(models.TextChoices):
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=8, choices=Status, default=Status.SENDING)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.JSONField(default=list)
    counts = models.JSONField(default=dict)   # lost_primary, duplicate_groups, sync_errors
    subject = models.CharField(max_length=255)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "-created_at"], name="alertdigest_by_status")]

    def __str__(self) -> str:
        return f"Digest {self.pk} ({self.status})"


class AlertSeen(models.Model):
    """A problem a digest reported that is still open, so the next digest leaves it out. Removed
    when the problem goes away (a resync, a merge, a fix), so its return is news again."""

    LOST_PRIMARY, ERROR = "lost_primary", "error"  # and the DuplicateGroup kinds r2, r7, r9

    digest = models.ForeignKey(AlertDigest, models.CASCADE, related_name="items")
    kind = models.CharField(max_length=12)
    key = models.CharField(max_length=255)  # HubSpot contact id, group key, or error crm|object|operation|record

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="alertseen_one_per_problem")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class RecordError(models.Model):
    """A permanent error against one record in one run (shown on the run page, retryable)."""

    class Family(models.TextChoices):
        """Sync errors by type, as HubSpot's Sync Health groups them (sync/crm/explain.py)."""

        DUPLICATES = "duplicates", "Duplicates"
        MAPPING = "mapping", "Picklists and mapping"
        VALIDATION = "validation", "Validation"
        PERMISSIONS = "permissions", "Permissions"
        ASSOCIATIONS = "associations", "Associations"
        VALUES = "values", "Too long or invalid values"
        OTHER = "other", "Other"

    run = models.ForeignKey(SyncRun, models.CASCADE, related_name="record_errors")
    crm = models.CharField(max_length=10, choices=[("salesforce", "Salesforce"), ("hubspot", "HubSpot")])
    object_type = models.CharField(max_length=20)
    record_id = models.CharField(max_length=40, blank=True)
    operation = models.CharField(max_length=40)
    code = models.CharField(max_length=60, blank=True)  # the CRM's own error code (INVALID_EMAIL_ADDRESS, CONFLICT…)
    family = models.CharField(max_length=12, choices=Family, default=Family.OTHER)
    message = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    retried_at = models.DateTimeField(null=True, blank=True)
    # A later run wrote the record (the same operation) without an error: no longer current.
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["run", "created_at"], name="recorderror_by_run"),
                   # Sync errors by type: the current errors of one family, newest first.
                   models.Index(fields=["family", "-created_at"], name="recorderror_current",
                                condition=Q(resolved_at__isnull=True)),
                   # Its cards: the distinct records per family, from the index alone.
                   models.Index(fields=["family", "record_id"], name="recorderror_current_records",
                                condition=Q(resolved_at__isnull=True)),
                   # A record's own page: the errors that keep it from syncing.
                   models.Index(fields=["record_id", "-created_at"], name="recorderror_by_record")]

    def __str__(self) -> str:
        return f"{self.crm} {self.object_type} {self.record_id}: {self.message[:40]}"


# The Salesforce id prefixes a record error can carry.
ERROR_SF_PREFIXES = {"00Q": "person", "003": "person", "001": "account", "006": "opportunity"}


def record_kind(object_type: str, record_id: str) -> str:
    """Which mirror row an error is filed against: "person", "account", "opportunity" (Salesforce
    ids), "company", "deal" or "contact" (HubSpot ids; a lead that failed to be created from a
    contact carries the contact's id). One reading for every retry: a run's (engine.cycle) and the
    Sync errors page's."""
    if not record_id:
        return ""
    if len(record_id) in (15, 18) and record_id.isalnum() and record_id[:3] in ERROR_SF_PREFIXES:
        return ERROR_SF_PREFIXES[record_id[:3]]
    kind = object_type.lower()
    if kind.startswith("compan"):
        return "company"
    if kind.startswith(("deal", "opportunit")):
        return "deal"
    return "contact"


class Watermark(models.Model):
    """Where the last incremental pull of one object type got to."""

    crm = models.CharField(max_length=10)
    object_type = models.CharField(max_length=20)
    value = models.DateTimeField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["crm", "object_type"], name="watermark_one_per_object")]

    def __str__(self) -> str:
        return f"{self.crm}.{self.object_type} @ {self.value:%Y-%m-%d %H:%M:%S}"


class CrmUser(models.Model):
    """The CRM user crmsync's credentials act as (Salesforce: OAuth userinfo's `user_id`), kept so
    a run does not ask again: `key` is a SHA-256 of the instance and the credential's identity
    (the username, the client id, or the access token itself), never the credential."""

    crm = models.CharField(max_length=10)
    key = models.CharField(max_length=64, unique=True)
    user_id = models.CharField(max_length=18)
    checked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.crm} user {self.user_id}"


class SfReread(models.Model):
    """A Salesforce record crmsync changed outside a run's own writes (a console merge's master, a
    converted lead and its contact), whose new state the mirror cannot tell exactly from what was
    sent. Written in the transaction that records the change; the next pull reads it by id
    (with SALESFORCE_SKIP_OWN_WRITES its own change would not come back) and a finished run
    removes it."""

    sf_id = models.CharField(max_length=18)
    object_type = models.CharField(max_length=20)   # Lead, Contact, Account, Opportunity
    reason = models.CharField(max_length=60)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"re-read {self.object_type} {self.sf_id} ({self.reason})"


class OwnWrite(models.Model):
    """One batch write crmsync sent to HubSpot, stamped on every record it wrote with the
    `crmsync_write` property (the batch's `marker`). Written and committed before the request
    goes out, `stamp` filled in from HubSpot's answer (the newest `updatedAt` it returned).
    The next incremental pull asks HubSpot's search only for records modified since its
    watermark that this ledger does not explain: never written by crmsync, written in an
    earlier window, or modified after the answer's stamp (by someone else). A batch without a
    stamp (its answer was lost, its run killed) explains nothing: its records are read."""

    crm = models.CharField(max_length=10, default="hubspot")
    object_type = models.CharField(max_length=20)   # contacts, companies, deals
    marker = models.BigIntegerField()               # milliseconds; the value written to crmsync_write
    stamp = models.DateTimeField(null=True, blank=True)
    records = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["crm", "object_type", "marker"], name="ownwrite_by_marker")]

    def __str__(self) -> str:
        return f"{self.crm} {self.object_type} write {self.marker} ({self.records})"


class CreateIntent(models.Model):
    """A record the sync is about to create in a CRM, written (and committed) before the request
    goes out. A create whose answer is lost, or whose run is killed before it records the
    result, still gets its one creation event: the retry that finds the record (answered
    "already there") or the next run finds the intent, and audits the record as created by the
    run that made it. Removed once the outcome is recorded."""

    run = models.ForeignKey(SyncRun, models.CASCADE, related_name="create_intents")
    crm = models.CharField(max_length=10)
    object_type = models.CharField(max_length=20)  # Lead, Opportunity, contacts, companies, deals
    key = models.CharField(max_length=255)          # what the create is idempotent on (external id, email)
    event = models.JSONField(default=dict)          # the creation event's fields, but for the new record's id
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["crm", "object_type", "key"], name="createintent_one_per_key")]

    def __str__(self) -> str:
        return f"{self.crm} {self.object_type} {self.key} (run {self.run_id})"


class AuditQuerySet(models.QuerySet):
    """Audit events are append-only: bulk updates and deletes are refused."""

    def update(self, **kwargs):
        raise PermissionError("Audit events cannot be changed.")

    def delete(self):
        raise PermissionError("Audit events cannot be deleted.")

    _raw_delete = delete


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        LINK_CREATED = "link_created", "Linked"
        LINK_SWITCHED = "link_switched", "Link moved"
        MARKED_DUPLICATE = "marked_duplicate", "Marked a duplicate (R7)"
        PRIMARY_LOST = "primary_lost", "Lost its primary"
        UNSYNCED = "unsynced", "Left unsynced"
        RESYNCED = "resynced", "Resynced"
        RECORD_CREATED = "record_created", "Record created"
        RECORD_MERGED = "record_merged", "Records merged"
        RECORD_DELETED = "record_deleted", "Record deleted"
        FIELD_CHANGED = "field_changed", "Field overwritten"
        SETTINGS_CHANGED = "settings_changed", "Settings changed"
        SYNC_REQUESTED = "sync_requested", "Sync requested"
        RUN_FINISHED = "run_finished", "Sync run finished"
        ALERT_SENT = "alert_sent", "Alert digest sent"
        LIST_MEMBERSHIP = "list_membership", "Inclusion list"
        DISMISSED = "dismissed", "Marked not a duplicate"
        MERGE_UNDONE = "merge_undone", "Merge undone"
        UNDISMISSED = "undismissed", "Not-a-duplicate undone"

    created = models.DateTimeField(default=timezone.now, editable=False)
    run = models.ForeignKey(SyncRun, models.PROTECT, null=True, blank=True, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+")
    actor_name = models.CharField(max_length=150)  # "sync" or the person's username; kept as written
    action = models.CharField(max_length=20, choices=Action)
    rule = models.CharField(max_length=3, choices=RULES, blank=True)
    target_type = models.CharField(max_length=30)  # e.g. "hubspot.contact", "salesforce.Lead"
    target_id = models.CharField(max_length=40)
    target_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    message = models.TextField(blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(actor_name=""), name="auditevent_has_actor_name"),
            models.CheckConstraint(condition=Q(rule="") | Q(rule__in=[r for r, _ in RULES]),
                                   name="auditevent_rule_is_r1_to_r11"),
        ]
        indexes = [
            # The audit page: newest first, optionally narrowed by action or actor.
            models.Index(fields=["-created", "-id"], name="audit_newest"),
            # Per-record timelines (the contact card).
            models.Index(fields=["target_type", "target_id", "-created"], name="audit_by_target"),
            models.Index(fields=["run", "-created"], name="audit_by_run"),
        ]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.target_type} {self.target_id}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError("Audit events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events cannot be deleted.")


class HubSpotEvent(models.Model):
    """One event of a HubSpot webhook batch (sync/webhooks.py), kept until a live run has synced
    the record it names (sync/engine/live.py). HubSpot retries a batch it thinks failed and may
    send an event twice: `event_id` is unique, a second copy is dropped on arrival."""

    event_id = models.BigIntegerField(unique=True)
    subscription_type = models.CharField(max_length=60)     # contact.propertyChange, deal.deletion, …
    object_type = models.CharField(max_length=10)           # contacts, companies, deals
    object_id = models.CharField(max_length=40)
    property_name = models.CharField(max_length=100, blank=True)
    property_value = models.TextField(blank=True)
    # contact.merge / company.merge / deal.merge: the record the merge made and the ids it absorbed
    related_ids = models.TextField(blank=True)              # ";"-separated: primary, merged, new
    change_source = models.CharField(max_length=40, blank=True)
    occurred_at = models.DateTimeField()
    attempt = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["received_at"], name="hsevent_by_received")]

    def __str__(self) -> str:
        return f"{self.subscription_type} {self.object_id} (event {self.event_id})"


class LiveSyncState(models.Model):
    """What the console says about HubSpot's webhooks (one row): when a batch last arrived, and
    when and why one was last refused (a wrong secret or URL shows here, not only in a log)."""

    last_event_at = models.DateTimeField(null=True, blank=True)
    last_refused_at = models.DateTimeField(null=True, blank=True)
    last_refused = models.CharField(max_length=200, blank=True)
    # When each HubSpot object's archived records were last listed (ISO times): while webhooks
    # arrive, an incremental run lists them only every HUBSPOT_ARCHIVED_LISTING_MINUTES.
    archived_listed = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="livesyncstate_single_row")]

    def __str__(self) -> str:
        return "Live sync state"

    @classmethod
    def load(cls) -> LiveSyncState:
        return cls.objects.get_or_create(pk=1)[0]


class InclusionListState(models.Model):
    """The inclusion list as the last run read it (one row): which list, how many members, how
    many mirrored contacts are outside it, and what went wrong reading it, if something did."""

    list_id = models.CharField(max_length=32, blank=True)   # the list the contacts' outside_list flags follow
    members = models.PositiveIntegerField(default=0)
    outside = models.PositiveIntegerField(default=0)
    read_at = models.DateTimeField(null=True, blank=True)
    problem = models.CharField(max_length=300, blank=True)
    problem_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="inclusionliststate_single_row")]

    def __str__(self) -> str:
        return "Inclusion list state"

    @classmethod
    def load(cls) -> InclusionListState:
        return cls.objects.get_or_create(pk=1)[0]


class PossiblePairQuerySet(models.QuerySet):
    def of_build(self, build: int | None, *, dismissed: bool = False) -> PossiblePairQuerySet:
        """A build's pairs nobody marked "not a duplicate" (`dismissed`: only those somebody did)."""
        said = Exists(Dismissal.objects.filter(kind="possible", key=OuterRef("key"), undone_at__isnull=True))
        qs = self.filter(build=build or 0)
        return qs.filter(said) if dismissed else qs.exclude(said)


class PossiblePair(models.Model):
    """Two people who are probably the same but have different emails (the Possible duplicates
    tab; advisory: R1 still links by email only). Either side is a Salesforce lead/contact
    ("sf", its id) or a HubSpot contact ("hs", its id); `a` sorts before `b`. Rebuilt whole by
    a background task (engine/possible.py): a new build's rows replace the old ones."""

    a_side = models.CharField(max_length=2)
    a_id = models.CharField(max_length=40)
    b_side = models.CharField(max_length=2)
    b_id = models.CharField(max_length=40)
    key = models.CharField(max_length=90)       # "sf:00Q…|hs:101": what a dismissal names
    score = models.PositiveSmallIntegerField()
    reasons = models.JSONField(default=list)   # in words: "same name", "phone differs by format", …
    build = models.PositiveIntegerField(default=0)
    # What the tab's search looks in: both people's ids, emails and (folded) names, lower-case;
    # trigram-indexed on PostgreSQL (migration 0018).
    search = models.TextField(blank=True, default="", editable=False)

    objects = PossiblePairQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["build", "key"], name="possiblepair_once"),
            models.CheckConstraint(condition=Q(score__lte=100), name="possiblepair_score_percent"),
        ]
        indexes = [models.Index(fields=["build", "-score", "key"], name="possiblepair_by_score"),
                   # The tab's search: the pairs either person is in.
                   models.Index(fields=["build", "a_id"], name="possiblepair_by_a"),
                   models.Index(fields=["build", "b_id"], name="possiblepair_by_b")]

    def __str__(self) -> str:
        return f"{self.key} ({self.score})"


class PossibleBuild(models.Model):
    """The possible-duplicates builds: the newest finished one is what the tab shows."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+")
    people = models.PositiveIntegerField(default=0)      # records read
    blocks = models.PositiveIntegerField(default=0)      # blocks compared
    comparisons = models.PositiveIntegerField(default=0)
    pairs = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"possible-duplicates build {self.pk}"


class Dismissal(models.Model):
    """"Not a duplicate": a person's word that a group (R2, R7, R9) or a possible pair is not one.
    Every list and count leaves a dismissed group out while it has no more members than when it
    was dismissed (a new member brings it back); undoing keeps the row, with who and when."""

    class Kind(models.TextChoices):
        R2 = "r2", "Same email in Salesforce (R2)"
        R7 = "r7", "One Salesforce record, several HubSpot contacts (R7)"
        R9 = "r9", "Companies sharing an account (R9)"
        POSSIBLE = "possible", "Possible duplicate"

    kind = models.CharField(max_length=8, choices=Kind)
    key = models.CharField(max_length=255)            # the group's key, or the pair's key
    size = models.PositiveIntegerField(default=2)     # members when dismissed
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        constraints = [
            # One standing dismissal per group or pair (undone ones stay as history).
            models.UniqueConstraint(fields=["kind", "key"], condition=Q(undone_at__isnull=True),
                                    name="dismissal_one_standing"),
            models.CheckConstraint(condition=~Q(reason=""), name="dismissal_has_a_reason"),
        ]

    def __str__(self) -> str:
        return f"not a duplicate: {self.kind} {self.key}"


class MergeSnapshot(models.Model):
    """What a console merge changed, kept before the merge is sent, so it can be undone
    (sync/merges/undo.py): in Salesforce while it keeps the merged-away records in its recycle
    bin (15 days) — every merging record's fields, the master's values the merge replaced, the
    HubSpot contacts linked to any of them; in HubSpot (an R7 group), whose merges are permanent —
    every merged contact's properties and link, to make them again."""

    class Crm(models.TextChoices):
        SALESFORCE = "salesforce", "Salesforce"
        HUBSPOT = "hubspot", "HubSpot"

    class MergeStatus(models.TextChoices):
        PENDING = "pending", "Being merged"        # kept, the merge not (yet) known to have happened
        MERGED = "merged", "Merged"
        PARTIAL = "partial", "Partly merged"        # some of the records were merged, then Salesforce refused

    class UndoStatus(models.TextChoices):
        NONE = "", "Not undone"
        UNDOING = "undoing", "Being undone"        # steps_done says how far; running it again goes on from there
        UNDONE = "undone", "Undone"
        PARTIAL = "partial", "Partly undone"       # a step failed: undo_error says which and why

    crm = models.CharField(max_length=10, choices=Crm, default=Crm.SALESFORCE)
    object_type = models.CharField(max_length=10)       # Lead / Contact; "contacts" in HubSpot
    master_id = models.CharField(max_length=40)         # HubSpot: the primary, then the merged record's new id
    group_key = models.CharField(max_length=18, blank=True)   # HubSpot: the Salesforce id the R7 group named
    merged_ids = models.JSONField(default=list)         # the records merged into the master
    records = models.JSONField(default=dict)            # id → {field or property: value} as before the merge
    master_changed = models.JSONField(default=dict)     # API name → the master's value before the merge set another
    links = models.JSONField(default=list)              # [{hs_id, sf_id, status, properties}] of the affected contacts
    delete_on = models.BooleanField(default=False)      # R5 deleted the contacts (the setting, at the merge)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+")
    merge_status = models.CharField(max_length=8, choices=MergeStatus, default=MergeStatus.PENDING)
    undo_status = models.CharField(max_length=8, choices=UndoStatus, blank=True, default=UndoStatus.NONE)
    steps_done = models.JSONField(default=list)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+")
    undo_error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["-created_at"], name="mergesnapshot_newest")]

    def __str__(self) -> str:
        return f"merge into {self.master_id} ({self.created_at:%Y-%m-%d})"
