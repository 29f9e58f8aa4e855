"""The TLS settings of the SDK's own connections: httpx's defaults, built here.

Certificates are checked against certifi's bundle (httpx's own default, installed with
it), or the bundle or directory named by `SSL_CERT_FILE` / `SSL_CERT_DIR` when the
environment names one, as httpx does with `trust_env`.
"""

from __future__ import annotations

import functools
import os
import ssl

__all__ = ["ssl_context"]


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """The context every TLS connection of the SDK's own pool is made with (built once)."""
    cert_file = os.environ.get("SSL_CERT_FILE")
    cert_dir = os.environ.get("SSL_CERT_DIR")
    if cert_file and os.path.isfile(cert_file):
        context = ssl.create_default_context(cafile=cert_file)
    elif cert_dir and os.path.isdir(cert_dir):
        context = ssl.create_default_context(capath=cert_dir)
    else:
        try:
            import certifi
        except ImportError:  # pragma: no cover - httpx installs it
            context = ssl.create_default_context()
        else:
            context = ssl.create_default_context(cafile=certifi.where())
    context.set_alpn_protocols(["http/1.1"])
    return context
