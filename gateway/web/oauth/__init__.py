"""OAuth 2.0 with Authlib: the authorization and token endpoints, and bearer checks.

Who gets a token, and how:

- registered clients (providers, institutions, auditors): client_credentials (RFC 6749 §4.4), authenticated
  with client_secret_basic, or with private_key_jwt (RFC 7523 §2.2) when registered with a JWK Set;
- the built-in first-party app `xinyong-app`, a public client on the person's own device: authorization_code
  with PKCE S256 (RFC 7636) to loopback redirect URIs (RFC 8252 §7.3), then refresh_token, which rotates. The
  person allows it once on a consent screen (remembered until they revoke it: gateway/usecases/apps.py).

Errors follow RFC 6749: JSON {error, error_description} at the token endpoint; at the authorization endpoint a
redirect with `error=` to a redirect URI already checked against the client, else a 400 page that links nowhere.

    server              the Authlib authorization server: token lifetimes, client authentication methods,
                        grants, and storing the tokens it issues
    clients             registered clients and the app as Authlib sees them; client_secret_basic
    private_key_jwt     client authentication with a signed assertion (RFC 7523), each jti accepted once
    authorization_code  the app's codes, with PKCE S256 required
    refresh_tokens      refresh-token rotation, and revoking a whole token family when a spent credential returns
    revocation          token revocation (RFC 7009): an app's token ends its login, a client's token alone
    bearer              bearer-token checks for the API, with the short-lived cache of client tokens
    endpoints           the blueprint: /oauth/token, /oauth/authorize (with the consent screen), /oauth/revoke
"""
