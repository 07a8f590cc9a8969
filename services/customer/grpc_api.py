"""CustomerService servicer: proto in, use case, proto out. No rules, no sessions."""

from __future__ import annotations

from collections.abc import Callable

from granary.v1 import customer_pb2, customer_pb2_grpc

from services.common.crypto import FieldCipher
from services.common.errors import InvalidArgument
from services.common.grpc_server import ServicerContext
from services.common.identity import require_caller
from services.common.timestamps import from_timestamp, to_timestamp
from services.customer import service
from services.customer.domain.segmentation import TierRules
from services.customer.models import (
    BranchRow,
    ConsentRow,
    CreditReportRow,
    FinancialItemRow,
    InteractionRow,
    LeadRow,
    PartyChangeRow,
    RelationRow,
)


class CustomerServicer(customer_pb2_grpc.CustomerServiceServicer):
    def __init__(
        self,
        *,
        uow: Callable[[], service.CustomerUnitOfWork],
        cipher: FieldCipher,
        sources: service.ViewSources | None = None,
        tier_rules: TierRules | None = None,
    ) -> None:
        self._uow = uow
        self._cipher = cipher
        self._sources = sources
        self._tier_rules = tier_rules or TierRules()

    # ------------------------------------------------------------------ parties

    async def CreateParty(
        self, request: customer_pb2.CreatePartyRequest, context: ServicerContext
    ) -> customer_pb2.CreatePartyResponse:
        kind = service.KIND_FROM_PROTO.get(request.kind)
        if kind is None:
            raise InvalidArgument.for_field("kind", "must be person, enterprise or collective")
        party = await service.register_party(
            uow=self._uow(),
            cipher=self._cipher,
            caller=require_caller(),
            new=service.NewParty(
                kind=kind,
                name=request.name,
                id_number=request.id_number,
                mobile=request.mobile,
                branch_id=request.branch_id,
                managing_officer_id=request.managing_officer_id,
                id_type=request.id_type,
                address=request.address,
                region_code=request.region_code,
                occupation=request.occupation,
                legal_representative=request.legal_representative,
                stage=request.stage,
                tags=list(request.tags),
            ),
        )
        return customer_pb2.CreatePartyResponse(party=party_to_proto(party))

    async def GetParty(
        self, request: customer_pb2.GetPartyRequest, context: ServicerContext
    ) -> customer_pb2.GetPartyResponse:
        party = await service.get_party(
            uow=self._uow(),
            caller=require_caller(),
            party_id=request.party_id,
            unmasked=request.unmasked,
            cipher=self._cipher,
        )
        return customer_pb2.GetPartyResponse(party=party_to_proto(party))

    async def SearchParties(
        self, request: customer_pb2.SearchPartiesRequest, context: ServicerContext
    ) -> customer_pb2.SearchPartiesResponse:
        parties, token = await service.search_parties(
            uow=self._uow(),
            cipher=self._cipher,
            caller=require_caller(),
            query=service.PartyQuery(
                name_prefix=request.name_prefix,
                id_number=request.id_number,
                mobile=request.mobile,
                region_code=request.region_code,
                tag=request.tag,
                tier=request.tier,
                stage=request.stage,
                managing_officer_id=request.managing_officer_id,
                include_merged=request.include_merged,
            ),
            limit=request.page_size,
            token=request.page_token,
        )
        return customer_pb2.SearchPartiesResponse(parties=[party_to_proto(p) for p in parties], next_page_token=token)

    async def UpdateParty(
        self, request: customer_pb2.UpdatePartyRequest, context: ServicerContext
    ) -> customer_pb2.UpdatePartyResponse:
        party = await service.update_party(
            uow=self._uow(),
            caller=require_caller(),
            party_id=request.party_id,
            mask=list(request.update_mask),
            values={
                "address": request.address,
                "region_code": request.region_code,
                "occupation": request.occupation,
                "managing_officer_id": request.managing_officer_id,
            },
        )
        return customer_pb2.UpdatePartyResponse(party=party_to_proto(party))

    async def SetPartyTags(
        self, request: customer_pb2.SetPartyTagsRequest, context: ServicerContext
    ) -> customer_pb2.SetPartyTagsResponse:
        party = await service.set_party_tags(
            uow=self._uow(), caller=require_caller(), party_id=request.party_id, tags=list(request.tags)
        )
        return customer_pb2.SetPartyTagsResponse(party=party_to_proto(party))

    async def ChangePartyStage(
        self, request: customer_pb2.ChangePartyStageRequest, context: ServicerContext
    ) -> customer_pb2.ChangePartyStageResponse:
        party = await service.change_party_stage(
            uow=self._uow(),
            caller=require_caller(),
            party_id=request.party_id,
            stage=request.stage,
            reason=request.reason,
        )
        return customer_pb2.ChangePartyStageResponse(party=party_to_proto(party))

    async def RecomputePartyTiers(
        self, request: customer_pb2.RecomputePartyTiersRequest, context: ServicerContext
    ) -> customer_pb2.RecomputePartyTiersResponse:
        party, changed = await service.recompute_party_tiers(
            uow=self._uow(), caller=require_caller(), rules=self._tier_rules, party_id=request.party_id
        )
        return customer_pb2.RecomputePartyTiersResponse(party=party_to_proto(party), changed=changed)

    async def MergeParties(
        self, request: customer_pb2.MergePartiesRequest, context: ServicerContext
    ) -> customer_pb2.MergePartiesResponse:
        survivor, duplicate, moved = await service.merge_parties(
            uow=self._uow(),
            caller=require_caller(),
            survivor_id=request.survivor_id,
            duplicate_id=request.duplicate_id,
            reason=request.reason,
        )
        return customer_pb2.MergePartiesResponse(
            survivor=party_to_proto(survivor),
            duplicate=party_to_proto(duplicate),
            moved={k: str(v) for k, v in moved.items()},
        )

    async def RequestPartyChange(
        self, request: customer_pb2.RequestPartyChangeRequest, context: ServicerContext
    ) -> customer_pb2.RequestPartyChangeResponse:
        change = await service.request_party_change(
            uow=self._uow(),
            cipher=self._cipher,
            caller=require_caller(),
            party_id=request.party_id,
            field_name=request.field,
            new_value=request.new_value,
            reason=request.reason,
        )
        return customer_pb2.RequestPartyChangeResponse(change=change_to_proto(change))

    async def ApplyPartyChange(
        self, request: customer_pb2.ApplyPartyChangeRequest, context: ServicerContext
    ) -> customer_pb2.ApplyPartyChangeResponse:
        change, party = await service.apply_party_change(
            uow=self._uow(),
            cipher=self._cipher,
            caller=require_caller(),
            change_id=request.change_id,
            approved=request.approved,
            comment=request.comment,
        )
        return customer_pb2.ApplyPartyChangeResponse(change=change_to_proto(change), party=party_to_proto(party))

    async def ListPartyChanges(
        self, request: customer_pb2.ListPartyChangesRequest, context: ServicerContext
    ) -> customer_pb2.ListPartyChangesResponse:
        changes = await service.list_party_changes(uow=self._uow(), caller=require_caller(), party_id=request.party_id)
        return customer_pb2.ListPartyChangesResponse(changes=[change_to_proto(c) for c in changes])

    async def GetPartyContact(
        self, request: customer_pb2.GetPartyContactRequest, context: ServicerContext
    ) -> customer_pb2.GetPartyContactResponse:
        record = await service.get_party_contact(
            uow=self._uow(), cipher=self._cipher, caller=require_caller(), party_id=request.party_id
        )
        return customer_pb2.GetPartyContactResponse(
            party_id=record.row.id,
            name=record.row.name,
            mobile_e164=record.mobile_e164,
            managing_officer_id=record.row.managing_officer_id,
            branch_id=record.row.branch_id,
        )

    async def GetPartyView(
        self, request: customer_pb2.GetPartyViewRequest, context: ServicerContext
    ) -> customer_pb2.GetPartyViewResponse:
        if self._sources is None:
            raise RuntimeError("the customer service was built without view sources")
        view = await service.get_party_view(
            uow=self._uow(),
            caller=require_caller(),
            sources=self._sources,
            party_id=request.party_id,
            interaction_limit=request.interaction_limit,
        )
        reply = customer_pb2.GetPartyViewResponse(
            party=party_to_proto(view.party),
            relations=[relation_to_proto(r, n) for r, n in view.relations],
            financial_items=[financial_to_proto(i) for i in view.financial_items],
            consents=[consent_to_proto(c) for c in view.consents],
            credit=[
                customer_pb2.PartyCreditItem(kind=c.kind, id=c.id, status=c.status, amount=c.amount, details=c.details)
                for c in view.credit
            ],
            open_field_tasks=[
                customer_pb2.PartyFieldTask(id=t.id, task_type=t.task_type, status=t.status, details=t.details)
                for t in view.field_tasks
            ],
            interactions=[interaction_to_proto(i) for i in view.interactions],
            missing=[customer_pb2.MissingPart(part=k, reason=v) for k, v in view.missing.items()],
            partial=bool(view.missing),
        )
        if view.household is not None:
            reply.household.CopyFrom(household_to_proto(view.household))
        if view.latest_credit_report is not None:
            reply.latest_credit_report.CopyFrom(report_to_proto(view.latest_credit_report))
        return reply

    async def GetPartyLocation(
        self, request: customer_pb2.GetPartyLocationRequest, context: ServicerContext
    ) -> customer_pb2.GetPartyLocationResponse:
        found = await service.get_party_location(uow=self._uow(), caller=require_caller(), party_id=request.party_id)
        return customer_pb2.GetPartyLocationResponse(
            party_id=found.party_id,
            latitude=found.latitude,
            longitude=found.longitude,
            region_code=found.region_code,
            source=found.source,
        )

    async def ListBirthdayParties(
        self, request: customer_pb2.ListBirthdayPartiesRequest, context: ServicerContext
    ) -> customer_pb2.ListBirthdayPartiesResponse:
        rows, token = await service.list_birthday_parties(
            uow=self._uow(),
            caller=require_caller(),
            month=request.month,
            day=request.day,
            limit=request.page_size,
            token=request.page_token,
        )
        return customer_pb2.ListBirthdayPartiesResponse(
            parties=[
                customer_pb2.BirthdayParty(
                    party_id=r.id, name=r.name, managing_officer_id=r.managing_officer_id, branch_id=r.branch_id
                )
                for r in rows
            ],
            next_page_token=token,
        )

    # ------------------------------------------------------------------ relations, households, finances

    async def AddRelation(
        self, request: customer_pb2.AddRelationRequest, context: ServicerContext
    ) -> customer_pb2.AddRelationResponse:
        relation, name = await service.add_relation(
            uow=self._uow(),
            caller=require_caller(),
            party_id=request.party_id,
            related_party_id=request.related_party_id,
            kind=request.kind,
            share_percent=request.share_percent,
            valid_from=request.valid_from,
            valid_to=request.valid_to,
        )
        return customer_pb2.AddRelationResponse(relation=relation_to_proto(relation, name))

    async def CreateHousehold(
        self, request: customer_pb2.CreateHouseholdRequest, context: ServicerContext
    ) -> customer_pb2.CreateHouseholdResponse:
        household = await service.create_household(
            uow=self._uow(),
            caller=require_caller(),
            head_party_id=request.head_party_id,
            village_code=request.village_code,
            land_mu=request.land_mu,
            labour_count=request.labour_count,
            main_income=request.main_income,
            annual_income=request.annual_income,
            rating=request.rating,
        )
        return customer_pb2.CreateHouseholdResponse(household=household_to_proto(household))

    async def AddHouseholdMember(
        self, request: customer_pb2.AddHouseholdMemberRequest, context: ServicerContext
    ) -> customer_pb2.AddHouseholdMemberResponse:
        household = await service.add_household_member(
            uow=self._uow(),
            caller=require_caller(),
            household_id=request.household_id,
            party_id=request.party_id,
            relation=request.relation,
            co_borrower=request.co_borrower,
        )
        return customer_pb2.AddHouseholdMemberResponse(household=household_to_proto(household))

    async def GetHousehold(
        self, request: customer_pb2.GetHouseholdRequest, context: ServicerContext
    ) -> customer_pb2.GetHouseholdResponse:
        household = await service.get_household(
            uow=self._uow(), caller=require_caller(), household_id=request.household_id
        )
        return customer_pb2.GetHouseholdResponse(household=household_to_proto(household))

    async def AddFinancialItem(
        self, request: customer_pb2.AddFinancialItemRequest, context: ServicerContext
    ) -> customer_pb2.AddFinancialItemResponse:
        item = await service.add_financial_item(
            uow=self._uow(),
            caller=require_caller(),
            party_id=request.party_id,
            category=request.category,
            item_type=request.item_type,
            value=request.value,
            valuation_date=request.valuation_date,
            verified_by_visit=request.verified_by_visit,
            description=request.description,
        )
        return customer_pb2.AddFinancialItemResponse(item=financial_to_proto(item))

    async def RecordConsent(
        self, request: customer_pb2.RecordConsentRequest, context: ServicerContext
    ) -> customer_pb2.RecordConsentResponse:
        consent = await service.record_consent(
            uow=self._uow(),
            caller=require_caller(),
            party_id=request.party_id,
            purpose=request.purpose,
            scope=request.scope,
            granted=request.granted,
            expires_at=from_timestamp(request.expires_at) if request.HasField("expires_at") else None,
            document_ref=request.document_ref,
        )
        return customer_pb2.RecordConsentResponse(consent=consent_to_proto(consent))

    async def RevokeConsent(
        self, request: customer_pb2.RevokeConsentRequest, context: ServicerContext
    ) -> customer_pb2.RevokeConsentResponse:
        consent = await service.revoke_consent(uow=self._uow(), caller=require_caller(), consent_id=request.consent_id)
        return customer_pb2.RevokeConsentResponse(consent=consent_to_proto(consent))

    async def CheckConsent(
        self, request: customer_pb2.CheckConsentRequest, context: ServicerContext
    ) -> customer_pb2.CheckConsentResponse:
        consent = await service.check_consent(
            uow=self._uow(), caller=require_caller(), party_id=request.party_id, purpose=request.purpose
        )
        return customer_pb2.CheckConsentResponse(granted=consent is not None, consent_id=consent.id if consent else "")

    async def RecordCreditReport(
        self, request: customer_pb2.RecordCreditReportRequest, context: ServicerContext
    ) -> customer_pb2.RecordCreditReportResponse:
        report = await service.record_credit_report(
            uow=self._uow(),
            caller=require_caller(),
            party_id=request.party_id,
            bureau=request.bureau,
            consent_id=request.consent_id,
            purpose=request.purpose,
            queried_at=from_timestamp(request.queried_at) if request.HasField("queried_at") else None,
            summary=dict(request.summary),
            document_ref=request.document_ref,
            external_ref=request.external_ref,
        )
        return customer_pb2.RecordCreditReportResponse(report_id=report.id)

    async def RecordInteraction(
        self, request: customer_pb2.RecordInteractionRequest, context: ServicerContext
    ) -> customer_pb2.RecordInteractionResponse:
        row = await service.record_interaction(
            uow=self._uow(),
            caller=require_caller(),
            party_id=request.party_id,
            kind=request.kind,
            channel=request.channel,
            occurred_at=from_timestamp(request.occurred_at) if request.HasField("occurred_at") else None,
            summary=request.summary,
            linked_task_id=request.linked_task_id,
            linked_application_id=request.linked_application_id,
        )
        return customer_pb2.RecordInteractionResponse(interaction=interaction_to_proto(row))

    # ------------------------------------------------------------------ leads

    async def CreateLead(
        self, request: customer_pb2.CreateLeadRequest, context: ServicerContext
    ) -> customer_pb2.CreateLeadResponse:
        lead = await service.create_lead(
            uow=self._uow(),
            cipher=self._cipher,
            caller=require_caller(),
            name=request.name,
            mobile=request.mobile,
            region_code=request.region_code,
            channel=request.channel,
            source=request.source,
            next_follow_up=request.next_follow_up,
            note=request.note,
        )
        return customer_pb2.CreateLeadResponse(lead=lead_to_proto(lead))

    async def ListLeads(
        self, request: customer_pb2.ListLeadsRequest, context: ServicerContext
    ) -> customer_pb2.ListLeadsResponse:
        leads, token = await service.list_leads(
            uow=self._uow(),
            caller=require_caller(),
            view=request.view,
            stage=request.stage,
            limit=request.page_size,
            token=request.page_token,
        )
        return customer_pb2.ListLeadsResponse(leads=[lead_to_proto(lead) for lead in leads], next_page_token=token)

    async def UpdateLead(
        self, request: customer_pb2.UpdateLeadRequest, context: ServicerContext
    ) -> customer_pb2.UpdateLeadResponse:
        lead = await service.update_lead(
            uow=self._uow(),
            caller=require_caller(),
            lead_id=request.lead_id,
            stage=request.stage,
            next_follow_up=request.next_follow_up,
            assigned_officer_id=request.assigned_officer_id,
            party_id=request.party_id,
            note=request.note,
        )
        return customer_pb2.UpdateLeadResponse(lead=lead_to_proto(lead))

    async def GetLeadFunnel(
        self, request: customer_pb2.GetLeadFunnelRequest, context: ServicerContext
    ) -> customer_pb2.GetLeadFunnelResponse:
        leads, parties = await service.get_lead_funnel(
            uow=self._uow(),
            caller=require_caller(),
            branch_id=request.branch_id,
            created_from=from_timestamp(request.created_from) if request.HasField("created_from") else None,
            created_to=from_timestamp(request.created_to) if request.HasField("created_to") else None,
        )
        return customer_pb2.GetLeadFunnelResponse(
            lead_stages=[customer_pb2.FunnelStage(stage=s, count=n) for s, n in leads],
            party_stages=[customer_pb2.FunnelStage(stage=s, count=n) for s, n in parties],
        )

    # ------------------------------------------------------------------ import

    async def ImportParties(
        self, request: customer_pb2.ImportPartiesRequest, context: ServicerContext
    ) -> customer_pb2.ImportPartiesResponse:
        outcome = await service.import_parties(
            uow=self._uow(),
            cipher=self._cipher,
            caller=require_caller(),
            file_name=request.file_name,
            content=request.content,
            dry_run=request.dry_run,
            valid_rows_only=request.valid_rows_only,
            mapping=dict(request.column_mapping),
        )
        return customer_pb2.ImportPartiesResponse(
            batch_id=outcome.batch_id,
            status=outcome.status,
            total_rows=outcome.total_rows,
            valid_rows=outcome.valid_rows,
            created=outcome.created,
            duplicates=outcome.duplicates,
            errors=[customer_pb2.ImportRowError(row=e.row, column=e.column, reason=e.reason) for e in outcome.errors],
            file_sha256=outcome.file_sha256,
            party_ids=outcome.party_ids,
        )

    # ------------------------------------------------------------------ org directory

    async def CreateBranch(
        self, request: customer_pb2.CreateBranchRequest, context: ServicerContext
    ) -> customer_pb2.CreateBranchResponse:
        branch = await service.create_branch(
            uow=self._uow(),
            caller=require_caller(),
            code=request.code,
            name=request.name,
            parent_id=request.parent_id,
        )
        return customer_pb2.CreateBranchResponse(branch=branch_to_proto(branch))

    async def ListBranches(
        self, request: customer_pb2.ListBranchesRequest, context: ServicerContext
    ) -> customer_pb2.ListBranchesResponse:
        branches = await service.list_branches(uow=self._uow(), caller=require_caller())
        return customer_pb2.ListBranchesResponse(branches=[branch_to_proto(b, depth) for b, depth in branches])

    async def CreateStaff(
        self, request: customer_pb2.CreateStaffRequest, context: ServicerContext
    ) -> customer_pb2.CreateStaffResponse:
        staff = await service.create_staff(
            uow=self._uow(),
            caller=require_caller(),
            username=request.username,
            display_name=request.display_name,
            password=request.password,
            roles=list(request.roles),
            branch_id=request.branch_id,
            superior_id=request.superior_id,
            phone=request.phone,
            regions=list(request.regions_served),
        )
        return customer_pb2.CreateStaffResponse(staff=staff_to_proto(staff))

    async def AuthenticateStaff(
        self, request: customer_pb2.AuthenticateStaffRequest, context: ServicerContext
    ) -> customer_pb2.AuthenticateStaffResponse:
        staff = await service.authenticate_staff(
            uow=self._uow(), caller=require_caller(), username=request.username, password=request.password
        )
        return customer_pb2.AuthenticateStaffResponse(staff=staff_to_proto(service.StaffRecord(staff, [])))

    async def GetStaff(
        self, request: customer_pb2.GetStaffRequest, context: ServicerContext
    ) -> customer_pb2.GetStaffResponse:
        staff = await service.get_staff(uow=self._uow(), caller=require_caller(), staff_id=request.staff_id)
        return customer_pb2.GetStaffResponse(staff=staff_to_proto(staff))

    async def ListStaff(
        self, request: customer_pb2.ListStaffRequest, context: ServicerContext
    ) -> customer_pb2.ListStaffResponse:
        staff = await service.list_staff(
            uow=self._uow(),
            caller=require_caller(),
            branch_id=request.branch_id,
            role=request.role,
            include_inactive=request.include_inactive,
        )
        return customer_pb2.ListStaffResponse(staff=[staff_to_proto(s) for s in staff])

    async def SetStaffRegions(
        self, request: customer_pb2.SetStaffRegionsRequest, context: ServicerContext
    ) -> customer_pb2.SetStaffRegionsResponse:
        staff = await service.set_staff_regions(
            uow=self._uow(), caller=require_caller(), staff_id=request.staff_id, regions=list(request.regions_served)
        )
        return customer_pb2.SetStaffRegionsResponse(staff=staff_to_proto(staff))

    async def ListRegions(
        self, request: customer_pb2.ListRegionsRequest, context: ServicerContext
    ) -> customer_pb2.ListRegionsResponse:
        regions = await service.list_regions(uow=self._uow(), caller=require_caller(), parent_code=request.parent_code)
        return customer_pb2.ListRegionsResponse(
            regions=[
                customer_pb2.Region(code=r.code, name=r.name, level=r.level, parent_code=r.parent_code or "")
                for r in regions
            ]
        )


def _iso(value: object) -> str:
    return value.isoformat() if value is not None else ""  # type: ignore[attr-defined]


def party_to_proto(record: service.PartyRecord) -> customer_pb2.Party:
    party = record.row
    return customer_pb2.Party(
        id=party.id,
        kind=service.KIND_TO_PROTO[service.PartyKind(party.kind)],
        name=party.name,
        id_number_masked=party.id_number_masked,
        mobile_masked=party.mobile_masked,
        branch_id=party.branch_id,
        managing_officer_id=party.managing_officer_id,
        birth_date=_iso(party.birth_date),
        gender=party.gender,
        created_at=to_timestamp(party.created_at),
        warnings=party.warnings,
        id_type=party.id_type,
        address=party.address,
        region_code=party.region_code,
        occupation=party.occupation,
        legal_representative=party.legal_rep_name,
        stage=party.stage,
        tier_value=party.tier_value,
        tier_activity=party.tier_activity,
        tier_risk=party.tier_risk,
        tags=record.tags,
        merged_into_id=party.merged_into_id or "",
        import_batch_id=party.import_batch_id or "",
        import_file=party.import_file or "",
        import_row=party.import_row or 0,
        id_number=record.id_number,
        mobile_e164=record.mobile_e164,
    )


def change_to_proto(change: PartyChangeRow) -> customer_pb2.PartyChange:
    reply = customer_pb2.PartyChange(
        id=change.id,
        party_id=change.party_id,
        field=change.field,
        before_masked=change.before_masked,
        after_masked=change.after_masked,
        status=change.status,
        reason=change.reason,
        requested_by=change.requested_by,
        requested_at=to_timestamp(change.requested_at),
        decided_by=change.decided_by or "",
        comment=change.comment,
    )
    if change.decided_at is not None:
        reply.decided_at.CopyFrom(to_timestamp(change.decided_at))
    return reply


def relation_to_proto(relation: RelationRow, name: str) -> customer_pb2.Relation:
    return customer_pb2.Relation(
        id=relation.id,
        party_id=relation.party_id,
        related_party_id=relation.related_party_id,
        kind=relation.kind,
        share_percent=str(relation.share_percent) if relation.share_percent is not None else "",
        valid_from=_iso(relation.valid_from),
        valid_to=_iso(relation.valid_to),
        related_party_name=name,
    )


def household_to_proto(record: service.HouseholdRecord) -> customer_pb2.Household:
    h = record.row
    return customer_pb2.Household(
        id=h.id,
        head_party_id=h.head_party_id,
        village_code=h.village_code,
        land_mu=str(h.land_mu),
        labour_count=h.labour_count,
        main_income=h.main_income,
        annual_income=str(h.annual_income),
        rating=h.rating,
        branch_id=h.branch_id,
        members=[
            customer_pb2.HouseholdMember(party_id=m.party_id, name=name, relation=m.relation, co_borrower=m.co_borrower)
            for m, name in record.members
        ],
    )


def financial_to_proto(item: FinancialItemRow) -> customer_pb2.FinancialItem:
    return customer_pb2.FinancialItem(
        id=item.id,
        party_id=item.party_id,
        category=item.category,
        item_type=item.item_type,
        value=str(item.value),
        valuation_date=_iso(item.valuation_date),
        verified_by_visit=item.verified_by_visit,
        description=item.description,
    )


def consent_to_proto(consent: ConsentRow) -> customer_pb2.Consent:
    reply = customer_pb2.Consent(
        id=consent.id,
        party_id=consent.party_id,
        purpose=consent.purpose,
        scope=consent.scope,
        granted=consent.granted,
        granted_at=to_timestamp(consent.granted_at),
        document_ref=consent.document_ref,
    )
    if consent.expires_at is not None:
        reply.expires_at.CopyFrom(to_timestamp(consent.expires_at))
    if consent.revoked_at is not None:
        reply.revoked_at.CopyFrom(to_timestamp(consent.revoked_at))
    return reply


def report_to_proto(report: CreditReportRow) -> customer_pb2.CreditReport:
    return customer_pb2.CreditReport(
        id=report.id,
        party_id=report.party_id,
        bureau=report.bureau,
        consent_id=report.consent_id,
        purpose=report.purpose,
        queried_at=to_timestamp(report.queried_at),
        summary={str(k): str(v) for k, v in report.summary.items()},
        document_ref=report.document_ref,
        external_ref=report.external_ref,
    )


def interaction_to_proto(row: InteractionRow) -> customer_pb2.Interaction:
    return customer_pb2.Interaction(
        id=row.id,
        party_id=row.party_id,
        kind=row.kind,
        channel=row.channel,
        actor_id=row.actor_id,
        occurred_at=to_timestamp(row.occurred_at),
        summary=row.summary,
        linked_task_id=row.linked_task_id,
        linked_application_id=row.linked_application_id,
    )


def lead_to_proto(lead: LeadRow) -> customer_pb2.Lead:
    return customer_pb2.Lead(
        id=lead.id,
        name=lead.name,
        mobile_masked=lead.mobile_masked,
        region_code=lead.region_code,
        channel=lead.channel,
        source=lead.source,
        stage=lead.stage,
        assigned_officer_id=lead.assigned_officer_id or "",
        branch_id=lead.branch_id or "",
        in_fallback_queue=lead.assigned_officer_id is None,
        next_follow_up=_iso(lead.next_follow_up),
        party_id=lead.party_id or "",
        note=lead.note,
        created_at=to_timestamp(lead.created_at),
    )


def branch_to_proto(branch: BranchRow, depth: int = 0) -> customer_pb2.Branch:
    return customer_pb2.Branch(
        id=branch.id, code=branch.code, name=branch.name, parent_id=branch.parent_id or "", depth=depth
    )


def staff_to_proto(record: service.StaffRecord) -> customer_pb2.Staff:
    staff = record.row
    return customer_pb2.Staff(
        id=staff.id,
        username=staff.username,
        display_name=staff.display_name,
        roles=staff.roles,
        branch_id=staff.branch_id,
        superior_id=staff.superior_id or "",
        phone=staff.phone,
        regions_served=record.regions,
        active=staff.active,
    )
