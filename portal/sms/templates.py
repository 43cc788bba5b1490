"""Placeholders in the gateway's request data and in the OTP message: checked on save,
substituted on send.

A placeholder is a word in braces, `{to}`. Substitution is one pass over the template,
so a value holding braces (a message with "{code}" in it) is never read as a placeholder,
and text in braces that is not a word (a JSON object, `{ }`) is left as it is.

Request data comes in two shapes:
- form: `name=value` pairs joined by `&` or one per line, written URL-encoded as a provider
  documents them (`text=Hello+{message}`); each value is decoded, filled in, and encoded again.
- JSON: a JSON document; placeholders are filled in inside its string values, nested at any
  depth, so each value is JSON-escaped by the encoder and never breaks the document.
"""
import json
from collections.abc import Mapping
from urllib.parse import parse_qsl

from portal.message_templates import (  # noqa: F401  (the gateway and its tests use them from here)
    OTP_PLACEHOLDERS,
    TemplateError,
    check_otp_template,
    check_placeholders,
    fill,
    placeholders,
    render_otp,
)

REQUEST_PLACEHOLDERS = ("to", "message", "sender")


# -- form URL-encoded ------------------------------------------------------------------

def form_pairs(template: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of a form template, decoded; placeholders not yet filled in."""
    joined = "&".join(line.strip() for line in template.splitlines() if line.strip())
    return parse_qsl(joined, keep_blank_values=True)


def check_form_template(template: str) -> None:
    if not template.strip():
        raise TemplateError("Enter the request data, for example to={to}&text={message}&from={sender}.")
    segments = [part for line in template.splitlines() for part in line.strip().split("&") if part]
    if not segments or any(not part.partition("=")[0] or "=" not in part for part in segments):
        raise TemplateError("Write the request data as name=value pairs, joined by & or one per line.")
    check_placeholders(template, REQUEST_PLACEHOLDERS)


def render_form(template: str, values: Mapping[str, str]) -> list[tuple[str, str]]:
    """Pairs ready for `requests` to encode (as a body or a query string)."""
    return [(fill(name, values), fill(value, values)) for name, value in form_pairs(template)]


# -- JSON ----------------------------------------------------------------------------

def _values(node):
    """Every string value of a JSON document, at any depth (not the names)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _values(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _values(value)


def check_json_template(template: str) -> None:
    if not template.strip():
        raise TemplateError('Enter the request data, for example {"to": "{to}", "text": "{message}"}.')
    try:
        document = json.loads(template)
    except ValueError as error:
        raise TemplateError(f"This is not valid JSON ({error}).") from None
    if not isinstance(document, dict | list):
        raise TemplateError("The JSON request data must be an object or an array.")
    for text in _values(document):
        check_placeholders(text, REQUEST_PLACEHOLDERS)
    if any(placeholders(key) for key in _keys(document)):
        raise TemplateError("Placeholders belong in JSON values, not in names.")


def _keys(node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _keys(item)


def render_json(template: str, values: Mapping[str, str]):
    """The JSON document with placeholders filled in inside its string values."""
    def walk(node):
        if isinstance(node, str):
            return fill(node, values)
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        return node

    return walk(json.loads(template))
