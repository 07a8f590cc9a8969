"""Demo data for `granary up`: a county cooperative, its staff and a few customers.

Seeded through the services' gRPC APIs as a system caller, so it obeys the same rules as
real input; running it twice changes nothing.
"""

from __future__ import annotations

from granary.v1 import customer_pb2, customer_pb2_grpc
from stdnum.cn import ric

from services.common.grpc_client import ServiceChannels, call
from services.common.grpc_errors import RemoteError
from services.common.identity import ServiceIdentity, TokenSigner, acting_as
from services.common.settings import Settings

# Local demo only: `granary up` refuses nothing here, production has no demo data.
DEMO_PASSWORD = "granary-demo-2026"

BRANCHES = [
    ("HQ", "青山县农村信用合作联社", ""),
    ("CG", "城关支行", "HQ"),
    ("HX", "河西支行", "HQ"),
    ("QT", "桥头支行", "HQ"),
]

STAFF = [
    ("admin", "系统管理员", ["admin"], "HQ"),
    ("president", "王行长", ["president"], "CG"),
    ("supervisor", "李主管", ["supervisor"], "CG"),
    ("officer", "张信贷员", ["officer"], "CG"),
    ("officer.hx", "赵信贷员", ["officer"], "HX"),
    ("risk", "陈风控", ["risk_director"], "HQ"),
    ("committee", "刘委员", ["committee_member"], "HQ"),
    ("owner", "周流程", ["process_owner"], "HQ"),
    ("auditor", "吴审计", ["auditor"], "HQ"),
]

PEOPLE = [
    ("王建国", "330726", "19720315", "101", "13805710001"),
    ("李秀英", "330726", "19800822", "202", "13905710002"),
    ("张卫东", "330726", "19650109", "313", "13705710003"),
]


def _resident_id(county: str, birth: str, sequence: str) -> str:
    body = county + birth + sequence
    # stdnum expects the full number and ignores its last character.
    return body + ric.calc_check_digit(body + "0")


async def _existing_or_new(method, request, id_key: str, pick) -> str:  # type: ignore[no-untyped-def]
    """Creates, or finds the id of what an earlier run created."""
    try:
        return str(pick(await call(method, request)))
    except RemoteError as exc:
        if exc.status == "ALREADY_EXISTS" and id_key in exc.metadata:
            return exc.metadata[id_key]
        raise


async def seed_demo_data(settings: Settings) -> list[tuple[str, str]]:
    signer = TokenSigner(settings.platform.require_jwt_secret())
    system = ServiceIdentity(signer, "demo")
    channels = ServiceChannels(default_timeout=10, fallback_caller=system)
    stub = channels.stub(settings.service("customer").address, customer_pb2_grpc.CustomerServiceStub)

    try:
        with acting_as(system()):
            branch_ids: dict[str, str] = {}
            for code, name, parent in BRANCHES:
                branch_ids[code] = await _existing_or_new(
                    stub.CreateBranch,
                    customer_pb2.CreateBranchRequest(code=code, name=name, parent_id=branch_ids.get(parent, "")),
                    "branch_id",
                    lambda r: r.branch.id,
                )
            staff_ids: dict[str, str] = {}
            for username, display, roles, branch in STAFF:
                staff_ids[username] = await _existing_or_new(
                    stub.CreateStaff,
                    customer_pb2.CreateStaffRequest(
                        username=username,
                        display_name=display,
                        password=DEMO_PASSWORD,
                        roles=roles,
                        branch_id=branch_ids[branch],
                    ),
                    "staff_id",
                    lambda r: r.staff.id,
                )
            for name, county, birth, seq, mobile in PEOPLE:
                await _existing_or_new(
                    stub.CreateParty,
                    customer_pb2.CreatePartyRequest(
                        kind=customer_pb2.PARTY_KIND_PERSON,
                        name=name,
                        id_number=_resident_id(county, birth, seq),
                        mobile=mobile,
                        branch_id=branch_ids["CG"],
                        managing_officer_id=staff_ids["officer"],
                    ),
                    "party_id",
                    lambda r: r.party.id,
                )
    finally:
        await channels.close()
    return [(username, ", ".join(roles)) for username, _, roles, _ in STAFF]
