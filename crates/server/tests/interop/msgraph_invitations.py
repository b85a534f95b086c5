"""Invitations through Microsoft's Python Graph SDK (msgraph-sdk), pointed at Gatehouse, and their redemption.

Usage: msgraph_invitations.py BASE_URL TOKEN DOMAIN

Invites a person with a message, finds the guest among the tenant's guests ($filter on userType), reads
the invitation mail from the server's outbox folder (GATEHOUSE_OUTBOX), redeems it at the link with a plain
HTTP client (the code read from the next mail), and reads the guest back as Accepted. Every step checks what
it got back; any difference raises, and the process exits non-zero.
"""

import asyncio
import glob
import html
import os
import re
import sys
import time
import uuid

import requests
from graph_client import check, connect, expect_error
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.invitation import Invitation
from msgraph.generated.models.invited_user_message_info import InvitedUserMessageInfo
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

WELCOME = "https://apps.partner.example/welcome"


def mail_to(address, at_least):
    """The messages of the outbox addressed to `address`, oldest first, once at least `at_least` arrived."""
    for _ in range(300):
        found = []
        for path in sorted(glob.glob(os.path.join(os.environ["GATEHOUSE_OUTBOX"], "*.eml"))):
            with open(path, encoding="utf-8", newline="") as f:
                message = f.read()
            if f"\r\nTo: {address}\r\n" in message:
                found.append(message)
        if len(found) >= at_least:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no mail to {address}")


def form_fields(page):
    """The hidden fields of a page's form."""
    return {name: html.unescape(value) for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)}


async def main(base, token, domain):
    client, _ = connect(base, token, None)
    address = f"pat.{uuid.uuid4().hex[:8]}@partner.example"
    invitation = await client.invitations.post(Invitation(
        invited_user_email_address=address,
        invite_redirect_url=WELCOME,
        send_invitation_message=True,
        invited_user_message_info=InvitedUserMessageInfo(customized_message_body="Welcome to the project."),
    ))
    check(invitation.status == "PendingAcceptance", f"status {invitation.status}")
    check(invitation.invited_user.id, "the guest's id")
    check(invitation.invite_redeem_url.startswith(f"{base}/"), invitation.invite_redeem_url)
    await expect_error(client.invitations.post(Invitation(invited_user_email_address="not an address", invite_redirect_url=WELCOME)), 400, "Request_BadRequest")

    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(filter="userType eq 'Guest'", select=["id", "userPrincipalName", "externalUserState"])
    guests = await client.users.get(request_configuration=RequestConfiguration(query_parameters=query))
    listed = {user.id: user for user in guests.value}
    check(invitation.invited_user.id in listed, f"the guest among the guests: {list(listed)}")
    guest = listed[invitation.invited_user.id]
    check(guest.user_principal_name == f"{address.replace('@', '_')}#EXT#@{domain}", guest.user_principal_name)
    check(guest.external_user_state == "PendingAcceptance", guest.external_user_state)

    message = mail_to(address, 1)[0]
    check("Welcome to the project." in message and invitation.invite_redeem_url in message, "the invitation mail")

    http = requests.Session()
    page = http.get(invitation.invite_redeem_url)
    check(page.status_code == 200 and "Review permissions" in page.text, page.text)
    action = page.url.split("?")[0]
    asked = http.post(action, data={**form_fields(page.text), "send": "1"})
    check('name="otc"' in asked.text, asked.text)
    code = re.search(r"verification code is: (\d{8})", mail_to(address, 2)[-1]).group(1)
    done = http.post(action, data={**form_fields(asked.text), "otc": code}, allow_redirects=False)
    check(done.status_code == 302 and done.headers["Location"] == WELCOME, f"{done.status_code} {done.headers}")

    accepted = await client.users.by_user_id(invitation.invited_user.id).get(request_configuration=RequestConfiguration(
        query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(select=["externalUserState"])))
    check(accepted.external_user_state == "Accepted", accepted.external_user_state)
    print("msgraph-sdk invitations passed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
