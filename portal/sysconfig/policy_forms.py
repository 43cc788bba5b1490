"""Sys Config › Access policies: the policy form."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectMultipleField, StringField, SubmitField, widgets
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from portal.models.policy import POLICY_METHODS

METHOD_LABELS = {"totp": "App OTP (authenticator app)", "email": "Email OTP", "sms": "SMS OTP"}


class CheckboxesField(SelectMultipleField):
    """Several choices as a group of checkboxes, each with its label."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class PolicyForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=64)])
    description = StringField("Description", validators=[Optional(), Length(max=255)])
    methods = CheckboxesField(
        "MFA methods its members may use", choices=[SelectChoice(m, METHOD_LABELS[m]) for m in POLICY_METHODS],
        description="Only methods also enabled in Sys Config › MFA methods are offered. Recovery codes always "
                    "remain available.")
    mfa_required = BooleanField(
        "MFA required for members",
        description="Members must sign up for MFA even when the system Mode is Optional (no Skip). "
                    "Unticked, the system Mode applies. With MFA Status Off, policies have no effect.")
    submit = SubmitField("Save")

    def validate_methods(self, field):
        # Not DataRequired: that would mark every checkbox required, as if all had to be ticked.
        if not field.data:
            raise ValidationError("Choose at least one method.")

    def load(self, policy) -> None:
        self.name.data = policy.name
        self.description.data = policy.description
        self.methods.data = sorted(policy.method_names, key=POLICY_METHODS.index)
        self.mfa_required.data = policy.mfa_required

    def values(self) -> dict:
        return {
            "name": self.name.data.strip(),
            "description": (self.description.data or "").strip(),
            "methods": ",".join(m for m in POLICY_METHODS if m in self.methods.data),
            "mfa_required": bool(self.mfa_required.data),
        }


class DeletePolicyForm(FlaskForm):
    submit = SubmitField("Delete")
