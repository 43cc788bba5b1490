"""Sys Config › POS: how a device becomes a POS terminal."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, SubmitField

from portal.services.pos_devices import DEVICE_SECURITY


class PosSettingsForm(FlaskForm):
    device_security = BooleanField("Use terminal/device security")
    submit = SubmitField("Save")

    def load(self, get) -> None:
        self.device_security.data = bool(get(DEVICE_SECURITY))

    def changes(self) -> dict:
        return {DEVICE_SECURITY: bool(self.device_security.data)}
