"""Multifactor authentication in a real browser (Debian's Chromium, driven by Selenium): a Conditional Access
policy created with msgraph-sdk requires it of a person; MSAL's password grant then gets interaction_required;
at the sign-in page the person registers an authenticator app (its codes computed by pyotp, independently of
Gatehouse) and lands at the app with tokens whose amr says mfa; the device code flow then asks for a code
before approving the device.

Usage: browser_mfa.py BASE_URL TOKEN DOMAIN CA_PEM, with the server's certificate in GATEHOUSE_TLS_CERT.
"""

import asyncio
import base64
import json
import os
import sys
import time
from urllib.parse import parse_qs, urlparse

import msal
import pyotp
import requests
from browser_passwords import consented_app, describe, fill
from browser_sign_in import browser, graph, patient
from graph_client import check, connect
from msgraph.generated.models.conditional_access_applications import ConditionalAccessApplications
from msgraph.generated.models.conditional_access_condition_set import ConditionalAccessConditionSet
from msgraph.generated.models.conditional_access_grant_control import ConditionalAccessGrantControl
from msgraph.generated.models.conditional_access_grant_controls import ConditionalAccessGrantControls
from msgraph.generated.models.conditional_access_policy import ConditionalAccessPolicy
from msgraph.generated.models.conditional_access_policy_state import ConditionalAccessPolicyState
from msgraph.generated.models.conditional_access_users import ConditionalAccessUsers
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions

PASSWORD = "Factor-Kestr3l-31"


def amr(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["amr"]


async def require_mfa(base, token, user_id):
    client, _ = connect(base, token, os.environ.get("REQUESTS_CA_BUNDLE"))
    policy = ConditionalAccessPolicy(
        display_name="MFA for the browser test",
        state=ConditionalAccessPolicyState.Enabled,
        conditions=ConditionalAccessConditionSet(
            users=ConditionalAccessUsers(include_users=[user_id]),
            applications=ConditionalAccessApplications(include_applications=["All"]),
        ),
        grant_controls=ConditionalAccessGrantControls(operator="OR", built_in_controls=[ConditionalAccessGrantControl.Mfa]),
    )
    made = await client.identity.conditional_access.policies.post(policy)
    check(made.id and made.state == ConditionalAccessPolicyState.Enabled, f"the policy: {made}")
    listed = await client.identity.conditional_access.policies.get()
    check(any(p.id == made.id for p in listed.value), "msgraph-sdk lists the policy")


def main(base, token, domain):
    app, redirect_uri, callback, run = consented_app(base, token, "MFA app")
    upn = f"mia{run}@{domain}"
    user = graph(base, token, "POST", "/users", {
        "accountEnabled": True, "displayName": f"Mia {run}", "mailNickname": f"mia{run}", "userPrincipalName": upn,
        "passwordProfile": {"forceChangePasswordNextSignIn": False, "password": PASSWORD},
    })
    asyncio.run(require_mfa(base, token, user["id"]))
    tenant = graph(base, token, "GET", "/organization")["value"][0]["id"]
    ropc = requests.post(f"{base}/{tenant}/oauth2/v2.0/token", data={
        "grant_type": "password", "client_id": app["appId"], "username": upn, "password": PASSWORD, "scope": "User.Read",
    }).json()
    check(ropc.get("error") == "interaction_required", f"the password grant cannot give a second factor: {ropc}")
    msal_app = msal.PublicClientApplication(app["appId"], authority=f"{base}/{tenant}", instance_discovery=False)

    driver = browser(os.environ["GATEHOUSE_TLS_CERT"])
    wait = patient(driver, 30)
    try:
        flow = msal_app.initiate_auth_code_flow(["User.Read"], redirect_uri=redirect_uri)
        driver.get(flow["auth_uri"])
        wait.until(expected_conditions.presence_of_element_located((By.NAME, "login")))
        fill(driver, {"login": upn, "passwd": PASSWORD})
        secret = wait.until(expected_conditions.presence_of_element_located((By.ID, "secret"))).text
        uri = driver.find_element(By.ID, "uri").text
        check(pyotp.parse_uri(uri).secret == secret, f"the URI carries the key: {uri}")
        app_totp = pyotp.TOTP(secret)
        fill(driver, {"otc": app_totp.now()})
        wait.until(lambda d: d.current_url.startswith(redirect_uri))
        answer = {k: v[0] for k, v in parse_qs(urlparse(driver.current_url).query).items()}
        result = msal_app.acquire_token_by_auth_code_flow(flow, answer)
        check("access_token" in result, f"MSAL after the second factor: {result}")
        check("mfa" in amr(result["access_token"]), f"the token says mfa: {amr(result['access_token'])}")
        methods = graph(base, token, "GET", f"/users/{user['id']}/authentication/softwareOathMethods")["value"]
        check(len(methods) == 1 and methods[0]["secretKey"] is None, f"one app registered, its key hidden: {methods}")

        # The device code flow, signed in afresh: the code of the next 30-second step.
        driver.delete_all_cookies()
        device = msal_app.initiate_device_flow(scopes=["User.Read"])
        driver.get(device["verification_uri"])
        wait.until(expected_conditions.presence_of_element_located((By.NAME, "otc")))
        fill(driver, {"otc": device["user_code"]})
        fill(driver, {"login": upn, "passwd": PASSWORD})
        wait.until(expected_conditions.element_to_be_clickable((By.XPATH, "//button[text()='Continue']"))).click()
        wait.until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Enter code"))
        fill(driver, {"otc": app_totp.at(time.time() + 30)})
        wait.until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "You're signed in"))
        result = msal_app.acquire_token_by_device_flow(device)
        check("mfa" in amr(result.get("access_token", "x.e30.x")), f"MSAL device flow with a second factor: {result}")
    except Exception:
        describe(driver)
        raise
    finally:
        driver.quit()
        callback.shutdown()
    print("browser mfa passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
