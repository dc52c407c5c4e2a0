"""Outbound webhooks: a reseller's endpoints, the events written to an outbox
in the same transaction as their cause, and their signed deliveries."""
