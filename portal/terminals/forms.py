from datetime import datetime

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from portal.models import Employee, PosTerminal
from portal.models.terminal import LOG_LEVELS
from portal.security.signin import find_employee
from portal.services.employees import USERNAME_MAX_LENGTH
from portal.services.terminal_log import LogFilter
from portal.services.terminals import KEY_MESSAGE, KEY_PATTERN, NAME_MAX_LENGTH, TerminalData


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _level_words(level: int) -> str:
    if level == 9:
        return "Administrators only (9)"
    group = "Managers" if level >= 5 else "Staff"
    return f"{group} and above ({level})" if level in (1, 5) else f"{group} of level {level} and above ({level})"


def _level(value) -> int | None:
    return int(value) if value not in (None, "", "None") else None


LEVEL_CHOICES = [SelectChoice("", "Only the employees named below"),
                 *(SelectChoice(level, _level_words(level)) for level in range(1, 10))]
LINKED_HELP = "Untick and save to unlink the device; it will be asked for a Terminal Key Identifier on its next visit."
NOT_LINKED_HELP = ("Not linked. A device links itself: open /pos on it and enter this Terminal Key Identifier "
                   "with the username and password of an employee allowed on this terminal.")


class TerminalForm(FlaskForm):
    name = StringField("Name", filters=[_strip], validators=[DataRequired(), Length(max=NAME_MAX_LENGTH)])
    store = StringField("Store", filters=[_strip], validators=[Optional(), Length(max=NAME_MAX_LENGTH)])
    key_identifier = StringField(
        "Terminal Key Identifier", filters=[_strip],
        validators=[DataRequired(), Regexp(KEY_PATTERN, message=KEY_MESSAGE)],
        description="The code typed on a device to link it to this terminal; unique, whatever the case.")
    min_status_level = SelectField(
        "Minimum status level", choices=LEVEL_CHOICES, coerce=_level,
        description="Who may use this terminal (link a device, sign in at it) besides the employees named on it.")
    submit = SubmitField("Create terminal")

    def terminal_data(self) -> TerminalData:
        return TerminalData(name=self.name.data, store=self.store.data or "", key_identifier=self.key_identifier.data,
                            min_status_level=self.min_status_level.data)


def link_stamp(terminal: PosTerminal) -> str:
    """Which link the page shows: the linked device's link time ('' when not linked)."""
    linked_at: datetime | None = terminal.linked_at if terminal.is_linked else None
    return linked_at.isoformat() if linked_at else ""


class EditTerminalForm(TerminalForm):
    is_linked = BooleanField("Is linked to a physical device")
    # The link the page showed, so that saving unlinks that device, never one linked since.
    link_shown = HiddenField()
    submit = SubmitField("Save")

    def __init__(self, terminal: PosTerminal, **kwargs):
        super().__init__(obj=terminal, **kwargs)
        if self.link_shown.data is None:  # not posted back: the page being drawn now
            self.link_shown.data = link_stamp(terminal)
        self.is_linked.description = LINKED_HELP if terminal.is_linked else NOT_LINKED_HELP
        if not terminal.is_linked:
            self.is_linked.render_kw = {"disabled": True}

    def unlink_asked(self) -> bool:
        """The box was shown ticked and came back unticked."""
        return bool(self.link_shown.data) and not self.is_linked.data

    def keep_link(self, terminal: PosTerminal) -> bool:
        return not (self.unlink_asked() and self.link_shown.data == link_stamp(terminal))


class AddEmployeeForm(FlaskForm):
    username = StringField("Username", filters=[_strip], validators=[DataRequired(), Length(max=USERNAME_MAX_LENGTH)])
    submit = SubmitField("Add employee")
    employee: Employee | None = None

    def validate_username(self, field):
        self.employee = find_employee(field.data)
        if self.employee is None:
            raise ValidationError("No employee has this username.")


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField("Search", validators=[Optional(), Length(max=100)])


class LogFilterForm(FlaskForm):
    class Meta:
        csrf = False  # filters are a GET and change nothing

    level = SelectField("Level", choices=[SelectChoice("", "Any level"),
                                          *(SelectChoice(level, level.capitalize()) for level in LOG_LEVELS)],
                        validators=[Optional()])
    cache_session_id = StringField("Cache session ID", filters=[_strip], validators=[Optional(), Length(max=64)])
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("The end date is before the start date.")

    def to_filter(self) -> LogFilter:
        return LogFilter(level=self.level.data or None, cache_session_id=self.cache_session_id.data or None,
                         date_from=self.date_from.data, date_to=self.date_to.data)

    def query_args(self) -> dict:
        """The filters as URL parameters, for the Newer and Older links."""
        return {k: v for k, v in {
            "level": self.level.data, "cache_session_id": self.cache_session_id.data,
            "date_from": self.date_from.raw_data[0] if self.date_from.raw_data else None,
            "date_to": self.date_to.raw_data[0] if self.date_to.raw_data else None,
        }.items() if v}
