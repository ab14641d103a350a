"""Retention: from churn scores to saved customers (docs/RETENTION.md).

value (what a customer is worth), targeting (grid, contact list, assignment), store (tables, CSV),
crm (the CRM webhook), readout (treated vs control), uplift (T-learner, Qini), world (a synthetic
world whose treatment effect is known), plots. No Dagster import.
"""
