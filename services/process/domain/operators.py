"""The service-task operators a model may name, with their typed parameters.

A model's ``spiffworkflow:serviceTaskOperator id="credit.get_exposure"`` is checked against
this catalogue at deploy time: the operator must exist, every required parameter must be
given with its declared type, and no unknown parameter may appear. The calls themselves
(one gRPC call with a deadline each) live in ``services/process/operators.py``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Param:
    type: str  # "str", "int", "decimal", "bool", "datetime", "dict"
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class OperatorSpec:
    name: str
    params: dict[str, Param]
    description: str = ""


CATALOGUE: dict[str, OperatorSpec] = {
    spec.name: spec
    for spec in [
        OperatorSpec(
            "credit.get_exposure",
            {
                "party_id": Param("str", description="customer whose exposure is summed"),
                "household_id": Param("str", required=False),
                "additional_amount": Param("decimal", required=False, description="the amount applied for"),
            },
            "Outstanding balances and line limits of a customer (credit.GetPartyExposure).",
        ),
        OperatorSpec(
            "fieldtask.create_task",
            {
                "task_type": Param("str", description="survey, post_loan_check, overdue_follow_up, visit"),
                "party_id": Param("str"),
                "assignee_id": Param("str", required=False),
                "branch_id": Param("str", required=False),
                "priority": Param("int", required=False),
                "due_in_hours": Param("int", required=False),
            },
            "Pushes a field task to an officer (fieldtask.CreateFieldTask); origin = this instance.",
        ),
        OperatorSpec(
            "customer.get_party",
            {"party_id": Param("str")},
            "Reads a customer's non-sensitive fields (customer.GetParty).",
        ),
        OperatorSpec(
            "notification.notify",
            {
                "recipient_id": Param("str"),
                "title": Param("str"),
                "body": Param("str", required=False),
            },
            "Publishes a process.task.reminded-style notice (via the outbox, no call).",
        ),
    ]
}

KNOWN_TYPES = frozenset({"str", "int", "decimal", "bool", "datetime", "dict", "list"})
