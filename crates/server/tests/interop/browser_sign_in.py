"""A person signs in through Gatehouse's pages in a real browser (Debian's Chromium, driven by Selenium),
consents, lands on the app's redirect URI with a code, and signs in again silently. The apps are real
OAuth clients: authlib (authorization code + PKCE, the id token checked against the JWKS) and MSAL for
Python (initiate_auth_code_flow + acquire_token_by_auth_code_flow). The device code flow is completed
through the device login page for MSAL and for azure-identity's DeviceCodeCredential.

Usage: browser_sign_in.py BASE_URL TOKEN DOMAIN CA_PEM, with the server's certificate in GATEHOUSE_TLS_CERT.

The browser trusts exactly the server's certificate (by its public key's hash), nothing else.
"""

import base64
import hashlib
import http.server
import os
import sys
import threading
import uuid
from urllib.parse import parse_qs, urlparse

import msal
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from azure.identity import DeviceCodeCredential
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from graph_client import check
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

PASSWORD = "Br0wser-Kestr3l!"


class Callback(http.server.BaseHTTPRequestHandler):
    """The app's redirect URI: answers with a page, as any web app would."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><body><h1>Back at the app</h1></body></html>")

    def log_message(self, *args):
        pass


def graph(base, token, method, path, body=None):
    response = requests.request(method, f"{base}/v1.0{path}", json=body, headers={"Authorization": f"Bearer {token}"})
    check(response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}")
    return response.json() if response.text else None


def browser(cert_path):
    with open(cert_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--ignore-certificate-errors-spki-list={pin}"]:
        options.add_argument(argument)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def patient(driver, seconds):
    """A wait that polls through the moments a page is being replaced: Chromium may then answer a look at
    the page left behind with an inspector error ("does not belong to the document") rather than a stale
    reference. A condition that never holds still ends the wait with a timeout."""
    return WebDriverWait(driver, seconds, ignored_exceptions=(StaleElementReferenceException, WebDriverException))


def replaced(page):
    """A wait condition: the element `page` (a page's `html`) is gone, another page loaded in its place.
    Chromium answers a look at a node of the page left behind with a stale reference, or at times with an
    inspector error that the node does not belong to the document: both mean it is gone."""
    def gone(_driver):
        try:
            page.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" in str(error):
                return True
            raise
    return gone


def click_through(driver, wait, locator):
    """Clicks the button `locator` finds once it can be clicked, and waits until the next page replaced this
    one (an element of the page left behind cannot be used)."""
    page = driver.find_element(By.TAG_NAME, "html")
    wait.until(expected_conditions.element_to_be_clickable(locator)).click()
    wait.until(replaced(page))


def complete_device(driver, wait, verification_uri, user_code, upn):
    """A person at the device login page: enters the code, signs in unless the browser is, and continues."""
    driver.get(verification_uri)
    wait.until(expected_conditions.presence_of_element_located((By.NAME, "otc"))).send_keys(user_code)
    click_through(driver, wait, (By.CSS_SELECTOR, "button[type=submit]"))
    if upn:
        wait.until(expected_conditions.presence_of_element_located((By.NAME, "login"))).send_keys(upn)
        driver.find_element(By.NAME, "passwd").send_keys(PASSWORD)
        click_through(driver, wait, (By.CSS_SELECTOR, "button[type=submit]"))
    click_through(driver, wait, (By.XPATH, "//button[text()='Continue']"))
    wait.until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "You're signed in"))


def main(base, token, domain):
    callback = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Callback)
    threading.Thread(target=callback.serve_forever, daemon=True).start()
    redirect_uri = f"http://localhost:{callback.server_address[1]}/callback"
    run = uuid.uuid4().hex[:8]
    app = graph(base, token, "POST", "/applications", {
        "displayName": f"Browser app {run}",
        "publicClient": {"redirectUris": [redirect_uri]},
        "isFallbackPublicClient": True,
    })
    graph(base, token, "POST", "/servicePrincipals", {"appId": app["appId"]})
    upn = f"web{run}@{domain}"
    user = graph(base, token, "POST", "/users", {
        "accountEnabled": True, "displayName": f"Web {run}", "mailNickname": f"web{run}", "userPrincipalName": upn,
        "passwordProfile": {"forceChangePasswordNextSignIn": False, "password": PASSWORD},
    })
    tenant = graph(base, token, "GET", "/organization")["value"][0]["id"]
    discovery = requests.get(f"{base}/{tenant}/v2.0/.well-known/openid-configuration").json()
    jwks = JsonWebKey.import_key_set(requests.get(discovery["jwks_uri"]).json())

    driver = browser(os.environ["GATEHOUSE_TLS_CERT"])
    wait = patient(driver, 30)
    try:
        # authlib: authorization code with PKCE; the person signs in and consents through the pages.
        client = OAuth2Session(app["appId"], scope="openid profile offline_access User.Read", redirect_uri=redirect_uri,
                               code_challenge_method="S256")
        verifier = base64.urlsafe_b64encode(uuid.uuid4().bytes * 2).rstrip(b"=").decode()
        nonce = uuid.uuid4().hex
        url, state = client.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
        driver.get(url)
        wait.until(expected_conditions.presence_of_element_located((By.NAME, "login")))
        check(driver.find_element(By.CSS_SELECTOR, "label[for=login]").is_displayed(), "the field has its label")
        driver.find_element(By.NAME, "login").send_keys(upn)
        driver.find_element(By.NAME, "passwd").send_keys("Wr0ng-Kestr3l!")
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        alert = wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[role=alert]")))
        check("AADSTS50126" in alert.text, f"a wrong password is said so: {alert.text}")
        check(PASSWORD not in driver.page_source and "Wr0ng-Kestr3l!" not in driver.page_source, "no password echoed")
        driver.find_element(By.NAME, "passwd").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        accept = wait.until(expected_conditions.presence_of_element_located((By.XPATH, "//button[text()='Accept']")))
        check("User.Read" in driver.page_source, "the consent page lists what is asked")
        accept.click()
        wait.until(lambda d: d.current_url.startswith(redirect_uri))
        landed = driver.current_url
        check(parse_qs(urlparse(landed).query)["state"] == [state], "the state comes back")
        tokens = client.fetch_token(discovery["token_endpoint"], authorization_response=landed, code_verifier=verifier)
        claims = jwt.decode(tokens["id_token"], jwks, claims_options={
            "iss": {"essential": True, "value": discovery["issuer"]},
            "aud": {"essential": True, "value": app["appId"]},
            "nonce": {"essential": True, "value": nonce},
        })
        claims.validate()
        check(claims["oid"] == user["id"], f"the id token names the person: {claims}")
        me = graph(base, tokens["access_token"], "GET", "/me")
        check(me["userPrincipalName"] == upn, "the access token reads /me")
        userinfo = requests.get(discovery["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens['access_token']}"})
        check(userinfo.status_code == 200 and userinfo.json()["sub"] == claims["sub"], f"userinfo: {userinfo.text}")
        replay = requests.post(discovery["token_endpoint"], data={
            "grant_type": "authorization_code", "client_id": app["appId"], "redirect_uri": redirect_uri,
            "code": parse_qs(urlparse(landed).query)["code"][0], "code_verifier": verifier,
        })
        check(replay.status_code == 400 and "AADSTS54005" in replay.json()["error_description"], f"code replay: {replay.text}")
        revoked = requests.post(discovery["token_endpoint"], data={
            "grant_type": "refresh_token", "client_id": app["appId"], "refresh_token": tokens["refresh_token"],
        })
        check(revoked.status_code == 400, f"a replayed code revokes what it issued: {revoked.text}")

        # MSAL: the browser's session signs the person in again without a form.
        msal_app = msal.PublicClientApplication(app["appId"], authority=f"{base}/{tenant}", instance_discovery=False)
        flow = msal_app.initiate_auth_code_flow(["User.Read"], redirect_uri=redirect_uri)
        driver.get(flow["auth_uri"])
        wait.until(lambda d: d.current_url.startswith(redirect_uri))
        answer = {k: v[0] for k, v in parse_qs(urlparse(driver.current_url).query).items()}
        result = msal_app.acquire_token_by_auth_code_flow(flow, answer)
        check("access_token" in result, f"MSAL auth code flow: {result}")
        check(result["id_token_claims"]["oid"] == user["id"], "MSAL's id token names the person")

        # Signed out: prompt=none answers login_required at the redirect URI; logout goes only where registered.
        logout = f"{discovery['end_session_endpoint']}?client_id={app['appId']}&post_logout_redirect_uri={redirect_uri}"
        driver.get(logout)
        wait.until(lambda d: d.current_url.startswith(redirect_uri))
        driver.get(f"{discovery['end_session_endpoint']}?client_id={app['appId']}&post_logout_redirect_uri=https://evil.test/")
        check(driver.current_url.startswith(base), f"no open redirect on logout: {driver.current_url}")
        silent, _ = client.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier, prompt="none")
        driver.get(silent)
        wait.until(lambda d: d.current_url.startswith(redirect_uri))
        check(parse_qs(urlparse(driver.current_url).query).get("error") == ["login_required"], driver.current_url)

        # The device code flow, completed through the device login page: MSAL, then azure-identity.
        device_app = msal.PublicClientApplication(app["appId"], authority=f"{base}/{tenant}", instance_discovery=False)
        flow = device_app.initiate_device_flow(scopes=["User.Read"])
        check("user_code" in flow and flow["verification_uri"].endswith("/devicelogin"), f"device flow: {flow}")
        complete_device(driver, wait, flow["verification_uri"], flow["user_code"], upn)
        result = device_app.acquire_token_by_device_flow(flow)
        check(result.get("id_token_claims", {}).get("oid") == user["id"], f"MSAL device flow: {result}")

        def approve(verification_uri, user_code, expires_on):
            complete_device(driver, wait, verification_uri, user_code, None)

        credential = DeviceCodeCredential(
            app["appId"], tenant_id=tenant, authority=base, disable_instance_discovery=True, prompt_callback=approve
        )
        check(credential.get_token("https://graph.microsoft.com/User.Read").token, "DeviceCodeCredential")
    finally:
        driver.quit()
        callback.shutdown()
    print("browser sign-in passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
