"""POS Terminals in the back office: the registry, who may use a terminal, unlinking."""
import re
from dataclasses import dataclass, replace

from sqlalchemy import delete, exists, func, insert, update
from sqlalchemy.exc import IntegrityError

from portal.clock import utcnow
from portal.extensions import db
from portal.models import Employee, PosTerminal
from portal.models.employee import search_key
from portal.models.terminal import terminal_employee
from portal.security.audit import record_event
from portal.services.employees import MAX_PAGE
from portal.url_ids import get_by_id

KEY_PATTERN = r"^[A-Za-z0-9._-]{4,64}$"
KEY_MESSAGE = "A Terminal Key Identifier has 4 to 64 letters, digits or . _ - (no spaces)."
NAME_MAX_LENGTH = 120
KEY_TAKEN = "Another terminal already has this Terminal Key Identifier."
KEY_OF_LINKED = ("The linked device knows this terminal by its Terminal Key Identifier: untick "
                 "Is linked to a physical device to change it, then link the device again with the new one.")


class TerminalRuleError(ValueError):
    """A change the rules refuse; `field` names the form field it belongs to."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class TerminalData:
    name: str
    store: str = ""
    key_identifier: str = ""
    min_status_level: int | None = None


def find_terminal(key_identifier: str | None) -> PosTerminal | None:
    """The terminal with this Terminal Key Identifier, whatever its case."""
    key = search_key(key_identifier or "")
    if not key:
        return None
    return db.session.scalar(db.select(PosTerminal).where(PosTerminal.key_lookup == key))


def get_terminal(terminal_id: int) -> PosTerminal | None:
    return get_by_id(PosTerminal, terminal_id)


def link_counts() -> tuple[int, int]:
    """(terminals linked to a physical device, all terminals)."""
    linked, total = db.session.execute(db.select(
        func.count(PosTerminal.id).filter(PosTerminal.is_linked.is_(True)), func.count(PosTerminal.id))).one()
    return linked, total


def search_terminals(query: str | None, page: int = 1, per_page: int = 50):
    """One page of terminals by name, matching name, store or key (case-insensitive)."""
    stmt = db.select(PosTerminal.id).order_by(PosTerminal.name_key, PosTerminal.id)
    needle = search_key(query or "")
    if needle:
        stmt = stmt.where(PosTerminal.search_text.contains(needle, autoescape=True))
    result = db.paginate(stmt, page=min(max(page, 1), MAX_PAGE), per_page=per_page, error_out=False,
                         max_per_page=100)
    if result.items:
        by_id = {t.id: t for t in db.session.scalars(db.select(PosTerminal).where(PosTerminal.id.in_(result.items)))}
        result.items = [by_id[i] for i in result.items if i in by_id]
    return result


def _checked(data: TerminalData, except_id: int | None = None) -> TerminalData:
    """The data trimmed, or TerminalRuleError naming the first field the rules refuse."""
    data = replace(data, name=data.name.strip(), store=data.store.strip(), key_identifier=data.key_identifier.strip())
    if not data.name or len(data.name) > NAME_MAX_LENGTH:
        raise TerminalRuleError("name", f"Enter a name of 1 to {NAME_MAX_LENGTH} characters.")
    if len(data.store) > NAME_MAX_LENGTH:
        raise TerminalRuleError("store", f"A store has at most {NAME_MAX_LENGTH} characters.")
    if not re.fullmatch(KEY_PATTERN, data.key_identifier):
        raise TerminalRuleError("key_identifier", KEY_MESSAGE)
    existing = find_terminal(data.key_identifier)
    if existing is not None and existing.id != except_id:
        raise TerminalRuleError("key_identifier", KEY_TAKEN)
    return data


def _flush_unless_key_taken() -> None:
    """A terminal saved meanwhile with the same key (the unique key_lookup) reads as taken."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise TerminalRuleError("key_identifier", KEY_TAKEN) from None


def create_terminal(data: TerminalData, actor: Employee) -> PosTerminal:
    data = _checked(data)
    terminal = PosTerminal(name=data.name, store=data.store, key_identifier=data.key_identifier,
                           min_status_level=data.min_status_level)
    db.session.add(terminal)
    _flush_unless_key_taken()
    record_event("pos.terminal_created", actor=actor, details=_describe(terminal))
    db.session.commit()
    return terminal


def update_terminal(terminal: PosTerminal, data: TerminalData, actor: Employee, keep_link: bool = True) -> dict:
    """Save an edit; unticking "Is linked to a physical device" (keep_link=False) unlinks.
    Returns {field: {old, new}} of what changed (an unlink shows as is_linked).

    A linked terminal keeps its Terminal Key Identifier (the device finds it by that key) unless
    the same save unlinks it: the seed's way to replace a device is to untick and enter a new code."""
    data = _checked(data, except_id=terminal.id)
    if terminal.is_linked and keep_link and search_key(data.key_identifier) != terminal.key_lookup:
        raise TerminalRuleError("key_identifier", KEY_OF_LINKED)
    # Unlinked first, so that its audit row names the terminal as the device knew it.
    unlinked = terminal.is_linked and not keep_link and unlink(terminal, actor, commit=False)
    diff = {k: {"old": getattr(terminal, k), "new": v} for k, v in vars(data).items() if v != getattr(terminal, k)}
    old_key = terminal.key_identifier
    for field, change in diff.items():
        setattr(terminal, field, change["new"])
    _flush_unless_key_taken()
    if diff:
        record_event("pos.terminal_changed", actor=actor, details={"terminal": old_key, **diff})
    if unlinked:
        diff["is_linked"] = {"old": True, "new": False}
    db.session.commit()
    return diff


def unlink(terminal: PosTerminal, actor: Employee, commit: bool = True) -> bool:
    """Forget the linked device: its token stops working on its next call. False if not linked."""
    link = {"linked_at": terminal.linked_at.isoformat(timespec="seconds") if terminal.linked_at else None,
            "linked_by": terminal.linked_by.username if terminal.linked_by else None}
    result = db.session.execute(
        update(PosTerminal).where(PosTerminal.id == terminal.id, PosTerminal.is_linked.is_(True))
        .values(is_linked=False, device_token_hash=None, updated_at=utcnow())
    )
    unlinked = result.rowcount == 1
    if unlinked:
        record_event("pos.terminal_unlinked", actor=actor, details=_describe(terminal) | link)
    if commit:
        db.session.commit()
    db.session.refresh(terminal)
    return unlinked


def may_use(terminal: PosTerminal, employee: Employee) -> bool:
    """Administrators always; others by the terminal's minimum status level or by name."""
    if not employee.active:
        return False
    if employee.is_administrator:
        return True
    if terminal.min_status_level is not None and employee.has_status(terminal.min_status_level):
        return True
    return _is_named(terminal, employee)


def _is_named(terminal: PosTerminal, employee: Employee) -> bool:
    return bool(db.session.scalar(db.select(exists().where(
        terminal_employee.c.terminal_id == terminal.id, terminal_employee.c.employee_id == employee.id))))


def allow_employee(terminal: PosTerminal, employee: Employee, actor: Employee) -> bool:
    """Name an employee on the terminal; False when already named (also by a request at the same moment)."""
    if _is_named(terminal, employee):
        return False
    try:
        db.session.execute(insert(terminal_employee).values(terminal_id=terminal.id, employee_id=employee.id))
    except IntegrityError:
        db.session.rollback()
        return False
    record_event("pos.terminal_changed", actor=actor, subject=employee,
                 details={"terminal": terminal.key_identifier, "employee_allowed": employee.username})
    db.session.commit()
    return True


def disallow_employee(terminal: PosTerminal, employee: Employee, actor: Employee) -> bool:
    result = db.session.execute(delete(terminal_employee).where(
        terminal_employee.c.terminal_id == terminal.id, terminal_employee.c.employee_id == employee.id))
    if result.rowcount:
        record_event("pos.terminal_changed", actor=actor, subject=employee,
                     details={"terminal": terminal.key_identifier, "employee_removed": employee.username})
    db.session.commit()
    return bool(result.rowcount)


def _describe(terminal: PosTerminal) -> dict:
    return {"terminal": terminal.key_identifier, "name": terminal.name, "store": terminal.store}
