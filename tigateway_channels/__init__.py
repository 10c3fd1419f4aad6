"""A live API-gateway control plane for Django, pushed over Channels."""

__version__ = "0.1.0"
