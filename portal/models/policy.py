"""Access policies (Sys Config › Access policies): which MFA methods their members may use,
and whether MFA is required for them even when the system Mode is Optional."""
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column, validates

from portal.clock import utcnow
from portal.extensions import db

# The methods a policy can allow, in the order they are offered (the authenticator app first).
POLICY_METHODS = ("totp", "email", "sms")


class AccessPolicy(db.Model):
    __tablename__ = "access_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    # Lower-cased name: the unique key, so "Kitchen" and "kitchen" cannot both exist.
    name_key: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    # Allowed method names, comma-separated in POLICY_METHODS order ("totp,email").
    methods: Mapped[str] = mapped_column(String(64), default="totp")
    mfa_required: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @validates("name")
    def _keep_name_key(self, key: str, value: str) -> str:
        value = value.strip()
        self.name_key = value.lower()
        return value

    @property
    def method_names(self) -> frozenset[str]:
        return frozenset(m for m in (self.methods or "").split(",") if m)

    @method_names.setter
    def method_names(self, names) -> None:
        self.methods = ",".join(m for m in POLICY_METHODS if m in set(names))

    def __repr__(self) -> str:
        return f"<AccessPolicy {self.name}>"
