"""Authlib's OAuth 2.0 client for httpx, shared by the Google and Microsoft adapters.

Authlib 1.9 announces on import that it would rather use the `httpx2` fork (and forces that
warning to always show). calbot uses httpx on purpose, so the notice is silenced here, once,
instead of greeting every operator at start-up.
"""

import warnings

import authlib.deprecate  # installs its "always show" filter; ours below must come after it

with warnings.catch_warnings():
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.httpx_client import AsyncOAuth2Client

__all__ = ["AsyncOAuth2Client", "OAuthError"]
