"""Access policies: create, change and delete, each audited with what changed.

Kept apart from the views so they stay thin; the service owns the transaction.
"""
from typing import Any

from sqlalchemy import func

from portal.extensions import db
from portal.models import AccessPolicy, Employee
from portal.security.audit import record_event

FIELDS = ("name", "description", "methods", "mfa_required")


class PolicyRuleError(ValueError):
    """A change the rules refuse; `field` names the form field it belongs to (None: the whole form)."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def all_policies() -> list[AccessPolicy]:
    return list(db.session.scalars(db.select(AccessPolicy).order_by(AccessPolicy.name_key)))


def member_counts() -> dict[int, int]:
    """Employees per policy id, in one query over the employee.access_policy_id index."""
    rows = db.session.execute(db.select(Employee.access_policy_id, func.count(Employee.id))
                              .where(Employee.access_policy_id.is_not(None))
                              .group_by(Employee.access_policy_id))
    return dict(rows.all())


def name_taken(name: str, except_id: int | None = None) -> bool:
    query = db.select(AccessPolicy.id).where(AccessPolicy.name_key == name.strip().lower())
    if except_id is not None:
        query = query.where(AccessPolicy.id != except_id)
    return db.session.scalar(query) is not None


def _values(policy: AccessPolicy) -> dict[str, Any]:
    return {k: getattr(policy, k) for k in FIELDS}


def create_policy(values: dict[str, Any], actor: Employee) -> AccessPolicy:
    if name_taken(values["name"]):
        raise PolicyRuleError("name", "An access policy with this name already exists.")
    policy = AccessPolicy(**values)
    db.session.add(policy)
    db.session.flush()
    record_event("policy.created", actor=actor, details={"policy_id": policy.id, **_values(policy)})
    db.session.commit()
    return policy


def update_policy(policy: AccessPolicy, values: dict[str, Any], actor: Employee) -> dict[str, Any]:
    """Apply a manager's edit; returns {field: {old, new}} of what changed."""
    diff = {k: {"old": getattr(policy, k), "new": v} for k, v in values.items()
            if k in FIELDS and getattr(policy, k) != v}
    if not diff:
        return diff
    if "name" in diff and name_taken(values["name"], except_id=policy.id):
        raise PolicyRuleError("name", "An access policy with this name already exists.")
    for key, change in diff.items():
        setattr(policy, key, change["new"])
    record_event("policy.changed", actor=actor, details={"policy_id": policy.id, "name": policy.name, **diff})
    db.session.commit()
    return diff


def delete_policy(policy: AccessPolicy, actor: Employee) -> None:
    """Delete a policy nobody uses; raises PolicyRuleError while employees are its members."""
    members = db.session.scalar(db.select(func.count(Employee.id)).where(Employee.access_policy_id == policy.id))
    if members:
        uses = "employees use" if members != 1 else "employee uses"
        raise PolicyRuleError(None, f"The access policy {policy.name} cannot be deleted: {members} {uses} it. "
                                    "Assign them another policy (or System settings) first.")
    record_event("policy.deleted", actor=actor, details={"policy_id": policy.id, **_values(policy)})
    db.session.delete(policy)
    db.session.commit()
