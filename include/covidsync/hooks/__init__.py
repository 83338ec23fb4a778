"""Hooks to external systems, each reading its credentials from an Airflow connection."""
