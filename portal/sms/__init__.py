"""Sending SMS through the configured HTTP gateway (Sys Config › SMS Gateway).

`templates` renders the request data and the OTP text; `config` reads and saves the
gateway settings; `gateway` sends. No request handling in here (DESIGN.md §2).
"""
