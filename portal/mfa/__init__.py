"""The MFA service and its providers (DESIGN.md §5). No request handling in here."""
