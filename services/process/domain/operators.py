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
            "An in-app notice to one member of staff (their inbox in the app); one per task, however often retried.",
        ),
        # ---- operators of the credit SOP and the other business models (bpmn/)
        OperatorSpec(
            "credit.get_application",
            {"application_id": Param("str")},
            "Reads an application with its amount, party, product and opinions (credit.GetApplication).",
        ),
        OperatorSpec(
            "credit.get_product",
            {"product_id": Param("str")},
            "Reads a product version: repayment method, frequency, terms (credit.GetProduct).",
        ),
        OperatorSpec(
            "credit.transition_application",
            {
                "application_id": Param("str"),
                "action": Param("str", description="submit, start_review, approve, reject, return, withdraw"),
                "node": Param("str", required=False, description="the approval node the opinion belongs to"),
                "comment": Param("str", required=False, description="required by reject and return"),
            },
            "Moves an application along its status machine (credit.TransitionApplication).",
        ),
        OperatorSpec(
            "credit.add_opinion",
            {
                "application_id": Param("str"),
                "node": Param("str"),
                "decision": Param("str", description="approve, reject, return, comment"),
                "comment": Param("str", required=False),
            },
            "Appends an approval opinion to an application (credit.AddApprovalOpinion).",
        ),
        OperatorSpec(
            "credit.generate_contract",
            {"application_id": Param("str"), "template_code": Param("str")},
            "Renders the contract of an approved application (credit.GenerateContract).",
        ),
        OperatorSpec(
            "credit.sign_contract",
            {
                "contract_id": Param("str"),
                "content_hash": Param("str", description="the generated contract's SHA-256"),
                "evidence_ref": Param("str", description="scanned signed copy or e-signature transaction id"),
                "method": Param("str", required=False, description="manual (default) or electronic"),
            },
            "Records the signature of a generated contract (credit.SignContract).",
        ),
        OperatorSpec(
            "credit.disburse_loan",
            {
                "application_id": Param("str"),
                "external_ref": Param("str", description="transfer reference; a repeat returns the same loan"),
                "disbursed_on": Param("str", required=False),
            },
            "Creates the loan of a contracted application (credit.DisburseLoan).",
        ),
        OperatorSpec(
            "credit.get_loan",
            {"loan_id": Param("str")},
            "Reads a loan with its DPD, bucket and overdue amount (credit.GetLoan).",
        ),
        OperatorSpec(
            "credit.create_credit_line",
            {
                "party_id": Param("str"),
                "limit": Param("decimal"),
                "valid_until": Param("str", description="ISO date"),
                "household_id": Param("str", required=False),
                "valid_from": Param("str", required=False),
                "revolving": Param("bool", required=False),
                "branch_id": Param("str", required=False),
            },
            "Grants a credit line (credit.CreateCreditLine).",
        ),
        OperatorSpec(
            "customer.get_credit_summary",
            {"party_id": Param("str")},
            "The latest credit-bureau report summary and risk tier of a customer (customer.GetPartyView).",
        ),
        OperatorSpec(
            "customer.apply_party_change",
            {
                "change_id": Param("str"),
                "approved": Param("bool"),
                "comment": Param("str", required=False),
            },
            "Applies or rejects a requested key-data change (customer.ApplyPartyChange).",
        ),
        OperatorSpec(
            "fieldtask.create_case_task",
            {
                "task_type": Param("str", description="pre_loan_survey, post_loan_check, overdue_follow_up, visit"),
                "party_id": Param("str"),
                "business_key": Param("str", description="the case the completion message correlates on"),
                "assignee_id": Param("str", required=False),
                "branch_id": Param("str", required=False),
                "title": Param("str", required=False),
                "priority": Param("int", required=False),
                "due_in_hours": Param("int", required=False),
            },
            "Pushes a field task tied to a business key; its completion comes back as a message.",
        ),
    ]
}

# Parameters every operator takes besides its own. ``on_behalf_of`` names the user whose
# decision the call records (e.g. one ballot of a countersign); the engine accepts only a user
# who decided a task of the same instance and passes the role they decided in. Without it a
# call made right after a decision acts for that decision's user, any other call for nobody.
ON_BEHALF_OF_PARAM = "on_behalf_of"
COMMON_PARAMS: dict[str, Param] = {
    ON_BEHALF_OF_PARAM: Param(
        "str", required=False, description="user whose decision the call records; must have decided in this instance"
    ),
}

KNOWN_TYPES = frozenset({"str", "int", "decimal", "bool", "datetime", "dict", "list"})
