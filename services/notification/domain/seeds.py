"""The templates and rules every installation starts with (a manager edits them later).

A migration writes them once with stable ids; editing a seeded rule creates a new version of
the row, never a second rule.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from services.notification.domain.rules import Action
from services.notification.domain.templates import TemplateSpec

_NAMESPACE = uuid.UUID("8f0b7a52-3a52-4c4b-9a7e-6d0e5b1c2a10")
SIGN_NAME = "农信社"


def seed_id(key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, key))


TEMPLATES: list[TemplateSpec] = [
    TemplateSpec(
        "loan.overdue.customer", "sms", "transactional", "贷款逾期提醒",
        "尊敬的{customer_name}，您的贷款已逾期{dpd}天，逾期金额{overdue_amount}元，请尽快还款。如已还款请忽略。",
        "SMS_LOAN_OVERDUE", SIGN_NAME,
    ),
    TemplateSpec(
        "loan.due_soon.customer", "sms", "transactional", "还款提醒",
        "尊敬的{customer_name}，您的贷款第{installment_number}期将于{due_date}到期，应还{amount_due}元，请按时还款。",
        "SMS_LOAN_DUE_SOON", SIGN_NAME,
    ),
    TemplateSpec(
        "application.approved.customer", "sms", "transactional", "贷款审批通过",
        "尊敬的{customer_name}，您申请的{amount}元贷款已审批通过，客户经理将与您联系签约。",
        "SMS_APPLICATION_APPROVED", SIGN_NAME,
    ),
    TemplateSpec(
        "application.rejected.customer", "sms", "transactional", "贷款审批结果",
        "尊敬的{customer_name}，很遗憾，您申请的{amount}元贷款未获批准，详情请咨询您的客户经理。",
        "SMS_APPLICATION_REJECTED", SIGN_NAME,
    ),
    TemplateSpec(
        "process.task.created.staff", "in_app", "transactional", "新的待办任务",
        "您有新的待办任务「{title}」，请及时处理。",
    ),
    TemplateSpec(
        "process.task.reminded.staff", "in_app", "transactional", "待办任务即将超时",
        "待办任务「{title}」即将超时，请尽快处理。",
    ),
    TemplateSpec(
        "process.task.reminded.sms", "sms", "transactional", "待办任务催办",
        "{staff_name}您好，待办任务「{title}」即将超时，请尽快处理。",
        "SMS_TASK_REMINDED", SIGN_NAME,
    ),
    TemplateSpec(
        "process.task.escalated.staff", "in_app", "transactional", "待办任务已升级",
        "待办任务「{title}」已超时并升级给您，请尽快处理。",
    ),
    TemplateSpec(
        "process.task.escalated.sms", "sms", "transactional", "待办任务升级",
        "{staff_name}您好，待办任务「{title}」已超时并升级给您，请尽快处理。",
        "SMS_TASK_ESCALATED", SIGN_NAME,
    ),
    TemplateSpec(
        "reminder.birthday.customer", "sms", "marketing", "生日祝福",
        "尊敬的{customer_name}，祝您生日快乐！感谢您一直以来的信任与支持。回TD退订",
        "SMS_BIRTHDAY", SIGN_NAME,
    ),
    TemplateSpec(
        "reminder.lead_follow_up.staff", "in_app", "transactional", "线索跟进提醒",
        "线索「{name}」今天需要跟进，请及时联系。",
    ),
    TemplateSpec(
        "reminder.post_loan_check.staff", "in_app", "transactional", "贷后检查到期",
        "贷款{subject_id}的贷后检查已到期，已为您生成外勤任务。",
    ),
]


@dataclass(frozen=True)
class SeedRule:
    key: str
    name: str
    event_type: str
    condition: str
    actions: list[Action]


RULES: list[SeedRule] = [
    SeedRule(
        "loan-overdue", "贷款逾期超过3天：短信提醒借款人并派发逾期跟进任务", "credit.loan.overdue", "dpd > 3",
        [
            Action(kind="sms", template_code="loan.overdue.customer", recipient="customer"),
            Action(kind="field_task", task_type="OVERDUE_FOLLOW_UP", priority=1, due_in_hours=48),
        ],
    ),
    SeedRule(
        "loan-due-soon", "贷款即将到期：短信提醒借款人", "credit.loan.due_soon", "",
        [Action(kind="sms", template_code="loan.due_soon.customer", recipient="customer")],
    ),
    SeedRule(
        "application-approved", "贷款审批通过：短信通知申请人", "credit.application.approved", "",
        [Action(kind="sms", template_code="application.approved.customer", recipient="customer")],
    ),
    SeedRule(
        "application-rejected", "贷款审批未通过：短信通知申请人", "credit.application.rejected", "",
        [Action(kind="sms", template_code="application.rejected.customer", recipient="customer")],
    ),
    SeedRule(
        "process-task-created", "新的审批任务：站内通知候选人", "process.task.created", "",
        [Action(kind="in_app", template_code="process.task.created.staff", recipient="role", role="@candidate_role")],
    ),
    SeedRule(
        "process-task-reminded", "审批任务催办：站内信和短信通知处理人", "process.task.reminded", 'assignee_id != ""',
        [
            Action(kind="in_app", template_code="process.task.reminded.staff", recipient="user"),
            Action(kind="sms", template_code="process.task.reminded.sms", recipient="staff",
                   recipient_field="assignee_id"),
        ],
    ),
    SeedRule(
        "process-task-reminded-candidates", "未认领的审批任务催办：站内信和短信通知候选人", "process.task.reminded",
        'assignee_id == ""',
        [
            Action(kind="in_app", template_code="process.task.reminded.staff", recipient="role",
                   role="@candidate_role"),
            Action(kind="sms", template_code="process.task.reminded.sms", recipient="role", role="@candidate_role"),
        ],
    ),
    SeedRule(
        "process-task-escalated", "审批任务升级：站内信和短信通知上级", "process.task.escalated",
        'assignee_id != ""',
        [
            Action(kind="in_app", template_code="process.task.escalated.staff", recipient="user"),
            Action(kind="sms", template_code="process.task.escalated.sms", recipient="staff",
                   recipient_field="assignee_id"),
        ],
    ),
    # An escalated task usually lands unassigned in the escalation lane: its candidates are
    # the staff concerned, each told in the app and by SMS.
    SeedRule(
        "process-task-escalated-candidates", "未认领的升级任务：站内信和短信通知候选人", "process.task.escalated",
        'assignee_id == ""',
        [
            Action(kind="in_app", template_code="process.task.escalated.staff", recipient="role",
                   role="@candidate_role"),
            Action(kind="sms", template_code="process.task.escalated.sms", recipient="role",
                   role="@candidate_role"),
        ],
    ),
    SeedRule(
        "reminder-birthday", "客户生日（已同意）：短信祝福", "notification.reminder.due", 'kind == "birthday"',
        [Action(kind="sms", template_code="reminder.birthday.customer", recipient="customer")],
    ),
    SeedRule(
        "reminder-lead-follow-up", "线索跟进日：站内提醒客户经理", "notification.reminder.due",
        'kind == "lead_follow_up"',
        [Action(kind="in_app", template_code="reminder.lead_follow_up.staff", recipient="user",
                recipient_field="staff_id")],
    ),
    SeedRule(
        "reminder-post-loan-check", "贷后检查到期：派发贷后检查任务", "notification.reminder.due",
        'kind == "post_loan_check"',
        [
            Action(kind="field_task", task_type="POST_LOAN_CHECK", priority=3, due_in_hours=72,
                   recipient_field="staff_id"),
            Action(kind="in_app", template_code="reminder.post_loan_check.staff", recipient="user",
                   recipient_field="staff_id"),
        ],
    ),
]
