from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from portal.security.audit import EVENT_LABELS
from portal.services.audit_log import AuditFilter


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # filters are a GET and change nothing

    employee = StringField("Employee (username)", validators=[Optional(), Length(max=64)])
    event = SelectField(
        "Event",
        choices=[SelectChoice("", "Any event"), *(SelectChoice(k, v) for k, v in EVENT_LABELS.items())],
        validators=[Optional()],
    )
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("The end date is before the start date.")

    def to_filter(self) -> AuditFilter:
        return AuditFilter(username=self.employee.data or None, event=self.event.data or None,
                           date_from=self.date_from.data, date_to=self.date_to.data)

    def query_args(self) -> dict:
        """The filters as URL parameters, for page links and the CSV export."""
        return {k: v for k, v in {
            "employee": self.employee.data, "event": self.event.data,
            "date_from": self.date_from.raw_data[0] if self.date_from.raw_data else None,
            "date_to": self.date_to.raw_data[0] if self.date_to.raw_data else None,
        }.items() if v}
