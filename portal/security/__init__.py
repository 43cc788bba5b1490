"""Cross-cutting security rules shared by every blueprint."""
