"""MRRC Hotline: USSD, SMS and missed-call information and callback service."""

from hotline.app import create_app

__all__ = ["create_app"]
