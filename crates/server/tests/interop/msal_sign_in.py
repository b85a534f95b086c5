"""People and apps sign in to Gatehouse with Microsoft's own clients: MSAL for Python, azure-identity, and
msgraph-sdk calling /me with a user's token; apps prove themselves with secrets and with certificates.

Usage: msal_sign_in.py BASE_URL TOKEN DOMAIN CA_PEM, with the bootstrap output as JSON in GATEHOUSE_BOOTSTRAP.

Only the authority (Gatehouse's base URL and tenant) and turning instance discovery off (the host is not
one of Microsoft's clouds) differ from code written for Entra ID. The CA is trusted through
REQUESTS_CA_BUNDLE and SSL_CERT_FILE, as it would be for any private authority.

MSAL sends home realm discovery (`/common/userrealm/...`) to the authority's host name without its port,
so a server on a test port would not get it. The clients are given an HTTP session that sends requests
for the host on the default port to the test port, as a deployment on port 443 would receive them.
"""

import asyncio
import base64
import datetime
import json
import os
import sys
import uuid
from urllib.parse import urlparse

import msal
import requests
from azure.core.pipeline.transport import RequestsTransport
from azure.identity import CertificateCredential, ClientSecretCredential, UsernamePasswordCredential
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from graph_client import check
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient


class DefaultPort(requests.Session):
    """Sends requests for `https://HOST/...` to `https://HOST:PORT/...`."""

    def __init__(self, base):
        super().__init__()
        self.base = urlparse(base)
        self.realms = []

    def request(self, method, url, *args, **kwargs):
        parsed = urlparse(url)
        if parsed.hostname == self.base.hostname and parsed.port is None:
            url = parsed._replace(netloc=self.base.netloc).geturl()
        response = super().request(method, url, *args, **kwargs)
        if "/common/userrealm/" in url:
            self.realms.append(response.json())
        return response


def graph(base, token, method, path, body=None):
    response = requests.request(method, f"{base}/v1.0{path}", json=body, headers={"Authorization": f"Bearer {token}"})
    check(response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}")
    return response.json() if response.text else None


def register(base, token, domain):
    """A public client with admin consent for User.Read, and a member who signs in with a password."""
    run = uuid.uuid4().hex[:8]
    app = graph(base, token, "POST", "/applications", {"displayName": f"MSAL {run}", "isFallbackPublicClient": True})
    sp = graph(base, token, "POST", "/servicePrincipals", {"appId": app["appId"]})
    principals = graph(base, token, "GET", "/servicePrincipals")["value"]
    graph_sp = next(p for p in principals if p["appId"] == "00000003-0000-0000-c000-000000000000")
    grant = {"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph_sp["id"], "scope": "User.Read"}
    graph(base, token, "POST", "/oauth2PermissionGrants", grant)
    upn = f"msal{run}@{domain}"
    user = {
        "accountEnabled": True,
        "displayName": f"MSAL {run}",
        "mailNickname": f"msal{run}",
        "userPrincipalName": upn,
        "passwordProfile": {"forceChangePasswordNextSignIn": False, "password": "Msal-Kestr3l!"},
    }
    created = graph(base, token, "POST", "/users", user)
    return app["appId"], upn, "Msal-Kestr3l!", created["id"]


def certificate_app(base, token):
    """An app that proves itself with a certificate (private_key_jwt), granted User.Read.All."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gatehouse-interop")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    app = graph(base, token, "POST", "/applications", {"displayName": "Certificate daemon"})
    graph(base, token, "PATCH", f"/applications/{app['id']}", {"keyCredentials": [
        {"type": "AsymmetricX509Cert", "usage": "Verify", "key": base64.b64encode(der).decode()},
    ]})
    sp = graph(base, token, "POST", "/servicePrincipals", {"appId": app["appId"]})
    principals = graph(base, token, "GET", "/servicePrincipals")["value"]
    graph_sp = next(p for p in principals if p["appId"] == "00000003-0000-0000-c000-000000000000")
    read_all = "df021288-bdef-4463-88db-98f22de89214"
    graph(base, token, "POST", f"/servicePrincipals/{sp['id']}/appRoleAssignments",
          {"principalId": sp["id"], "resourceId": graph_sp["id"], "appRoleId": read_all})
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return app["appId"], key_pem.decode(), cert.public_bytes(serialization.Encoding.PEM).decode()


def certificate_flows(base, bootstrap, app_id, key_pem, cert_pem):
    tenant = bootstrap["tenantId"]
    daemon = msal.ConfidentialClientApplication(
        app_id,
        client_credential={"private_key": key_pem, "public_certificate": cert_pem},
        authority=f"{base}/{tenant}",
        instance_discovery=False,
        http_client=DefaultPort(base),
    )
    result = daemon.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    check("access_token" in result, f"MSAL with a certificate: {result}")
    users = requests.get(f"{base}/v1.0/users", headers={"Authorization": f"Bearer {result['access_token']}"})
    check(users.status_code == 200, f"the certificate daemon reads users: {users.status_code}")
    credential = CertificateCredential(
        tenant,
        app_id,
        certificate_data=(key_pem + cert_pem).encode(),
        authority=base,
        disable_instance_discovery=True,
        transport=RequestsTransport(session=DefaultPort(base), session_owner=False),
    )
    check(credential.get_token("https://graph.microsoft.com/.default").token, "CertificateCredential")


def msal_flows(base, bootstrap, client_id, upn, password, user_id):
    tenant = bootstrap["tenantId"]
    daemon = msal.ConfidentialClientApplication(
        bootstrap["clientId"],
        client_credential=bootstrap["clientSecret"],
        authority=f"{base}/{tenant}",
        instance_discovery=False,
        http_client=DefaultPort(base),
    )
    result = daemon.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    check("access_token" in result, f"client credentials: {result}")
    users = requests.get(f"{base}/v1.0/users", headers={"Authorization": f"Bearer {result['access_token']}"})
    check(users.status_code == 200, f"the daemon's token reads users: {users.status_code}")

    session = DefaultPort(base)
    app = msal.PublicClientApplication(
        client_id, authority=f"{base}/organizations", instance_discovery=False, http_client=session
    )
    result = app.acquire_token_by_username_password(upn, password, scopes=["User.Read"])
    check("access_token" in result, f"username/password: {result}")
    check(session.realms and session.realms[0]["account_type"] == "Managed", f"home realm: {session.realms}")
    check(result["id_token_claims"]["oid"] == user_id, f"id token: {result['id_token_claims']}")
    check(result["id_token_claims"]["preferred_username"] == upn, "preferred_username")
    accounts = app.get_accounts(username=upn)
    check(len(accounts) == 1, f"one account cached: {accounts}")
    check(accounts[0]["home_account_id"] == f"{user_id}.{tenant}", f"client_info keys the account: {accounts[0]}")
    cached = app.acquire_token_silent(["User.Read"], account=accounts[0])
    check(cached and cached["access_token"] == result["access_token"], "the cached token is served")
    refreshed = app.acquire_token_silent(["User.Read"], account=accounts[0], force_refresh=True)
    check(refreshed and "access_token" in refreshed, f"refresh: {refreshed}")
    check(refreshed["access_token"] != result["access_token"], "a new token from the refresh token")
    again = app.acquire_token_silent(["User.Read"], account=accounts[0], force_refresh=True)
    check(again and "access_token" in again, f"the rotated refresh token works: {again}")

    wrong = app.acquire_token_by_username_password(upn, "Wr0ng-Kestr3l!", scopes=["User.Read"])
    check(wrong.get("error") == "invalid_grant" and 50126 in wrong.get("error_codes", []), f"wrong password: {wrong}")
    unconsented = app.acquire_token_by_username_password(upn, password, scopes=["User.Read.All"])
    check(unconsented.get("suberror") == "consent_required", f"consent required: {unconsented}")
    return refreshed["access_token"]


async def azure_identity_flows(base, bootstrap, client_id, upn, password, user_id):
    tenant = bootstrap["tenantId"]
    transport = RequestsTransport(session=DefaultPort(base), session_owner=False)
    secret = ClientSecretCredential(
        tenant,
        bootstrap["clientId"],
        bootstrap["clientSecret"],
        authority=base,
        disable_instance_discovery=True,
        transport=transport,
    )
    token = secret.get_token("https://graph.microsoft.com/.default")
    check(token.token and token.expires_on > 0, "ClientSecretCredential")

    person = UsernamePasswordCredential(
        client_id,
        upn,
        password,
        tenant_id=tenant,
        authority=base,
        disable_instance_discovery=True,
        transport=transport,
    )
    provider = AzureIdentityAuthenticationProvider(
        person, scopes=["https://graph.microsoft.com/User.Read"], allowed_hosts=[urlparse(base).hostname]
    )
    adapter = GraphRequestAdapter(provider)
    adapter.base_url = f"{base}/v1.0"
    client = GraphServiceClient(request_adapter=adapter)
    me = await client.me.get()
    check(me.id == user_id and me.user_principal_name == upn, f"/me through msgraph-sdk: {me.id} {me.user_principal_name}")


def main(base, token, domain):
    bootstrap = json.loads(os.environ["GATEHOUSE_BOOTSTRAP"])
    client_id, upn, password, user_id = register(base, token, domain)
    user_token = msal_flows(base, bootstrap, client_id, upn, password, user_id)
    me = graph(base, user_token, "GET", "/me")
    check(me["id"] == user_id, "/me with MSAL's token")
    asyncio.run(azure_identity_flows(base, bootstrap, client_id, upn, password, user_id))
    certificate_flows(base, bootstrap, *certificate_app(base, token))
    print("msal sign-in passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
