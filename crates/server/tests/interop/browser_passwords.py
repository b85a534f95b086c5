"""Passwords in a real browser (Debian's Chromium, driven by Selenium): a person whose administrator gave them a
temporary password changes it inside the sign-in and lands at the app with a code MSAL redeems; then they
forget it and reset it themselves ("Forgot my password" on the sign-in page), with the code the server mailed
to their alternate address, read from the server's outbox folder (GATEHOUSE_OUTBOX).

Usage: browser_passwords.py BASE_URL TOKEN DOMAIN CA_PEM, with the server's certificate in GATEHOUSE_TLS_CERT.
"""

import glob
import http.server
import os
import re
import sys
import threading
import time
import uuid
from urllib.parse import parse_qs, urlparse

import msal
import requests
from browser_sign_in import Callback, browser, graph, patient, replaced
from graph_client import check
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions

TEMPORARY = "Temp0rary-Kestr3l!"
CHOSEN = "Chosen-Kestr3l-19"
RESET = "Reset-Kestr3l-23"


def codes_sent_to(address, at_least=1):
    """The verification codes of the messages in the outbox addressed to `address` (not the notices of a changed
    password that go there too), oldest first, once at least `at_least` have arrived (the server delivers its
    outbox within a second or so; a busy machine may take longer)."""
    for _ in range(300):
        codes = []
        for path in sorted(glob.glob(os.path.join(os.environ["GATEHOUSE_OUTBOX"], "*.eml"))):
            with open(path, encoding="utf-8", newline="") as f:
                message = f.read()
            code = re.search(r"verification code is: (\d{8})", message)
            if f"\r\nTo: {address}\r\n" in message and code:
                codes.append(code.group(1))
        if len(codes) >= at_least:
            return codes
        time.sleep(0.1)
    return codes


def password_grant(base, tenant, client_id, upn, password):
    """A password sign-in at the token endpoint: the token response, or its error."""
    return requests.post(f"{base}/{tenant}/oauth2/v2.0/token", data={
        "grant_type": "password", "client_id": client_id, "username": upn, "password": password, "scope": "User.Read",
    }).json()


def describe(driver):
    """Prints where the browser stood when a step failed: its address and the page's headings and alerts."""
    print(f"the browser was at {driver.current_url}", file=sys.stderr)
    for selector in ["h1", "[role=alert]"]:
        for element in driver.find_elements(By.CSS_SELECTOR, selector):
            print(f"  {selector}: {element.text}", file=sys.stderr)


def fill(driver, values):
    """Fills the loaded page's form, submits it, and waits until the next page has loaded."""
    wait = patient(driver, 60)
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
    page = driver.find_element(By.TAG_NAME, "html")
    for name, value in values.items():
        field = driver.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    wait.until(expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, "button[type=submit]"))).click()
    wait.until(replaced(page))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def consented_app(base, token, name):
    """A public client with admin consent for User.Read, whose redirect URI a local page answers: the app,
    its redirect URI, the page's server (to shut down) and a short random name for this run's objects."""
    callback = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Callback)
    threading.Thread(target=callback.serve_forever, daemon=True).start()
    redirect_uri = f"http://localhost:{callback.server_address[1]}/callback"
    run = uuid.uuid4().hex[:8]
    app = graph(base, token, "POST", "/applications", {
        "displayName": f"{name} {run}",
        "publicClient": {"redirectUris": [redirect_uri]},
        "isFallbackPublicClient": True,
    })
    sp = graph(base, token, "POST", "/servicePrincipals", {"appId": app["appId"]})
    graph_sp = graph(base, token, "GET", "/servicePrincipals?$filter=appId eq '00000003-0000-0000-c000-000000000000'")
    graph(base, token, "POST", "/oauth2PermissionGrants", {
        "clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph_sp["value"][0]["id"], "scope": "User.Read",
    })
    return app, redirect_uri, callback, run


def main(base, token, domain):
    app, redirect_uri, callback, run = consented_app(base, token, "Password app")
    upn = f"pat{run}@{domain}"
    home = f"pat{run}@home.example"
    user = graph(base, token, "POST", "/users", {
        "accountEnabled": True, "displayName": f"Pat {run}", "mailNickname": f"pat{run}", "userPrincipalName": upn,
        "otherMails": [home], "passwordProfile": {"forceChangePasswordNextSignIn": True, "password": TEMPORARY},
    })
    tenant = graph(base, token, "GET", "/organization")["value"][0]["id"]
    msal_app = msal.PublicClientApplication(app["appId"], authority=f"{base}/{tenant}", instance_discovery=False)

    driver = browser(os.environ["GATEHOUSE_TLS_CERT"])
    wait = patient(driver, 30)
    try:
        # The temporary password, changed inside the sign-in.
        flow = msal_app.initiate_auth_code_flow(["User.Read"], redirect_uri=redirect_uri, prompt="login")
        driver.get(flow["auth_uri"])
        wait.until(expected_conditions.presence_of_element_located((By.NAME, "login")))
        fill(driver, {"login": upn, "passwd": TEMPORARY})
        wait.until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Update your password"))
        check(upn in driver.find_element(By.ID, "account").text, "the page names the account")
        fill(driver, {"currentPassword": TEMPORARY, "newPassword": CHOSEN, "confirmNewPassword": "Other-Kestr3l-19"})
        alert = wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[role=alert]")))
        check("match" in alert.text, f"two different entries are said so: {alert.text}")
        fill(driver, {"currentPassword": TEMPORARY, "newPassword": "password", "confirmNewPassword": "password"})
        alert = wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[role=alert]")))
        check("complexity" in alert.text, f"a banned password is refused: {alert.text}")
        fill(driver, {"currentPassword": TEMPORARY, "newPassword": CHOSEN, "confirmNewPassword": CHOSEN})
        wait.until(lambda d: d.current_url.startswith(redirect_uri))
        answer = {k: v[0] for k, v in parse_qs(urlparse(driver.current_url).query).items()}
        result = msal_app.acquire_token_by_auth_code_flow(flow, answer)
        check(result.get("id_token_claims", {}).get("oid") == user["id"], f"MSAL after the change: {result}")
        ropc = password_grant(base, tenant, app["appId"], upn, CHOSEN)
        check("access_token" in ropc, f"the chosen password signs in: {ropc}")

        # Forgotten: reset from the sign-in page with the code mailed to the alternate address.
        driver.delete_all_cookies()
        flow = msal_app.initiate_auth_code_flow(["User.Read"], redirect_uri=redirect_uri, prompt="login")
        driver.get(flow["auth_uri"])
        wait.until(expected_conditions.element_to_be_clickable((By.LINK_TEXT, "Forgot my password"))).click()
        wait.until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Get back into your account"))
        fill(driver, {"login": upn})
        wait.until(expected_conditions.presence_of_element_located((By.NAME, "code")))
        codes = codes_sent_to(home)
        check(len(codes) == 1, f"one code mailed to {home}: {codes}")
        fill(driver, {"code": "00000000" if codes[0] != "00000000" else "00000001"})
        alert = wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[role=alert]")))
        check("not correct" in alert.text, f"a wrong code is said so: {alert.text}")
        fill(driver, {"code": codes[0]})
        wait.until(expected_conditions.presence_of_element_located((By.NAME, "confirmNewPassword")))
        fill(driver, {"newPassword": RESET, "confirmNewPassword": RESET})
        wait.until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Your password has been reset"))
        old = password_grant(base, tenant, app["appId"], upn, CHOSEN)
        check(old.get("error") == "invalid_grant", f"the old password is gone: {old}")
        new = password_grant(base, tenant, app["appId"], upn, RESET)
        check("access_token" in new, f"the reset password signs in: {new}")
        check(RESET not in driver.page_source and CHOSEN not in driver.page_source, "no password echoed")
    except Exception:
        describe(driver)
        raise
    finally:
        driver.quit()
        callback.shutdown()
    print("browser passwords passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
