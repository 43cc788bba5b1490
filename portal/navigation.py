"""The portal's areas in one list, for the menu and the start page.

Who may open an area is read from its view (`required_status`, set by require_status; a view
without one is open to every signed-in employee), so a link is shown exactly to those whom the
page lets in, and a new page's status level is written in one place only."""
from dataclasses import dataclass

from flask import current_app
from flask_login import current_user


@dataclass(frozen=True)
class Area:
    label: str
    endpoint: str
    description: str  # one line on the start page


@dataclass(frozen=True)
class Group:
    title: str
    areas: tuple[Area, ...]
    in_menu: bool = True  # in the File Maintenance menu as well as on the start page


GROUPS = (
    Group("File Maintenance", (
        Area("POS Terminals", "terminals.index", "Terminals, their keys, linked devices and client logs."),
        Area("Employee maintenance", "employees.index", "Employees, their status, passwords and Reset MFA."),
        Area("Audit log", "audit.index", "Every security event, with filters and CSV export."),
    )),
    Group("Sys Config", (
        Area("Sys Config › MFA", "sysconfig.mfa",
             "MFA on or off, optional or mandatory, the authenticator app, lockout, the mobile app, session expiry."),
        Area("Sys Config › MFA methods", "sysconfig.mfa_methods",
             "Which second factors employees may use, and the email and SMS codes' length, validity and text."),
        Area("Sys Config › SMS Gateway", "sysconfig.sms_gateway", "The gateway that sends SMS codes, and a test."),
        Area("Sys Config › Access policies", "sysconfig.policies",
             "Per-employee rules: which MFA methods, and whether MFA is required."),
        Area("Sys Config › POS", "sysconfig.pos", "Terminal/device security for the Web POS."),
        Area("Sys Config › External services", "sysconfig.external_services",
             "The services that may ask for API tokens, and how long tokens last."),
    )),
    Group("Your account", (
        Area("My profile and password", "account.profile",
             "Your details, your password, your multi-factor authentication and API tokens."),
    ), in_menu=False),
)


def _required_status(endpoint: str) -> int:
    return getattr(current_app.view_functions[endpoint], "required_status", 0)


def _groups_for(status_level: int) -> tuple[Group, ...]:
    """The groups with only the areas this status level may open (empty groups left out);
    worked out once per app and status level, as every page's menu asks."""
    known = current_app.extensions.setdefault("navigation", {})
    if status_level not in known:
        groups = (Group(g.title, tuple(a for a in g.areas if _required_status(a.endpoint) <= status_level), g.in_menu)
                  for g in GROUPS)
        known[status_level] = tuple(g for g in groups if g.areas)
    return known[status_level]


def start_page_groups() -> tuple[Group, ...]:
    return _groups_for(current_user.status_level)


def menu_areas() -> tuple[Area, ...]:
    """The File Maintenance menu: every area the employee may open beyond their own account."""
    return tuple(area for group in _groups_for(current_user.status_level) if group.in_menu for area in group.areas)
