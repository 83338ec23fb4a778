"""covidsync: data backbone for Vietnam COVID-19 health data."""

__version__ = "0.1.0"
