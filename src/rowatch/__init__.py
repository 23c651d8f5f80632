"""rowatch: tells on-call the moment a filesystem goes read-only, and why."""

__version__ = "0.1.0"
