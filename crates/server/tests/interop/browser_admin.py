"""The admin center in a real browser (Debian's Chromium, driven by Selenium). A Global Administrator signs
in at /admin, creates a user (a refused user name is said next to its field, the password never shown
again), finds the user by search, resets the password (a temporary one shown once), blocks sign-in and
deletes the user after confirming. A Helpdesk Administrator sees no way to create or delete users, may
reset an ordinary user's password but not an administrator's, and is refused by the server when posting
the new-user form anyway. axe-core checks every page for serious and critical accessibility violations.
Screenshots of the main pages go to GATEHOUSE_SCREENSHOTS when it is set.

Usage: browser_admin.py BASE_URL TOKEN DOMAIN CA_PEM, with the server's certificate in GATEHOUSE_TLS_CERT.
"""

import os
import sys
import uuid

from axe_selenium_python import Axe
from browser_passwords import describe, fill
from browser_sign_in import browser, graph, patient, replaced
from graph_client import check
from selenium.webdriver.common.by import By

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
HELPDESK_ADMINISTRATOR = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
PASSWORD = "Adm1n-Kestr3l-Centre"


def person(base, token, domain, name, role=None):
    nickname = name.lower().replace(" ", "")
    user = graph(base, token, "POST", "/users", {
        "accountEnabled": True, "displayName": name, "mailNickname": nickname,
        "userPrincipalName": f"{nickname}@{domain}",
        "passwordProfile": {"forceChangePasswordNextSignIn": False, "password": PASSWORD},
    })
    if role:
        graph(base, token, "POST", "/roleManagement/directory/roleAssignments",
              {"roleDefinitionId": role, "principalId": user["id"], "directoryScopeId": "/"})
    return user


def accessible(driver, page):
    """axe-core on the loaded page: no serious or critical violation."""
    axe = Axe(driver)
    axe.inject()
    results = axe.run()
    bad = [v for v in results["violations"] if v.get("impact") in ("serious", "critical")]
    check(not bad, f"{page}: accessibility violations: {[(v['id'], v['help']) for v in bad]}")


def shot(driver, name):
    folder = os.environ.get("GATEHOUSE_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        driver.set_window_size(1280, 800)
        driver.save_screenshot(os.path.join(folder, f"{name}.png"))


def heading(driver):
    return driver.find_element(By.TAG_NAME, "h1").text


def press(driver, value):
    """Presses the action button with this value and waits for the next page."""
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, f"button[value='{value}']").click()
    patient(driver, 30).until(replaced(page))


def sign_in(driver, base, domain, upn):
    driver.delete_all_cookies()
    driver.get(f"{base}/admin")
    accessible(driver, "the tenant form")
    fill(driver, {"tenant": domain})
    check(heading(driver) == "Sign in", f"the sign-in form: {heading(driver)}")
    accessible(driver, "the sign-in form")
    shot(driver, "admin-sign-in")
    fill(driver, {"login": upn, "passwd": PASSWORD})
    check(heading(driver) == "Users", f"signed in to the users page: {heading(driver)}")


def main(base, token, domain):
    run = uuid.uuid4().hex[:6]
    ada = person(base, token, domain, f"Ada {run}", GLOBAL_ADMINISTRATOR)
    hal = person(base, token, domain, f"Hal {run}", HELPDESK_ADMINISTRATOR)
    plain = person(base, token, domain, f"Pia {run}")
    driver = browser(os.environ["GATEHOUSE_TLS_CERT"])
    try:
        sign_in(driver, base, domain, ada["userPrincipalName"])
        accessible(driver, "the users page")
        shot(driver, "admin-users")
        check(driver.find_elements(By.LINK_TEXT, "New user"), "a Global Administrator may create users")

        # A new user: the refused user name is said next to its field; the password is never shown again.
        driver.find_element(By.LINK_TEXT, "New user").click()
        check(heading(driver) == "New user", heading(driver))
        accessible(driver, "the new-user form")
        name = f"Neo {run}"
        fill(driver, {"displayName": name, "userPrincipalName": f"neo{run}@unverified.example",
                      "password": "Tr1nity-Kestr3l-Neo"})
        errors = driver.find_elements(By.ID, "userPrincipalName-error")
        check(errors and errors[0].text, f"the user name's problem is next to it: {driver.page_source[:2000]}")
        check(driver.find_element(By.ID, "displayName").get_attribute("value") == name, "what was entered stays")
        check(driver.find_element(By.ID, "password").get_attribute("value") == "", "the password is not echoed")
        accessible(driver, "the new-user form with an error")
        shot(driver, "admin-new-user-error")
        fill(driver, {"userPrincipalName": f"neo{run}@{domain}", "password": "Tr1nity-Kestr3l-Neo"})
        check(heading(driver) == name, f"the new user's page: {heading(driver)}")
        check("created" in driver.find_element(By.CSS_SELECTOR, "[role=status]").text, "the page says it was made")
        user_page = driver.current_url
        neo = graph(base, token, "GET", f"/users/neo{run}@{domain}")

        # Search as you would type it.
        driver.get(f"{base}/{domain}/admin/users?search=Neo")
        rows = driver.find_elements(By.CSS_SELECTOR, "tbody tr")
        check(len(rows) == 1 and f"neo{run}@{domain}" in rows[0].text, f"the search finds the user: {[r.text for r in rows]}")

        # Reset the password: a temporary one, shown once.
        driver.get(user_page)
        accessible(driver, "the user's page")
        shot(driver, "admin-user")
        press(driver, "reset")
        temporary = driver.find_element(By.ID, "temporary").text
        check(len(temporary) == 16, f"a temporary password: {temporary!r}")
        driver.get(user_page)
        check(temporary not in driver.page_source, "the password is shown only once")

        # Block sign-in; then delete, after confirming.
        press(driver, "disable")
        check(driver.find_element(By.ID, "state").text == "Blocked", "sign-in is blocked")
        check(graph(base, token, "GET", f"/users/{neo['id']}?$select=accountEnabled")["accountEnabled"] is False,
              "Graph sees the block")
        press(driver, "delete")
        check(heading(driver) == f"Delete {name}?", f"a confirmation first: {heading(driver)}")
        accessible(driver, "the delete confirmation")
        shot(driver, "admin-delete-confirmation")
        press(driver, "delete-confirmed")
        check(heading(driver) == "Users", heading(driver))
        deleted = graph(base, token, "GET", f"/directory/deletedItems/{neo['id']}")
        check(deleted["id"] == neo["id"], "the user is in deleted items")

        # A Helpdesk Administrator: no creating or deleting, resets for ordinary users only.
        sign_in(driver, base, domain, hal["userPrincipalName"])
        check(not driver.find_elements(By.LINK_TEXT, "New user"), "no new-user link for Helpdesk")
        driver.get(f"{base}/{domain}/admin/users/{plain['id']}")
        buttons = [b.get_attribute("value") for b in driver.find_elements(By.CSS_SELECTOR, ".actions button")]
        check(buttons == ["reset", "revoke"], f"Helpdesk's actions: {buttons}")
        press(driver, "reset")
        check(len(driver.find_element(By.ID, "temporary").text) == 16, "Helpdesk resets an ordinary user")
        driver.get(f"{base}/{domain}/admin/users/{ada['id']}")
        press(driver, "reset")
        check(heading(driver) == "Not done", f"not a Global Administrator's password: {heading(driver)}")
        driver.get(f"{base}/{domain}/admin/users/new")
        fill(driver, {"displayName": "Eve", "userPrincipalName": f"eve{run}@{domain}", "password": "Tr1nity-Kestr3l-Eve"})
        alert = driver.find_element(By.CSS_SELECTOR, "[role=alert]").text
        check("privileges" in alert, f"the server refuses Helpdesk's new user: {alert}")
        users = graph(base, token, "GET", f"/users?$filter=startsWith(userPrincipalName,'eve{run}')")
        check(users["value"] == [], "and nobody was made")
    except Exception:
        describe(driver)
        raise
    finally:
        driver.quit()
    print("browser admin passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
