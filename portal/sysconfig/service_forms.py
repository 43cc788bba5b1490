"""Sys Config › External services: which services may ask for API tokens, and how long tokens last."""
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectChoice, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Regexp, ValidationError

from portal.services import token_admin
from portal.services.api_tokens import LIFETIME_DAYS, SCOPES, SERVICE_SCOPES, SERVICES, service_scopes
from portal.sysconfig.policy_forms import CheckboxesField

NAME_MESSAGE = "Use letters, digits, _ - and . only (no spaces)."
MAX_LIFETIME_DAYS = 365


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class ExternalServicesForm(FlaskForm):
    """The list's Enabled boxes, what each service's tokens may call, and the token lifetime,
    saved together with one Save."""

    enabled = CheckboxesField("Enabled", validate_choice=False)
    # One group of boxes per scope (api_tokens.SCOPES), a box per service.
    scope_status = CheckboxesField(SCOPES["status"], validate_choice=False)
    scope_signup = CheckboxesField(SCOPES["signup"], validate_choice=False)
    scope_verify = CheckboxesField(SCOPES["verify"], validate_choice=False)
    scope_enforcement = CheckboxesField(SCOPES["enforcement"], validate_choice=False)
    # The names the page showed: a service another manager added meanwhile keeps its own state.
    listed = HiddenField()
    lifetime_days = IntegerField(
        "Token lifetime (days)", validators=[InputRequired(), NumberRange(1, MAX_LIFETIME_DAYS)],
        description="From 1 to 365. Applies to tokens issued from now on; existing tokens keep their expiry.")
    submit = SubmitField("Save")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.services = token_admin.services()
        for field in (self.enabled, *self.scope_fields().values()):
            field.choices = [SelectChoice(name, name) for name in self.services]

    def scope_fields(self) -> dict[str, CheckboxesField]:
        return {scope: self[f"scope_{scope}"] for scope in SCOPES}

    def rows(self) -> list[tuple[str, object, list]]:
        """Per service: its name, its Enabled box and (scope label, box) for each scope, in SCOPES' order."""
        scope_boxes = [(field.label.text, list(field)) for field in self.scope_fields().values()]
        return [(name, enabled, [(label, boxes[i]) for label, boxes in scope_boxes])
                for i, (name, enabled) in enumerate(zip(self.services, self.enabled, strict=True))]

    def load(self, get) -> None:
        self.enabled.data = [name for name, on in self.services.items() if on]
        for scope, field in self.scope_fields().items():
            field.data = [name for name in self.services if scope in service_scopes(name)]
        self.listed.data = ",".join(self.services)
        self.lifetime_days.data = get(LIFETIME_DAYS)

    def changes(self) -> dict:
        listed = set((self.listed.data or "").split(","))
        ticked = set(self.enabled.data or ())
        granted = {scope: set(field.data or ()) for scope, field in self.scope_fields().items()}
        return {
            SERVICES: {name: (name in ticked) if name in listed else on for name, on in self.services.items()},
            SERVICE_SCOPES: {name: [scope for scope in SCOPES if name in granted[scope]] if name in listed
                             else sorted(service_scopes(name), key=list(SCOPES).index) for name in self.services},
            LIFETIME_DAYS: self.lifetime_days.data,
        }


class AddServiceForm(FlaskForm):
    name = StringField(
        "Service name", filters=[_strip],
        validators=[DataRequired(), Length(2, 64), Regexp(r"^[A-Za-z0-9_.-]+$", message=NAME_MESSAGE)],
        render_kw={"autocomplete": "off"},
        description="What the external system sends as service in POST /api/token, for example "
                    "stock_scanner. 2 to 64 characters; names ignore case.")
    submit = SubmitField("Add service")

    def validate_name(self, field):
        existing = token_admin.configured_name(field.data or "")
        if existing is not None:
            raise ValidationError(f"There is already a service named {existing}.")


class RemoveServiceForm(FlaskForm):
    service = StringField("Service", validators=[DataRequired()])
