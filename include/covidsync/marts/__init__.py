"""BI marts, facility scorecards, monitoring of facility reporting, and the daily HTML report.

- :mod:`covidsync.marts.refresh` rebuilds the tables of schema ``mart`` from ``sql/marts/*.sql``.
- :mod:`covidsync.marts.facility` exports scorecards to outboxes and raises reporting alerts with reminders.
- :mod:`covidsync.marts.notify` delivers alerts (an Airflow ``BaseNotifier``: webhook and e-mail).
- :mod:`covidsync.marts.daily_report` renders the static daily report (inline SVG, no JavaScript library).
"""
