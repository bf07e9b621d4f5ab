"""Text-removal service on IOPaint."""

__version__ = "1.0.0"
SERVICE_NAME = "IOPaint text-removal service"
