"""The admin center in a real browser (Debian's Chromium, driven by Selenium). A Global Administrator signs
in at /admin, creates a user (a refused user name is said next to its field, the password never shown
again), finds the user by search, resets the password (a temporary one shown once), blocks sign-in and
deletes the user after confirming; builds a dynamic group whose rule is checked as it is typed and
previewed first;
assigns a licence through a group and sees its member get it and the seat counted; bulk-creates 10,000
users from Entra's template with a progress bar and a result file that gives each row's outcome, and
exports them again as CSV; sees a
group member's licence error with its fix; gives a user a role and takes it back after confirming; finds a failed sign-in and a user's creation in
the logs by their filters; registers an app whose client secret is shown once, and assigns a user to it; makes a Conditional Access
policy and judges sign-ins with What If; invites a guest; changes smart lockout, the banned-password list
and who may invite guests. A Helpdesk Administrator sees no way to create or delete users and no licences or roles, may
reset an ordinary user's password but not an administrator's, and is refused by the server when posting
the new-user form anyway. On My Account an ordinary user sees their groups and changes their password
(a wrong current one said at its field), which ends the session; then registers an authenticator app at
their security info, and the next sign-in asks for its code. axe-core checks every page for serious and critical accessibility violations.
Screenshots of the main pages go to GATEHOUSE_SCREENSHOTS when it is set.

Usage: browser_admin.py BASE_URL TOKEN DOMAIN CA_PEM, with the server's certificate in GATEHOUSE_TLS_CERT.
"""

import csv
import io
import os
import re
import sys
import time
import uuid

import pyotp
import requests
from axe_selenium_python import Axe
from browser_passwords import describe, fill
from browser_sign_in import browser, graph, patient, replaced
from graph_client import check
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
HELPDESK_ADMINISTRATOR = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
PASSWORD = "Adm1n-Kestr3l-Centre"
IMPORTED = 10_000


def person(base, token, domain, name, role=None, department=None):
    nickname = name.lower().replace(" ", "")
    body = {
        "accountEnabled": True, "displayName": name, "mailNickname": nickname,
        "userPrincipalName": f"{nickname}@{domain}",
        "passwordProfile": {"forceChangePasswordNextSignIn": False, "password": PASSWORD},
    }
    if department:
        body["department"] = department
    user = graph(base, token, "POST", "/users", body)
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
        driver.set_window_size(1280, 900)
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(os.path.join(folder, f"{name}.png"))


def cookies(driver):
    """The browser's cookies, for a file the page links to."""
    return {c["name"]: c["value"] for c in driver.get_cookies()}


def heading(driver):
    return driver.find_element(By.TAG_NAME, "h1").text


def press(driver, value):
    """Presses the action button with this value (the form's only submit button, for an empty value) and waits
    for the next page."""
    page = driver.find_element(By.TAG_NAME, "html")
    selector = f"button[value='{value}']" if value else "main form button[type=submit]"
    driver.find_element(By.CSS_SELECTOR, selector).click()
    patient(driver, 30).until(replaced(page))


def submit(driver, values, button):
    """Fills the form's fields (by their ids: a page may carry hidden fields of the same name), presses the
    button with this value, and waits for the next page."""
    for name, value in values.items():
        field = driver.find_element(By.ID, name)
        field.clear()
        field.send_keys(value)
    press(driver, button)


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

        # Deleted users: restored from their page; then a property edited, and the list filtered by it.
        driver.find_element(By.LINK_TEXT, "Deleted users").click()
        accessible(driver, "deleted users")
        page = driver.find_element(By.TAG_NAME, "html")
        driver.find_element(By.CSS_SELECTOR, f"button[aria-label='Restore {name}']").click()
        patient(driver, 30).until(replaced(page))
        check("was restored" in driver.find_element(By.CSS_SELECTOR, "[role=status]").text, "the page says so")
        check(graph(base, token, "GET", f"/users/{neo['id']}")["id"] == neo["id"], "the user is back")
        driver.get(user_page)
        submit(driver, {"department": f"Finance {run}", "usageLocation": "NO"}, "edit")
        edited = graph(base, token, "GET", f"/users/{neo['id']}?$select=department,usageLocation")
        check((edited["department"], edited["usageLocation"]) == (f"Finance {run}", "NO"), f"the edit: {edited}")
        driver.get(f"{base}/{domain}/admin/users")
        submit(driver, {"department": f"Finance {run}"}, "1")
        rows = driver.find_elements(By.CSS_SELECTOR, "tbody tr")
        check([r.text.split()[0] for r in rows] == ["Neo"], f"the department's users: {[r.text for r in rows]}")
        accessible(driver, "the filtered users")

        # Groups: a dynamic group's rule checked and previewed before it is made.
        graph(base, token, "POST", "/subscribedSkus", {"skuPartNumber": "ENTERPRISEPACK", "prepaidUnits": {"enabled": 5}})
        sam = person(base, token, domain, f"Sam {run}", department="Sales")
        driver.get(f"{base}/{domain}/admin/groups/new")
        check(heading(driver) == "New group", heading(driver))
        accessible(driver, "the new-group form")
        driver.find_element(By.ID, "membership-dynamic").click()
        # As you type: the page's script asks the server about the rule after a pause and says what it found.
        rule = driver.find_element(By.ID, "membershipRule")
        rule.send_keys('user.department -eq')
        live = lambda d: d.find_element(By.ID, "rule-live").text
        patient(driver, 10).until(lambda d: live(d) and "valid" not in live(d))
        check(rule.get_attribute("aria-invalid") == "true", f"said as you type: {live(driver)}")
        rule.send_keys(' "Sales"')
        patient(driver, 10).until(lambda d: "1 user matches" in live(d))
        rule.clear()
        submit(driver, {"displayName": f"Sales {run}", "membershipRule": 'user.department -eq'}, "preview")
        check(driver.find_elements(By.ID, "membershipRule-error"), "a broken rule is said at the rule")
        submit(driver, {"membershipRule": 'user.department -eq "Sales"'}, "preview")
        matched = driver.find_element(By.ID, "matched").text
        check("1 user matches" in matched, f"the preview counts the users: {matched}")
        check(sam["userPrincipalName"] in driver.find_element(By.CSS_SELECTOR, "section table").text, "and shows them")
        check(driver.find_element(By.ID, "membership-dynamic").is_selected(), "the choices stay")
        accessible(driver, "the rule's preview")
        shot(driver, "admin-new-group-preview")
        press(driver, "create")
        check(heading(driver) == f"Sales {run}", f"the dynamic group's page: {heading(driver)}")
        check("Dynamic" in driver.page_source, "its membership is dynamic")

        # A licence through a group: its member gets it.
        driver.get(f"{base}/{domain}/admin/groups/new")
        submit(driver, {"displayName": f"Licensed {run}"}, "create")
        check(heading(driver) == f"Licensed {run}", heading(driver))
        licensed_page = driver.current_url
        submit(driver, {"owner": sam["userPrincipalName"]}, "add-owner")
        licensed_id = licensed_page.rsplit("/", 1)[1]
        owners = graph(base, token, "GET", f"/groups/{licensed_id}/owners")["value"]
        check([o["id"] for o in owners] == [sam["id"]], f"Sam owns the group: {owners}")
        submit(driver, {"member": plain["userPrincipalName"]}, "add-member")
        members = driver.find_element(By.XPATH, "//table[caption='Direct members (the first hundred)']").text
        check(plain["userPrincipalName"] in members, f"the member is listed: {members}")
        press(driver, "assign-license")
        check("ENTERPRISEPACK" in driver.find_element(By.ID, "licences").text, "the group holds the licence")
        accessible(driver, "the group's page")
        shot(driver, "admin-group")
        for _ in range(200):
            held = graph(base, token, "GET", f"/users/{plain['id']}?$select=assignedLicenses")["assignedLicenses"]
            if held:
                break
            time.sleep(0.1)
        check(held, "the member holds the group's licence")
        driver.get(f"{base}/{domain}/admin/licenses")
        accessible(driver, "the licences page")
        consumed = driver.find_element(By.CSS_SELECTOR, "td.consumed").text
        check(consumed == "1", f"one seat is taken: {consumed}")
        shot(driver, "admin-licences")

        # A product with one seat for a group of two: the group's page names the member left without it,
        # the error and its fix; the member's own page shows where their licences come from.
        graph(base, token, "POST", "/subscribedSkus", {"skuPartNumber": "AAD_PREMIUM", "prepaidUnits": {"enabled": 1}})
        driver.get(licensed_page)
        submit(driver, {"member": sam["userPrincipalName"]}, "add-member")
        Select(driver.find_element(By.ID, "sku")).select_by_visible_text("AAD_PREMIUM")
        press(driver, "assign-license")
        for _ in range(100):
            driver.get(licensed_page)
            errors = driver.find_elements(By.CSS_SELECTOR, "td.licence-error")
            if errors:
                break
            time.sleep(0.2)
        check([e.text for e in errors] == ["CountViolation"], f"one member's licence is in error: {[e.text for e in errors]}")
        check("Not enough licences" in driver.page_source, "with its fix")
        accessible(driver, "the group's licence errors")
        shot(driver, "admin-group-licence-errors")
        driver.get(f"{base}/{domain}/admin/licenses")
        erring = driver.find_element(By.XPATH, "//table[starts-with(caption, 'Groups with members')]").text
        check(f"Licensed {run}" in erring, f"the licences page names the group in error: {erring}")
        driver.get(f"{base}/{domain}/admin/users/{plain['id']}")
        licences = driver.find_element(By.XPATH, "//table[caption='Licences']").text
        check("ENTERPRISEPACK" in licences and "a group" in licences, f"the user's licences: {licences}")
        driver.get(user_page)
        Select(driver.find_element(By.ID, "sku")).select_by_visible_text("ENTERPRISEPACK")
        press(driver, "assign-license")
        held = graph(base, token, "GET", f"/users/{neo['id']}?$select=assignedLicenses")["assignedLicenses"]
        check(len(held) == 1, f"a licence assigned directly: {held}")
        licences = driver.find_element(By.XPATH, "//table[caption='Licences']").text
        check("ENTERPRISEPACK Direct" in licences, f"shown as direct: {licences}")
        press(driver, "remove-license")
        held = graph(base, token, "GET", f"/users/{neo['id']}?$select=assignedLicenses")["assignedLicenses"]
        check(held == [], f"and removed: {held}")

        # Roles: who holds Helpdesk Administrator; a role given to a user and taken back after confirming.
        driver.find_element(By.LINK_TEXT, "Roles").click()
        check(heading(driver) == "Roles and administrators", heading(driver))
        accessible(driver, "the roles page")
        shot(driver, "admin-roles")
        driver.find_element(By.LINK_TEXT, "Helpdesk Administrator").click()
        check(hal["userPrincipalName"] in driver.find_element(By.CSS_SELECTOR, "tbody").text, "Hal holds the role")
        submit(driver, {"member": plain["userPrincipalName"]}, "add")
        held = graph(base, token, "GET", f"/roleManagement/directory/roleAssignments?$filter=principalId eq '{plain['id']}'")
        check([a["roleDefinitionId"] for a in held["value"]] == [HELPDESK_ADMINISTRATOR], f"Graph sees the assignment: {held}")
        accessible(driver, "a role's page")
        page = driver.find_element(By.TAG_NAME, "html")
        driver.find_element(By.CSS_SELECTOR, f"button[aria-label='Remove {plain['displayName']}']").click()
        patient(driver, 30).until(replaced(page))
        check(heading(driver) == "Remove this assignment?", heading(driver))
        press(driver, "remove-confirmed")
        held = graph(base, token, "GET", f"/roleManagement/directory/roleAssignments?$filter=principalId eq '{plain['id']}'")
        check(held["value"] == [], f"and the removal: {held}")

        # Bulk create: 10,000 users from Entra's template, with progress, and a result file with each row's
        # outcome (a taken user name and a bad "Block sign in" fail on their own rows).
        driver.find_element(By.LINK_TEXT, "Bulk create").click()
        check(heading(driver) == "Bulk create users", heading(driver))
        accessible(driver, "the bulk create form")
        template = requests.get(f"{base}/{domain}/admin/users/template.csv", cookies=cookies(driver))
        columns = template.text.splitlines()[1]
        check(template.text.startswith("version:v1.0") and "[userPrincipalName]" in columns, template.text[:300])
        lines = ["version:v1.0", columns]
        for n in range(IMPORTED):
            lines.append(f"Bulk {run} {n:05},bulk{run}-{n:05}@{domain},No" + "," * (columns.count(",") - 2))
        lines[2 + 17] = lines[2 + 17].replace(f"bulk{run}-00017", plain["userPrincipalName"].split("@")[0])
        lines[2 + 42] = lines[2 + 42].replace(",No", ",Maybe", 1)
        upload = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"bulk-{run}.csv")
        with open(upload, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        driver.find_element(By.ID, "file").send_keys(upload)
        started = time.monotonic()
        page = driver.find_element(By.TAG_NAME, "html")
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        patient(driver, 30).until(replaced(page))
        progress = driver.find_element(By.ID, "progress")
        check(progress.get_attribute("max") == str(IMPORTED), f"the progress bar: {progress.get_attribute('outerHTML')}")
        accessible(driver, "the import's progress")
        shot(driver, "admin-import-progress")
        seen = set()

        def finished(d):
            """The page reloads itself while the import runs: between two loads nothing is found, and waiting
            goes on."""
            seen.add(int(d.find_element(By.ID, "progress").get_attribute("value")))
            return "Finished" in d.find_element(By.ID, "import-state").text

        patient(driver, 600).until(finished)
        check(min(seen) < IMPORTED, f"the bar showed the import under way: {sorted(seen)}")
        elapsed = time.monotonic() - started
        state = driver.find_element(By.ID, "import-state").text
        check(state == f"Finished: {IMPORTED - 2} created, 2 failed, of {IMPORTED} rows.", state)
        check(driver.find_element(By.ID, "progress").get_attribute("value") == str(IMPORTED), "the bar is full")
        shot(driver, "admin-import-finished")
        results = requests.get(driver.find_element(By.ID, "results").get_attribute("href"), cookies=cookies(driver))
        rows = list(csv.DictReader(io.StringIO(results.text)))
        check(len(rows) == IMPORTED, f"a result for every row: {len(rows)}")
        failed = {r["row"]: r for r in rows if r["status"] == "failed"}
        check(sorted(failed) == ["18", "43"], f"the failed rows: {failed}")
        check("Maybe" in failed["43"]["detail"], f"why row 43 failed: {failed['43']}")
        made = graph(base, token, "GET", f"/users/bulk{run}-09999@{domain}")
        check(next(r for r in rows if r["row"] == str(IMPORTED))["detail"] == made["id"], "the result names the new id")
        print(f"imported {IMPORTED} rows in {elapsed:.1f} s; progress values seen: {sorted(seen)}")

        # Export: the users list as it is searched, in the template (so it imports back), read over many pages.
        driver.get(f"{base}/{domain}/admin/users?search=Bulk {run}")
        exported = requests.get(driver.find_element(By.ID, "download").get_attribute("href"), cookies=cookies(driver))
        lines = exported.text.splitlines()
        check(lines[:2] == template.text.splitlines()[:2], f"the template's header: {lines[:2]}")
        check(len(lines) == 2 + IMPORTED - 2, f"every imported user but the two that failed: {len(lines)}")
        check(lines[2].startswith(f"Bulk {run} 00000,bulk{run}-00000@{domain},No"), f"in name order: {lines[2]}")

        # An app registration: a client secret shown once, which signs the app in until it is removed; a user
        # assigned to the app.
        driver.find_element(By.LINK_TEXT, "Apps").click()
        driver.find_element(By.LINK_TEXT, "New registration").click()
        accessible(driver, "the new registration form")
        submit(driver, {"displayName": f"Portal {run}", "redirectUri": "https://portal.example/callback"}, "")
        check(heading(driver) == f"Portal {run}", heading(driver))
        app_id = driver.find_element(By.ID, "app-id").text
        submit(driver, {"description": "CI"}, "add-secret")
        secret = driver.find_element(By.ID, "secret").text
        accessible(driver, "an application's page")
        shot(driver, "admin-app")
        tenant_id = graph(base, token, "GET", "/organization")["value"][0]["id"]
        signs_in = lambda: requests.post(f"{base}/{tenant_id}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": app_id, "client_secret": secret,
            "scope": "https://graph.microsoft.com/.default"}).status_code
        check(signs_in() == 200, "the new secret signs the app in")
        driver.get(driver.current_url)
        check(secret not in driver.page_source, "the secret is shown only once")
        submit(driver, {"principal": plain["userPrincipalName"]}, "assign")
        sp = graph(base, token, "GET", f"/servicePrincipals?$filter=appId eq '{app_id}'")["value"][0]
        assigned = graph(base, token, "GET", f"/servicePrincipals/{sp['id']}/appRoleAssignedTo")["value"]
        check([a["principalId"] for a in assigned] == [plain["id"]], f"Pia is assigned: {assigned}")
        press(driver, "remove-secret")
        check(heading(driver) == "Remove this client secret?", heading(driver))
        press(driver, "remove-secret-confirmed")
        check(signs_in() == 401, "the removed secret no longer signs in")

        # The logs: a wrong password found by its error code, the new user's creation by its category.
        attempt = requests.Session()
        form = attempt.get(f"{base}/{domain}/admin").text
        fields = dict(re.findall(r'name="(ctx|csrf)" value="([^"]*)"', form))
        attempt.post(f"{base}/{domain}/admin", data={**fields, "login": plain["userPrincipalName"], "passwd": "wrong-Kestr3l-1"})
        driver.find_element(By.LINK_TEXT, "Sign-in logs").click()
        check(heading(driver) == "Sign-in logs", heading(driver))
        submit(driver, {"error": "50126"}, "")
        rows = driver.find_element(By.CSS_SELECTOR, "tbody").text
        check(plain["userPrincipalName"].lower() in rows.lower() and "Failure 50126" in rows, f"the failed sign-in: {rows}")
        check(ada["userPrincipalName"].lower() not in rows.lower(), f"and only failures: {rows}")
        submit(driver, {"error": "", "user": ada["userPrincipalName"]}, "")
        rows = driver.find_element(By.CSS_SELECTOR, "tbody").text
        check("Azure Portal" in rows and "Success" in rows, f"Ada's sign-ins to the admin center: {rows}")
        accessible(driver, "the sign-in logs")
        shot(driver, "admin-sign-in-logs")
        driver.find_element(By.LINK_TEXT, "Audit logs").click()
        Select(driver.find_element(By.ID, "category")).select_by_visible_text("UserManagement")
        submit(driver, {"activity": "Add user", "target": f"bulk{run}-00005@{domain}"}, "")
        rows = driver.find_element(By.CSS_SELECTOR, "tbody").text
        check(rows.count("Add user") == 1 and ada["userPrincipalName"] in rows, f"an imported user's creation, by Ada: {rows}")
        submit(driver, {"activity": "", "target": neo["id"]}, "")
        rows = driver.find_element(By.CSS_SELECTOR, "tbody").text
        check("Add user" in rows and "Delete user" in rows, f"the deleted user's history, by its id: {rows}")
        accessible(driver, "the audit logs")

        # Conditional Access: a policy made for one user, judged by What If for them and for another, then
        # deleted after confirming.
        driver.find_element(By.LINK_TEXT, "Conditional Access").click()
        submit(driver, {"displayName": f"MFA for Pia {run}", "who": plain["userPrincipalName"]}, "create")
        Select(driver.find_element(By.CSS_SELECTOR, "select[id^='state-']")).select_by_visible_text("On")
        press(driver, "state")
        check(driver.find_element(By.CSS_SELECTOR, "td.policy-state").text == "On", "the policy is on")
        policies = graph(base, token, "GET", "/identity/conditionalAccess/policies")["value"]
        check([p["state"] for p in policies] == ["enabled"], f"Graph sees the policy: {policies}")
        submit(driver, {"user": plain["userPrincipalName"]}, "1")
        check(driver.find_element(By.CSS_SELECTOR, "td.applies").text == "Applies", "it applies to Pia")
        accessible(driver, "Conditional Access with What If")
        shot(driver, "admin-conditional-access")
        submit(driver, {"user": sam["userPrincipalName"]}, "1")
        check(driver.find_element(By.CSS_SELECTOR, "td.applies").text == "Does not apply", "not to Sam")
        check("users" in driver.find_element(By.CSS_SELECTOR, "section tbody").text, "because of its users")
        press(driver, "delete")
        press(driver, "delete-confirmed")
        check(graph(base, token, "GET", "/identity/conditionalAccess/policies")["value"] == [], "the policy is gone")

        # Guests: an invitation made, its link shown, the guest listed until they accept.
        driver.find_element(By.LINK_TEXT, "Guests").click()
        driver.find_element(By.ID, "send").click()
        submit(driver, {"invitedUserEmailAddress": f"partner{run}@example.org"}, "invite")
        check("/redeem" in driver.find_element(By.ID, "redeem").get_attribute("href"), "the link to accept")
        check("Pending acceptance" in driver.find_element(By.CSS_SELECTOR, "tbody").text, "the guest is listed")
        accessible(driver, "the guests page")
        shot(driver, "admin-guests")

        # Settings: smart lockout and the banned list, and who may invite guests.
        driver.find_element(By.LINK_TEXT, "Settings").click()
        submit(driver, {"threshold": "7", "banned": f"kestrel{run}\ncontosocorp"}, "password-rules")
        rules = {v["name"]: v["value"] for v in graph(base, token, "GET", "/groupSettings")["value"][0]["values"]}
        check(rules["LockoutThreshold"] == "7" and rules["BannedPasswordList"] == f"kestrel{run}\tcontosocorp",
              f"Graph sees the password rules: {rules}")
        Select(driver.find_element(By.ID, "invites")).select_by_visible_text("Administrators and Guest Inviters")
        press(driver, "collaboration")
        policy = graph(base, token, "GET", "/policies/authorizationPolicy")
        check(policy["allowInvitesFrom"] == "adminsAndGuestInviters", f"and the collaboration policy: {policy}")
        accessible(driver, "the settings page")
        shot(driver, "admin-settings")

        # Signing out ends the admin center's session.
        driver.find_element(By.LINK_TEXT, "Sign out").click()
        driver.get(f"{base}/{domain}/admin/users")
        check(heading(driver) == "Sign in", f"signed out: {heading(driver)}")

        # A Helpdesk Administrator: no creating or deleting, resets for ordinary users only.
        sign_in(driver, base, domain, hal["userPrincipalName"])
        check(not driver.find_elements(By.LINK_TEXT, "New user"), "no new-user link for Helpdesk")
        check(not driver.find_elements(By.LINK_TEXT, "Licences"), "no licences link for Helpdesk")
        check(not driver.find_elements(By.LINK_TEXT, "Bulk create"), "no bulk create for Helpdesk")
        check(not driver.find_elements(By.LINK_TEXT, "Roles"), "no roles link for Helpdesk")
        check(not driver.find_elements(By.LINK_TEXT, "Audit logs"), "no logs for Helpdesk")
        check(not driver.find_elements(By.LINK_TEXT, "Conditional Access"), "no Conditional Access for Helpdesk")
        check(not driver.find_elements(By.LINK_TEXT, "Settings"), "no settings for Helpdesk")
        driver.get(f"{base}/{domain}/admin/logs/audit")
        check(heading(driver) == "Not done", f"nor the audit logs: {heading(driver)}")
        driver.get(f"{base}/{domain}/admin/roles")
        check(heading(driver) == "Not done", f"nor the roles page: {heading(driver)}")
        driver.get(f"{base}/{domain}/admin/licenses")
        check(heading(driver) == "Not done", f"nor the licences page: {heading(driver)}")
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

        # My Account: an ordinary user's profile and groups, and their own password change.
        mo = person(base, token, domain, f"Mo {run}")
        licensed = graph(base, token, "GET", f"/groups?$filter=displayName eq 'Licensed {run}'")["value"][0]
        graph(base, token, "POST", f"/groups/{licensed['id']}/members/$ref",
              {"@odata.id": f"{base}/v1.0/directoryObjects/{mo['id']}"})
        graph(base, token, "POST", f"/servicePrincipals/{sp['id']}/appRoleAssignedTo",
              {"principalId": mo["id"], "resourceId": sp["id"], "appRoleId": "00000000-0000-0000-0000-000000000000"})
        driver.delete_all_cookies()
        driver.get(f"{base}/{domain}/myaccount")
        fill(driver, {"login": mo["userPrincipalName"], "passwd": PASSWORD})
        check(heading(driver) == mo["displayName"], f"My Account: {heading(driver)}")
        launcher = driver.find_element(By.CSS_SELECTOR, "#apps a")
        check((launcher.text, launcher.get_attribute("href")) == (f"Portal {run}", "https://portal.example/"),
              f"My apps: {launcher.get_attribute('outerHTML')}")
        recent = driver.find_element(By.XPATH, "//table[caption='Your recent sign-ins, newest first']").text
        check("My Profile" in recent and "Successful" in recent, f"the sign-in to My Account itself: {recent}")
        accessible(driver, "My Account")
        shot(driver, "myaccount")
        groups = driver.find_element(By.CSS_SELECTOR, "table").text
        check(f"Licensed {run}" in groups, f"the user's groups: {groups}")
        new = "Kestr3l-Anew-Mo-77"
        submit(driver, {"currentPassword": "not-the-password", "newPassword": new, "confirmNewPassword": new},
               "change-password")
        check(driver.find_elements(By.ID, "currentPassword-error"), "a wrong current password is said at its field")
        submit(driver, {"currentPassword": PASSWORD, "newPassword": new, "confirmNewPassword": new}, "change-password")
        check(heading(driver) == "Password changed", heading(driver))
        driver.get(f"{base}/{domain}/myaccount")
        check(heading(driver) == "Sign in", "the change ended the session")
        fill(driver, {"login": mo["userPrincipalName"], "passwd": new})
        check(heading(driver) == mo["displayName"], f"signed in with the new password: {heading(driver)}")

        # Security info, from My Account: an authenticator app registered by its QR code's key, then asked for
        # at the next sign-in, though no policy requires it.
        driver.find_element(By.LINK_TEXT, "Security info").click()
        check(heading(driver) == "Security info", heading(driver))
        check(driver.find_elements(By.CSS_SELECTOR, "#qr svg"), "a QR code to scan")
        accessible(driver, "security info")
        shot(driver, "security-info")
        app = pyotp.TOTP(driver.find_element(By.ID, "secret").text)
        fill(driver, {"otc": app.now()})
        check("was added" in driver.find_element(By.CSS_SELECTOR, "[role=status]").text, "the app was added")
        check(driver.find_elements(By.CSS_SELECTOR, "#methods button[value=remove]"), "it can be removed")
        driver.find_element(By.LINK_TEXT, "Sign out").click()
        driver.get(f"{base}/{domain}/myaccount")
        fill(driver, {"login": mo["userPrincipalName"], "passwd": new})
        check(heading(driver) == "Enter code", f"the next sign-in asks for the app's code: {heading(driver)}")
        accessible(driver, "the code form")
        fill(driver, {"otc": app.at(time.time() + 30)})
        check(heading(driver) == mo["displayName"], f"signed in with the code: {heading(driver)}")
    except Exception:
        describe(driver)
        raise
    finally:
        driver.quit()
    print("browser admin passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
