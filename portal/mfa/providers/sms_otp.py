"""SMS OTP: a code sent to the employee's registered mobile phone through the SMS Gateway.

NIST SP 800-63B restricts SMS (numbers can be ported or intercepted); the portal
offers it off by default and always lists the authenticator app first.
"""
from portal.mfa.settings import SentCodeSettings
from portal.models import Employee
from portal.sms.gateway import EMPLOYEE_FAILURE_MESSAGE, render_otp_message, send_sms

NAME = "sms"
FAILURE_MESSAGE = EMPLOYEE_FAILURE_MESSAGE


def can_receive(employee: Employee) -> bool:
    return bool(employee.mobile_phone)


def destination(employee: Employee) -> str:
    """+44•••••••123: the last digits, for the employee to recognise their phone."""
    number = employee.mobile_phone
    return number[:3] + "•" * max(len(number) - 6, 0) + number[-3:]


def deliver(employee: Employee, code: str, cfg: SentCodeSettings) -> bool:
    """Only ever to the registered number; a gateway failure is audited by the gateway client."""
    message = render_otp_message(code, cfg.validity_minutes, employee.full_name)
    return send_sms(employee.mobile_phone, message, actor=employee, subject=employee).ok
