"""The one model layer every blueprint shares: one module per aggregate."""
from portal.models.api_token import ApiToken
from portal.models.audit import AuditEvent
from portal.models.employee import Employee, StatusLevel
from portal.models.mfa import MfaChallenge, MfaCredential, RecoveryCode
from portal.models.policy import AccessPolicy
from portal.models.session import UserSession
from portal.models.settings import Setting
from portal.models.sms_gateway import SmsGateway
from portal.models.terminal import PosClientLog, PosTerminal

__all__ = [
    "AccessPolicy", "ApiToken", "AuditEvent", "Employee", "MfaChallenge", "MfaCredential",
    "PosClientLog", "PosTerminal", "RecoveryCode", "Setting", "SmsGateway", "StatusLevel", "UserSession",
]
