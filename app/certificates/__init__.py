"""Issued certificates: download the stored PDF, see a certificate's versions, reissue or revoke it."""

from app.certificates.routes import bp

__all__ = ["bp"]
