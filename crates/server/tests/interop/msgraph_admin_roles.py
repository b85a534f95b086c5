"""Directory roles through Microsoft's Python Graph SDK (msgraph-sdk): roles are assigned with the unified RBAC
API, and a Helpdesk Administrator, signed in with their own token, resets a member's password and is
refused for a User Administrator and a Global Administrator.

Usage: msgraph_admin_roles.py BASE_URL TOKEN DOMAIN [CA_PEM], with the bootstrap output as JSON in
GATEHOUSE_BOOTSTRAP.
"""

import asyncio
import json
import os
import sys

import requests
from graph_client import check, connect, expect_error
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.unified_role_assignment import UnifiedRoleAssignment
from msgraph.generated.models.user import User

HELPDESK = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"
PASSWORD = "Tr4vel-Kite-Moss"


def rest(base, token, method, path, body=None):
    response = requests.request(method, f"{base}/v1.0{path}", json=body, headers={"Authorization": f"Bearer {token}"})
    check(response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}")
    return response.json() if response.text else None


async def main(base, token, domain, ca):
    admin, _ = connect(base, token, ca)
    bootstrap = json.loads(os.environ["GATEHOUSE_BOOTSTRAP"])
    tenant = bootstrap["tenantId"]

    ids = {}
    for alias in ["helen", "tom", "uma"]:
        user = await admin.users.post(
            User(
                account_enabled=True,
                display_name=alias.title(),
                mail_nickname=alias,
                user_principal_name=f"{alias}@{domain}",
                password_profile=PasswordProfile(password=PASSWORD, force_change_password_next_sign_in=False),
            )
        )
        ids[alias] = user.id
    for alias, role in [("helen", HELPDESK), ("uma", USER_ADMIN)]:
        assignment = await admin.role_management.directory.role_assignments.post(
            UnifiedRoleAssignment(role_definition_id=role, principal_id=ids[alias], directory_scope_id="/")
        )
        check(assignment.principal_id == ids[alias], f"assignment: {assignment}")
    listed = await admin.role_management.directory.role_assignments.get()
    check(any(a.role_definition_id == HELPDESK and a.principal_id == ids["helen"] for a in listed.value), "listed")

    app = rest(base, token, "POST", "/applications", {"displayName": "helpdesk console", "isFallbackPublicClient": True})
    sp = rest(base, token, "POST", "/servicePrincipals", {"appId": app["appId"]})
    graph = next(p for p in rest(base, token, "GET", "/servicePrincipals")["value"] if p["appId"].startswith("00000003"))
    grant = {"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph["id"], "scope": "Directory.AccessAsUser.All"}
    rest(base, token, "POST", "/oauth2PermissionGrants", grant)
    form = {
        "grant_type": "password",
        "client_id": app["appId"],
        "username": f"helen@{domain}",
        "password": PASSWORD,
        "scope": "https://graph.microsoft.com/.default",
    }
    issued = requests.post(f"{base}/{tenant}/oauth2/v2.0/token", data=form)
    check(issued.status_code == 200, f"helen's token: {issued.text}")
    helpdesk, _ = connect(base, issued.json()["access_token"], ca)

    reset = User(password_profile=PasswordProfile(password="N3w-Kestr3l-Harbour", force_change_password_next_sign_in=True))
    await helpdesk.users.by_user_id(ids["tom"]).patch(reset)
    await expect_error(helpdesk.users.by_user_id(ids["uma"]).patch(reset), 403, "Authorization_RequestDenied")
    first_admin = bootstrap["adminUserPrincipalName"]
    await expect_error(helpdesk.users.by_user_id(first_admin).patch(reset), 403, "Authorization_RequestDenied")
    await expect_error(
        helpdesk.users.by_user_id(ids["tom"]).patch(User(display_name="Renamed")), 403, "Authorization_RequestDenied"
    )
    print("msgraph-sdk admin roles passed")


if __name__ == "__main__":
    base, token, domain = sys.argv[1:4]
    asyncio.run(main(base, token, domain, sys.argv[4] if len(sys.argv) > 4 else None))
