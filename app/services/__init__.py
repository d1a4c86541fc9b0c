"""Business rules as plain functions: no request objects here."""
