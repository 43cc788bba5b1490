"""Domain services that more than one blueprint or the CLI needs; they own the transaction."""
