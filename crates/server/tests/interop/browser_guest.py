"""A guest's whole way in, in a real browser (Debian's Chromium, driven by Selenium) over real SMTP: a person
from outside is invited with msgraph-sdk; the invitation mail, and every code after it, are read from the
maildir of the SMTP server on loopback the Gatehouse server delivers to (GATEHOUSE_MAILDIR); the invitation is
redeemed in the browser and cannot be redeemed again; the guest then signs in to an app with MSAL's
authorization code flow, asking for a code by email instead of a password, and MSAL's tokens mark the guest
(`idp` mail, `acct` 1, `amr` otp).

Usage: browser_guest.py BASE_URL TOKEN DOMAIN CA_PEM, with the server's certificate in GATEHOUSE_TLS_CERT.
"""

import asyncio
import base64
import json
import mailbox
import os
import re
import sys
import time
from urllib.parse import parse_qs, urlparse

import msal
from browser_passwords import consented_app, describe, fill
from browser_sign_in import browser, graph, patient, replaced
from graph_client import check, connect
from msgraph.generated.models.invitation import Invitation
from msgraph.generated.models.invited_user_message_info import InvitedUserMessageInfo
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions


def received(address, at_least):
    """The plain-text bodies of the messages the SMTP server received for `address`, oldest first, once at
    least `at_least` arrived."""
    for _ in range(600):
        found = []
        for message in mailbox.Maildir(os.environ["GATEHOUSE_MAILDIR"], create=False):
            if message["To"] != address:
                continue
            for part in message.walk():
                if part.get_content_type() == "text/plain":
                    found.append((message.get_date(), part.get_payload(decode=True).decode()))
        if len(found) >= at_least:
            return [text for _, text in sorted(found)]
        time.sleep(0.1)
    raise AssertionError(f"fewer than {at_least} messages reached {address}")


def code_of(text):
    return re.search(r"verification code is: (\d{8})", text).group(1)


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def invite(base, token, address, redirect_uri):
    client, _ = connect(base, token, os.environ.get("REQUESTS_CA_BUNDLE"))
    invitation = await client.invitations.post(Invitation(
        invited_user_email_address=address,
        invite_redirect_url=redirect_uri,
        send_invitation_message=True,
        invited_user_message_info=InvitedUserMessageInfo(customized_message_body="Welcome to the partner portal."),
    ))
    check(invitation.status == "PendingAcceptance", f"status {invitation.status}")
    return invitation


def main(base, token, domain):
    app, redirect_uri, callback, run = consented_app(base, token, "Partner portal")
    graph(base, token, "PATCH", f"/applications/{app['id']}", {"optionalClaims": {"idToken": [{"name": "acct"}]}})
    address = f"pat.{run}@partner.example"
    invitation = asyncio.run(invite(base, token, address, redirect_uri))
    tenant = graph(base, token, "GET", "/organization")["value"][0]["id"]
    message = received(address, 1)[0]
    check("Welcome to the partner portal." in message, f"the inviter's message: {message}")
    link = re.search(r"Accept the invitation: (\S+)", message).group(1)
    check(link == invitation.invite_redeem_url, f"the mailed link is the invitation's: {link}")

    driver = browser(os.environ["GATEHOUSE_TLS_CERT"])
    wait = patient(driver, 30)
    try:
        # Redemption: the code mailed to the invited address proves it.
        driver.get(link)
        wait.until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "body"), address))
        fill(driver, {})
        fill(driver, {"otc": code_of(received(address, 2)[-1])})
        wait.until(lambda d: d.current_url.startswith(redirect_uri))
        guest = graph(base, token, "GET", f"/users/{invitation.invited_user.id}?$select=externalUserState,userType")
        check(guest["externalUserState"] == "Accepted" and guest["userType"] == "Guest", f"the guest: {guest}")
        driver.get(link)
        wait.until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "body"), "redeemed already"))

        # The guest signs in to the app: a code by email instead of a password.
        msal_app = msal.PublicClientApplication(app["appId"], authority=f"{base}/{tenant}", instance_discovery=False)
        flow = msal_app.initiate_auth_code_flow(["User.Read"], redirect_uri=redirect_uri)
        driver.get(flow["auth_uri"])
        wait.until(expected_conditions.presence_of_element_located((By.NAME, "login")))
        driver.find_element(By.NAME, "login").send_keys(address)
        page = driver.find_element(By.TAG_NAME, "html")
        driver.find_element(By.ID, "idSendCode").click()
        wait.until(replaced(page))
        wait.until(expected_conditions.presence_of_element_located((By.NAME, "otc")))
        check("p•••@partner.example" in driver.find_element(By.ID, "sent-to").text, "the page says where the code went")
        fill(driver, {"otc": code_of(received(address, 3)[-1])})
        wait.until(lambda d: d.current_url.startswith(redirect_uri))
        answer = {k: v[0] for k, v in parse_qs(urlparse(driver.current_url).query).items()}
        result = msal_app.acquire_token_by_auth_code_flow(flow, answer)
        check("access_token" in result, f"MSAL redeems the guest's code: {result}")
        id_claims = result["id_token_claims"]
        check(id_claims["oid"] == invitation.invited_user.id, f"the guest signed in: {id_claims}")
        check(id_claims.get("idp") == "mail" and id_claims.get("acct") == 1, f"the id token marks a guest: {id_claims}")
        access = claims(result["access_token"])
        check(access["idp"] == "mail" and access["amr"] == ["otp"], f"the access token: {access}")
        accounts = msal_app.get_accounts()
        check(len(accounts) == 1 and accounts[0]["local_account_id"] == invitation.invited_user.id, f"{accounts}")
    except Exception:
        describe(driver)
        raise
    finally:
        driver.quit()
        callback.shutdown()
    print("browser guest passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
