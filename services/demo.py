"""Demo data for `granary up`: a county cooperative, its staff, customers, loans and the SOP.

Seeded through the services' gRPC APIs, so it obeys the same rules as real input; running it
twice changes nothing. A head office and three branches, staff in every role, 200 households
(deterministic people with valid resident ID check digits), products of every repayment
method, applications in every status, a few overdue loans (past disbursement dates and a close
of business; the smallest one's arrears then paid, so collections show a success), and the
process models of ``bpmn/`` deployed.

Order matters. The applications of ``APPLICATIONS`` are moved along their status path
directly, before the models are deployed: the credit SOP starts an application only while it
is still ``submitted`` (services/process/events.py START_GUARDS), so it starts none of them.
Then the models are deployed and the applications of ``SOP_APPLICATIONS`` are submitted by
the branch officer and driven through the SOP as the demo staff would drive them (the field
survey, then each approval) until each waits where a demo login finds it: a survey in the
officer's field list, an initial review for the supervisor, a president's and a risk
director's approval. Those steps wait for events between services; every wait is bounded and
a step that does not come in time is logged, never waited for forever.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import struct
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from granary.v1 import (
    credit_pb2,
    credit_pb2_grpc,
    customer_pb2,
    customer_pb2_grpc,
    fieldtask_pb2,
    fieldtask_pb2_grpc,
    process_pb2,
    process_pb2_grpc,
)
from stdnum.cn import ric

from services.common.grpc_client import ServiceChannels, call
from services.common.grpc_errors import RemoteError
from services.common.identity import Caller, ServiceIdentity, TokenSigner, acting_as
from services.common.settings import Settings

log = logging.getLogger(__name__)

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
    ("officer2", "钱信贷员", ["officer"], "CG"),
    ("president.hx", "孙行长", ["president"], "HX"),
    ("supervisor.hx", "郑主管", ["supervisor"], "HX"),
    ("president.qt", "冯行长", ["president"], "QT"),
    ("supervisor.qt", "褚主管", ["supervisor"], "QT"),
    ("officer.qt", "卫信贷员", ["officer"], "QT"),
    ("committee2", "蒋委员", ["committee_member"], "HQ"),
    ("committee3", "沈委员", ["committee_member"], "HQ"),
]

PEOPLE = [
    ("王建国", "330726", "19720315", "101", "13805710001"),
    ("李秀英", "330726", "19800822", "202", "13905710002"),
    ("张卫东", "330726", "19650109", "313", "13705710003"),
]

HOUSEHOLDS = 200
# Seeding calls run concurrently, at most this many at once (SQLite services stay responsive).
CONCURRENCY = 16
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["建国", "秀英", "卫东", "桂兰", "志强", "玉梅", "国华", "春燕", "德明", "丽娟", "海峰", "红霞", "永刚", "淑珍"]
VILLAGES = ["330726101201", "330726101202", "330726102203", "330726103204", "330726104205"]
INCOMES = ["种植", "养殖", "务工", "个体经营", "农家乐"]
# (code, name, repayment method, frequency, max amount, max term)
PRODUCTS = [
    ("NH_JYD", "农户经营贷（等额本息）", 1, "MONTHLY", "3000000", 36),
    ("NH_ZZD", "种植贷（等额本金）", 2, "QUARTERLY", "500000", 24),
    ("NH_YZD", "养殖贷（先息后本）", 3, "MONTHLY", "800000", 24),
    ("NH_XFD", "小额信用贷（利随本清）", 4, "ANNUAL", "50000", 12),
]
CONTRACT_TEMPLATE = (
    "借款合同 {{ contract_no }}\n借款人 {{ party_id }}，借款金额 {{ amount }} 元，期限 {{ term_months }} 个月，"
    "年利率 {{ annual_rate }}，还款方式 {{ repayment_method }}，担保方式 {{ guarantee_method }}。\n"
    "{% for i in installments %}第{{ i.number }}期 {{ i.due_date }} 应还 {{ i.total }} 元\n{% endfor %}"
)
# Applications of every status but the SOP's own (see SOP_APPLICATIONS), moved along their
# status path directly: (status, amount, product index, disbursed days ago for loans).
APPLICATIONS = [
    ("draft", "20000", 3, 0),
    ("in_review", "80000", 0, 0),
    ("approved", "45000", 1, 0),
    ("rejected", "60000", 0, 0),
    ("returned", "120000", 2, 0),
    ("withdrawn", "15000", 3, 0),
    ("contracted", "90000", 0, 0),
    ("disbursed", "50000", 0, 10),
    ("disbursed", "150000", 1, 40),
    ("disbursed", "200000", 0, 100),  # overdue after close of business
    ("disbursed", "40000", 2, 130),  # overdue
    ("disbursed", "30000", 3, 400),  # overdue: a bullet loan past maturity
]
# The status path each seeded status is reached by.
PATHS = {
    "draft": [],
    "in_review": ["start_review"],
    "approved": ["start_review", "approve"],
    "rejected": ["start_review", "reject"],
    "returned": ["start_review", "return"],
    "withdrawn": ["withdraw"],
    "contracted": ["start_review", "approve", "contract"],
    "disbursed": ["start_review", "approve", "contract", "disburse"],
}
BPMN_DIR = Path(__file__).resolve().parent.parent / "bpmn"

# Applications running in the credit SOP, each driven to the node it then waits at:
# (node, amount, product index, household number). The amounts pick the approval tier of
# bpmn/approval_tiers.dmn (below 50,000 the supervisor's, up to 500,000 the president's, up to
# 1,000,000 the risk director's); the households are 城关 (CG) customers of `officer` with no
# other application, so their exposure is the amount alone.
SOP_APPLICATIONS = [
    ("pre_loan_survey", "30000", 3, 150),  # officer: a field visit to make
    ("initial_review", "45000", 0, 153),  # supervisor: 初审
    ("president_approval", "80000", 0, 156),  # president: 行长审批
    ("risk_approval", "600000", 0, 159),  # risk: 风控总监审批
]
SOP_PATH = [node for node, *_ in SOP_APPLICATIONS]
# Who decides each approval on the way, and what they write.
APPROVERS = {
    "initial_review": ("supervisor", "调查属实，经营稳定，同意上报"),
    "president_approval": ("president", "还款来源充足，同意上报风控"),
}
# How long the SOP may take, all applications together, before seeding goes on without them.
SOP_WAIT_SECONDS = 90.0
SOP_POLL_SECONDS = 0.2
SURVEY_FORM: dict[str, Any] = {
    "family": {"members": 4, "labourers": 2, "dependants": 2},
    "operations": {"business": "大棚蔬菜种植", "years": 6, "scale": "大棚12亩"},
    "income": {"annual_income": "86000.00", "annual_expenses": "41000.00"},
    "assets_verified": {"verified": True, "items": [{"kind": "大棚", "value": "120000"}]},
    "remarks": "演示数据：实地走访，经营正常",
}
# Where the demo officer checks in: the county seat of 330726.
VISIT = fieldtask_pb2.GeoPoint(
    latitude=29.4518, longitude=119.8924, coordinate_system=fieldtask_pb2.COORDINATE_SYSTEM_WGS84, accuracy_m=8
)


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


def household_person(n: int) -> tuple[str, str, str]:
    """The n-th demo household head: (name, resident ID, mobile), the same on every run."""
    name = SURNAMES[n % len(SURNAMES)] + GIVEN[(n // len(SURNAMES)) % len(GIVEN)]
    # 330726 is a valid birth place (stdnum's region history) for people born from 1989 on.
    birth = date(1989, 1, 1) + timedelta(days=29 * n)
    sequence = f"{500 + n % 400:03d}"
    return name, _resident_id("330726", f"{birth:%Y%m%d}", sequence), f"1370571{n:04d}"


async def _bounded(calls: list[Callable[[], Awaitable[Any]]], limit: int = CONCURRENCY) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def run(make: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await make()

    return await asyncio.gather(*(run(make) for make in calls))


async def _ignore_exists(awaitable: Awaitable[Any]) -> Any:
    try:
        return await awaitable
    except RemoteError as exc:
        if exc.status == "ALREADY_EXISTS":
            return None
        raise


async def seed_demo_data(settings: Settings) -> list[tuple[str, str]]:
    signer = TokenSigner(settings.platform.require_jwt_secret())
    system = ServiceIdentity(signer, "demo")
    channels = ServiceChannels(default_timeout=30, fallback_caller=system)
    stub = channels.stub(settings.service("customer").address, customer_pb2_grpc.CustomerServiceStub)
    credit = channels.stub(settings.service("credit").address, credit_pb2_grpc.CreditServiceStub)
    process = channels.stub(settings.service("process").address, process_pb2_grpc.ProcessServiceStub)
    fieldtask = channels.stub(settings.service("fieldtask").address, fieldtask_pb2_grpc.FieldTaskServiceStub)

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
            party_ids = await _seed_households(stub, branch_ids, staff_ids)
            products = await _seed_credit(credit, party_ids, branch_ids["CG"], staff_ids["officer"])
            # Only now: the applications above were never `submitted` once a model could start them.
            await _deploy_models(process)
            staff = await _staff_callers(stub, signer, ["officer", "supervisor", "president"])
            if staff is not None:
                sop = _Sop(credit=credit, fieldtask=fieldtask, process=process, staff=staff)
                await sop.seed(party_ids, products)
    finally:
        await channels.close()
    return [(username, ", ".join(roles)) for username, _, roles, _ in STAFF]


async def _seed_households(stub: Any, branch_ids: dict[str, str], staff_ids: dict[str, str]) -> list[str]:
    branches = [("CG", "officer"), ("HX", "officer.hx"), ("QT", "officer.qt")]

    async def one(n: int) -> str:
        name, id_number, mobile = household_person(n)
        branch, officer = branches[n % len(branches)]
        party_id = await _existing_or_new(
            stub.CreateParty,
            customer_pb2.CreatePartyRequest(
                kind=customer_pb2.PARTY_KIND_PERSON,
                name=name,
                id_number=id_number,
                mobile=mobile,
                branch_id=branch_ids[branch],
                managing_officer_id=staff_ids[officer],
                occupation=INCOMES[n % len(INCOMES)],
            ),
            "party_id",
            lambda r: r.party.id,
        )
        await _ignore_exists(
            call(
                stub.CreateHousehold,
                customer_pb2.CreateHouseholdRequest(
                    head_party_id=party_id,
                    village_code=VILLAGES[n % len(VILLAGES)],
                    land_mu=str(3 + n % 12),
                    labour_count=1 + n % 3,
                    main_income=INCOMES[n % len(INCOMES)],
                    annual_income=f"{40000 + (n * 1373) % 90000}.00",
                    rating="ABC"[n % 3],
                ),
            )
        )
        return party_id

    return list(await _bounded([functools.partial(one, n) for n in range(HOUSEHOLDS)]))


async def _seed_credit(credit: Any, party_ids: list[str], branch_id: str, officer_id: str) -> list[Any]:
    existing = {p.code: p for p in (await call(credit.ListProducts, credit_pb2.ListProductsRequest())).products}
    products = []
    for code, name, method, frequency, max_amount, max_term in PRODUCTS:
        if code not in existing:
            existing[code] = (
                await call(
                    credit.CreateProduct,
                    credit_pb2.CreateProductRequest(
                        code=code,
                        name=name,
                        purpose="农户生产经营",
                        min_amount="1000",
                        max_amount=max_amount,
                        min_term_months=3,
                        max_term_months=max_term,
                        annual_rate="0.0650",
                        repayment_method=method,  # type: ignore[arg-type]
                        frequency=frequency,
                        penalty_markup="0.5",
                        guarantee_types=["信用", "保证", "抵押"],
                    ),
                )
            ).product
            if code == PRODUCTS[0][0]:
                # Templates are versioned too: created together with the first product, once.
                await call(
                    credit.CreateContractTemplate,
                    credit_pb2.CreateContractTemplateRequest(code="LOAN_STANDARD", body=CONTRACT_TEMPLATE),
                )
        products.append(existing[code])
    today = date.fromisoformat((await call(credit.GetBusinessDate, credit_pb2.GetBusinessDateRequest())).business_date)

    async def one(index: int) -> None:
        status, amount, product_index, days_ago = APPLICATIONS[index]
        product = products[product_index]
        app = (
            await call(
                credit.SubmitApplication,
                credit_pb2.SubmitApplicationRequest(
                    party_id=party_ids[index * 3],
                    product_id=product.id,
                    amount=amount,
                    term_months=12,
                    purpose="扩大生产",
                    guarantee_method="信用",
                    idempotency_key=f"demo-application-{index}",
                    draft=status == "draft",
                    branch_id=branch_id,
                    managing_officer_id=officer_id,
                ),
            )
        ).application
        done = _steps_done(app.status)
        for step in PATHS[status][done:]:
            if step == "contract":
                contract = (
                    await call(
                        credit.GenerateContract,
                        credit_pb2.GenerateContractRequest(application_id=app.id, template_code="LOAN_STANDARD"),
                    )
                ).contract
                await call(
                    credit.SignContract,
                    credit_pb2.SignContractRequest(
                        contract_id=contract.id,
                        method="manual",
                        evidence_ref=f"demo-scan-{index}",
                        content_hash=contract.content_hash,
                    ),
                )
            elif step == "disburse":
                await call(
                    credit.DisburseLoan,
                    credit_pb2.DisburseLoanRequest(
                        application_id=app.id,
                        disbursed_on=(today - timedelta(days=days_ago)).isoformat(),
                        external_ref=f"DEMO-TRANSFER-{index}",
                    ),
                )
            else:
                await call(
                    credit.TransitionApplication,
                    credit_pb2.TransitionApplicationRequest(
                        application_id=app.id, action=step, node="demo", comment="演示数据"
                    ),
                )

    await _bounded([functools.partial(one, i) for i in range(len(APPLICATIONS))])
    # Close of business on the current business date: loans disbursed months ago fall overdue.
    await call(credit.RunCloseOfBusiness, credit_pb2.RunCloseOfBusinessRequest())
    await _collect_one_overdue_loan(credit, today)
    return products


async def _collect_one_overdue_loan(credit: Any, today: date) -> None:
    """The borrower of the smallest overdue loan pays its arrears: collections show a success.

    Idempotent: the posting has a fixed reference, and once the loan is current nothing is due.
    """
    # Chosen among the loans seeded to fall overdue (disbursed months ago), whatever they owe now,
    # so that a rerun looks at the same loan and finds nothing due.
    months_ago = (today - timedelta(days=60)).isoformat()
    loans = (await call(credit.ListLoans, credit_pb2.ListLoansRequest(page_size=200))).loans
    seeded_overdue = [loan for loan in loans if loan.disbursed_on and loan.disbursed_on <= months_ago]
    if not seeded_overdue:
        return
    loan = min(seeded_overdue, key=lambda loan: (Decimal(loan.principal), loan.id))
    if Decimal(loan.overdue_amount or "0") <= 0:
        return
    await call(
        credit.PostRepayment,
        credit_pb2.PostRepaymentRequest(loan_id=loan.id, amount=loan.overdue_amount, external_ref="DEMO-COLLECTED-1"),
    )


def _steps_done(status: str) -> int:
    """How far along PATHS an application already is (a rerun continues from there)."""
    order = {"draft": 0, "submitted": 0, "in_review": 1, "approved": 2, "contracted": 3, "disbursed": 4}
    if status in ("rejected", "returned", "withdrawn"):
        return 99
    return order.get(status, 0)


async def _deploy_models(process: Any) -> None:
    files = [
        process_pb2.ModelFile(name=path.name, content=path.read_bytes())
        for path in sorted(BPMN_DIR.iterdir())
        if path.suffix in (".bpmn", ".dmn")
    ]
    dmn = [f for f in files if f.name.endswith(".dmn")]
    for model in (f for f in files if f.name.endswith(".bpmn")):
        needs = [d for d in dmn if model.name == "credit_sop.bpmn"]
        # Identical content is not stored twice: a rerun finds the deployed version.
        await call(process.DeployProcessModel, process_pb2.DeployProcessModelRequest(files=[model, *needs]))


# ----------------------------------------------------------------- applications in the SOP


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A small solid-colour PNG: the demo's site photo and the applicant's signature pad image."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = (b"\x00" + bytes(rgb) * width) * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _now() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


async def _staff_callers(stub: Any, signer: TokenSigner, usernames: list[str]) -> dict[str, Caller] | None:
    """The demo staff logged in as the gateway logs a user in (their password, a signed token)."""
    callers: dict[str, Caller] = {}
    for username in usernames:
        try:
            reply = await call(
                stub.AuthenticateStaff,
                customer_pb2.AuthenticateStaffRequest(username=username, password=DEMO_PASSWORD),
            )
        except RemoteError as exc:
            if exc.status != "UNAUTHENTICATED":
                raise
            log.warning(
                "demo: %s cannot log in with the demo password; no application is driven through the SOP", username
            )
            return None
        staff = reply.staff
        token = signer.issue(
            user_id=staff.id, username=staff.username, roles=list(staff.roles), branch_id=staff.branch_id
        )
        callers[username] = signer.verify(token)
    return callers


# Answers after which the next look may find the application moved on; any other is a fault.
_LOOK_AGAIN = frozenset({"FAILED_PRECONDITION", "ABORTED", "UNAVAILABLE", "DEADLINE_EXCEEDED"})


@dataclass
class _Step:
    """One look at an application: where it should be, one action taken, waiting for something, or off the path."""

    done: bool = False
    acted: bool = False
    waiting_for: str = ""
    stuck: str = ""


@dataclass
class _Sop:
    """Drives the applications of SOP_APPLICATIONS through the credit SOP, as the demo staff would."""

    credit: Any
    fieldtask: Any
    process: Any
    staff: dict[str, Caller]

    async def seed(self, party_ids: list[str], products: list[Any]) -> None:
        began = time.monotonic()
        deadline = began + SOP_WAIT_SECONDS
        reached = await asyncio.gather(*(self._one(spec, party_ids, products, deadline) for spec in SOP_APPLICATIONS))
        log.info(
            "demo: %d of %d applications wait in the credit SOP (%.1f s)",
            sum(reached),
            len(SOP_APPLICATIONS),
            time.monotonic() - began,
        )

    async def _one(
        self, spec: tuple[str, str, int, int], party_ids: list[str], products: list[Any], deadline: float
    ) -> bool:
        node, amount, product_index, household = spec
        submitted = await call(
            self.credit.SubmitApplication,
            credit_pb2.SubmitApplicationRequest(
                party_id=party_ids[household],
                product_id=products[product_index].id,
                amount=amount,
                term_months=12,
                purpose="扩大生产",
                guarantee_method="信用",
                # A rerun finds the application of the first run and goes on from where it is.
                idempotency_key=f"demo-sop-{node}",
            ),
            caller=self.staff["officer"],
        )
        app = submitted.application
        last = _Step()
        while True:
            try:
                last = await self._step(app.id, node)
            except RemoteError as exc:
                if exc.status not in _LOOK_AGAIN:
                    raise
                # A step raced the engine (the task moved on meanwhile) or a service was busy: look again.
                last = _Step(waiting_for=f"a retry after {exc.status}: {exc}")
            if last.done:
                return True
            if last.stuck:
                if submitted.replayed:
                    # From an earlier run: demo users may have decided it since; that is theirs to do.
                    log.info("demo: application %s (for %s) has moved on: %s; left as it is", app.id, node, last.stuck)
                else:
                    log.warning("demo: application %s did not reach %s: %s", app.id, node, last.stuck)
                return False
            if last.acted:
                continue
            if time.monotonic() > deadline:
                log.warning(
                    "demo: application %s did not reach %s within %.0f s (still waiting for %s); "
                    "`granary up` goes on without it, the SOP may still move it later",
                    app.id,
                    node,
                    SOP_WAIT_SECONDS,
                    last.waiting_for,
                )
                return False
            await asyncio.sleep(SOP_POLL_SECONDS)

    async def _step(self, app_id: str, target: str) -> _Step:
        """One look at the application's process and survey, and the one action that moves it on."""
        instance = await self._instance(app_id)
        if instance is None:
            return _Step(waiting_for="the credit SOP to start it (credit.application.submitted)")
        if instance.status in ("completed", "cancelled"):
            return _Step(stuck=f"its credit SOP instance {instance.id} is {instance.status}")
        open_tasks = {t.node_id: t for t in instance.open_tasks if t.status == "open"}
        if target in open_tasks:
            return _Step(done=True)
        for node, task in open_tasks.items():
            if node in APPROVERS and SOP_PATH.index(node) < SOP_PATH.index(target):
                who, comment = APPROVERS[node]
                await call(
                    self.process.CompleteTask,
                    process_pb2.CompleteTaskRequest(task_id=task.id, decision="approve", comment=comment),
                    caller=self.staff[who],
                )
                return _Step(acted=True)
        if open_tasks:
            return _Step(stuck=f"it waits at {', '.join(sorted(open_tasks))}, not on the way to {target}")
        if instance.status != "running":
            return _Step(waiting_for=f"its instance, now {instance.status}")
        officer = self.staff["officer"]
        surveys = [
            t
            for t in (
                await call(
                    self.fieldtask.ListFieldTasks,
                    fieldtask_pb2.ListFieldTasksRequest(business_key=app_id),
                    caller=officer,
                )
            ).tasks
            if t.task_type == fieldtask_pb2.FIELD_TASK_TYPE_PRE_LOAN_SURVEY
        ]
        if not surveys:
            return _Step(waiting_for="the pre-loan survey to be dispatched")
        if target == SOP_PATH[0]:
            return _Step(done=True)
        return await self._survey(surveys[0])

    async def _instance(self, app_id: str) -> Any:
        found = (
            await call(
                self.process.ListProcessInstances,
                process_pb2.ListProcessInstancesRequest(process_key="credit_sop", business_key=app_id),
            )
        ).instances
        if not found:
            return None
        return (
            await call(self.process.GetProcessInstance, process_pb2.GetProcessInstanceRequest(instance_id=found[0].id))
        ).instance

    async def _survey(self, task: Any) -> _Step:
        """The officer's visit as the field app makes it, then the supervisor's acceptance."""
        officer, supervisor = self.staff["officer"], self.staff["supervisor"]
        status = task.status
        if status == fieldtask_pb2.FIELD_TASK_STATUS_ASSIGNED:
            await call(
                self.fieldtask.AcceptFieldTask, fieldtask_pb2.AcceptFieldTaskRequest(task_id=task.id), caller=officer
            )
        elif status == fieldtask_pb2.FIELD_TASK_STATUS_ACCEPTED:
            await call(
                self.fieldtask.RecordCheckIn,
                fieldtask_pb2.RecordCheckInRequest(
                    task_id=task.id, position=VISIT, device_id="demo-phone", client_time=_now()
                ),
                caller=officer,
            )
        elif status == fieldtask_pb2.FIELD_TASK_STATUS_CHECKED_IN:
            await self._visit(task.id, officer)
        elif status == fieldtask_pb2.FIELD_TASK_STATUS_SUBMITTED:
            await call(
                self.fieldtask.CompleteFieldTask,
                fieldtask_pb2.CompleteFieldTaskRequest(task_id=task.id, comment="调查报告核实无误"),
                caller=supervisor,
            )
        elif status == fieldtask_pb2.FIELD_TASK_STATUS_DONE:
            return _Step(waiting_for="the SOP to take up the completed survey (fieldtask.task.completed)")
        else:
            name = fieldtask_pb2.FieldTaskStatus.Name(status)
            return _Step(stuck=f"its pre-loan survey {task.id} is {name}")
        return _Step(acted=True)

    async def _visit(self, task_id: str, officer: Caller) -> None:
        """On site: a photo, the survey form, the applicant's signature over it, then submit."""
        detail = await call(
            self.fieldtask.GetFieldTask, fieldtask_pb2.GetFieldTaskRequest(task_id=task_id), caller=officer
        )
        if not any(e.kind == "photo" for e in detail.evidence):

            async def upload() -> AsyncIterator[fieldtask_pb2.UploadEvidenceRequest]:
                header = fieldtask_pb2.EvidenceHeader(
                    task_id=task_id,
                    kind="photo",
                    file_name="大棚.png",
                    captured_at=_now(),
                    position=VISIT,
                    device_id="demo-phone",
                )
                yield fieldtask_pb2.UploadEvidenceRequest(header=header)
                yield fieldtask_pb2.UploadEvidenceRequest(chunk=_png(64, 48, (86, 140, 60)))

            await call(self.fieldtask.UploadEvidence, upload(), caller=officer)
        if not detail.signatures:
            saved = await call(
                self.fieldtask.SaveFieldTaskForm,
                fieldtask_pb2.SaveFieldTaskFormRequest(
                    task_id=task_id, form_json=json.dumps(SURVEY_FORM, ensure_ascii=False)
                ),
                caller=officer,
            )
            await call(
                self.fieldtask.CaptureSignature,
                fieldtask_pb2.CaptureSignatureRequest(
                    task_id=task_id,
                    signer_name="申请人",
                    image=_png(32, 16, (20, 20, 20)),
                    position=VISIT,
                    signed_at=_now(),
                    content_hash=saved.content_hash,
                ),
                caller=officer,
            )
        await call(
            self.fieldtask.SubmitFieldTask, fieldtask_pb2.SubmitFieldTaskRequest(task_id=task_id), caller=officer
        )
