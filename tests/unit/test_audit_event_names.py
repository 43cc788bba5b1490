"""Every event the portal records has a label in the audit log's filter (EVENT_LABELS), so an
administrator can find it there; found by reading the source, so a new event cannot be missed."""
import ast
from pathlib import Path

import portal
from portal.security.audit import EVENT_LABELS


def recorded_event_names() -> dict[str, str]:
    """{event name: where} for every record_event("name", ...) call under portal/."""
    found = {}
    for path in Path(portal.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "record_event"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found[node.args[0].value] = f"{path.name}:{node.lineno}"
    return found


def test_every_recorded_event_has_a_label_in_the_audit_log_filter():
    found = recorded_event_names()
    assert len(found) > 30  # the scan sees the calls (it is not vacuous)
    assert {name: where for name, where in found.items() if name not in EVENT_LABELS} == {}
