"""Placeholders in the SMS gateway's request data and OTP message (portal/sms/templates.py)."""
import json

import pytest

from portal.sms import templates as t
from portal.sms.config import parse_headers
from portal.sms.gateway import number_problem

VALUES = {"to": "+447700900123", "message": 'a "b" {sender} & c=d', "sender": "Shop"}


def test_fill_is_one_pass_and_leaves_unknown_braces_alone():
    assert t.fill("{to}: {message} {x} { }", VALUES) == '+447700900123: a "b" {sender} & c=d {x} { }'


def test_form_template_is_decoded_filled_and_left_for_the_client_to_encode():
    pairs = t.render_form("to={to}&text=Hi+there%21+{message}\nfrom={sender}\n\n", VALUES)
    assert pairs == [("to", "+447700900123"), ("text", 'Hi there! a "b" {sender} & c=d'), ("from", "Shop")]


def test_json_template_fills_strings_at_any_depth_and_keeps_other_types():
    template = '{"a": ["{to}", {"b": "x{message}"}], "n": 1, "f": null, "t": true}'
    document = t.render_json(template, VALUES)
    assert document == {"a": ["+447700900123", {"b": 'xa "b" {sender} & c=d'}], "n": 1, "f": None, "t": True}
    assert json.loads(json.dumps(document)) == document


@pytest.mark.parametrize("template", ["to={to}&text={message}", "to={to}\ntext={message}\nsender={sender}",
                                      "api_key=&to={to}"])
def test_good_form_templates(template):
    t.check_form_template(template)


@pytest.mark.parametrize("template, message", [
    ("", "Enter the request data"),
    ("to={to}&&text", "name=value pairs"),
    ("=x", "name=value pairs"),
    ("to={to}&text={msg}", "Unknown placeholder {msg}: use {to}, {message}, {sender}."),
    ("to={code}&x={y}", "Unknown placeholder {code}, {y}"),
])
def test_bad_form_templates(template, message):
    with pytest.raises(t.TemplateError, match=message.replace("{", r"\{").replace("}", r"\}")):
        t.check_form_template(template)


@pytest.mark.parametrize("template, message", [
    ("", "Enter the request data"),
    ('{"to": "{to}"', "not valid JSON"),
    ('"{to}"', "must be an object or an array"),
    ('{"to": {"deep": ["{phone}"]}}', "Unknown placeholder"),
    ('{"{to}": "x"}', "not in names"),
])
def test_bad_json_templates(template, message):
    with pytest.raises(t.TemplateError, match=message):
        t.check_json_template(template)


def test_otp_template_needs_the_code_and_known_placeholders_only():
    t.check_otp_template("{name}, your code is {code} ({minutes} min)")
    with pytest.raises(t.TemplateError, match="must contain"):
        t.check_otp_template("no code")
    with pytest.raises(t.TemplateError, match="Unknown placeholder"):
        t.check_otp_template("{code} {to}")
    assert t.render_otp("{name}: {code}/{minutes}", "0123", 5, "{code}") == "{code}: 0123/5"


def test_headers_are_parsed_and_checked():
    assert parse_headers("Authorization: Bearer a:b\n\n X-Key :  v \n") == [("Authorization", "Bearer a:b"),
                                                                            ("X-Key", "v")]
    for bad in ("No colon", "Bad Name: v", ": v", "Content-Length: 3"):
        with pytest.raises(t.TemplateError):
            parse_headers(bad)


@pytest.mark.parametrize("number, pattern, ok", [
    ("+447700900123", "", True),
    ("+447700900123", r"\+44\d{10}", True),
    ("+4477009001230", r"\+44\d{10}", False),  # the pattern must match the whole number
    ("+1", "", False),
    ("447700900123", "", False),
    ("+44 7700 900123", "", False),
    ("", "", False),
])
def test_number_problem(number, pattern, ok):
    assert (number_problem(number, pattern) is None) is ok
