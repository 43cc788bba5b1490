"""MFA providers: each knows one factor. The service keeps the registry."""
