"""The admin center as a browser without script uses it, for the benchmarks.

  admin_web.py session BASE TENANT BOOT_JSON
      signs the bootstrap Global Administrator in at /{tenant}/admin through the sign-in form (its CSRF
      token and cookie as a browser sends them) and prints the session cookie's value.
  admin_web.py import BASE TENANT BOOT_JSON USERS PREFIX [--passwords]
      signs in the same way, uploads USERS users (PREFIX0000001…, with initial passwords when asked) in
      Entra's bulk-create template at /{tenant}/admin/users/import, follows the import's progress page to
      its end and prints one JSON line: users, seconds from the upload to the end, users a second.
"""

import http.cookiejar
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid


class Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def signed_in(base, tenant, boot):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), Stay)
    page = opener.open(f"{base}/{tenant}/admin").read().decode()
    fields = dict(re.findall(r'name="(ctx|csrf)" value="([^"]*)"', page))
    fields.update(login=boot["adminUserPrincipalName"], passwd=boot["adminPassword"])
    try:
        opener.open(f"{base}/{tenant}/admin", data=urllib.parse.urlencode(fields).encode())
    except urllib.error.HTTPError as answer:
        if answer.code != 302:
            raise
    return opener, jar


def template(users, prefix, domain, passwords):
    columns = ["Name [displayName] Required", "User name [userPrincipalName] Required",
               "Initial password [passwordProfile] Required", "Block sign in (Yes/No) [accountEnabled] Required",
               "Department [department]"]
    lines = ["version:v1.0", ",".join(columns)]
    for n in range(users):
        password = f"Kestr3l-{n:07}-Bulk" if passwords else ""
        lines.append(f"{prefix} {n:07},{prefix}{n:07}@{domain},{password},No,Sales")
    return ("\n".join(lines) + "\n").encode()


def upload(opener, base, tenant, text):
    page = opener.open(f"{base}/{tenant}/admin/users/import").read().decode()
    fields = dict(re.findall(r'name="(ctx|csrf)" value="([^"]*)"', page))
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="users.csv"\r\n'
                 f"Content-Type: text/csv\r\n\r\n".encode() + text + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{base}/{tenant}/admin/users/import", data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        opener.open(request)
    except urllib.error.HTTPError as answer:
        if answer.code != 303:
            raise
        return answer.headers["Location"]
    raise RuntimeError("the upload did not start an import")


def main():
    command, base, tenant, boot = sys.argv[1], sys.argv[2], sys.argv[3], json.load(open(sys.argv[4]))
    opener, jar = signed_in(base, tenant, boot)
    if command == "session":
        print(next(c.value for c in jar if c.name == "gatehouse_session"))
        return
    users, prefix, passwords = int(sys.argv[5]), sys.argv[6], "--passwords" in sys.argv[7:]
    domain = boot["adminUserPrincipalName"].split("@")[1]
    text = template(users, prefix, domain, passwords)
    started = time.monotonic()
    progress = upload(opener, base, tenant, text)
    while True:
        page = opener.open(f"{base}{progress}").read().decode()
        state = re.search(r'id="import-state">([^<]*)<', page).group(1)
        if not state.startswith("Creating"):
            break
        time.sleep(0.05)
    seconds = time.monotonic() - started
    expected = f"Finished: {users} created, 0 failed, of {users} rows."
    if state != expected:
        raise RuntimeError(f"the import ended otherwise: {state}")
    kind = "with initial passwords" if passwords else "without passwords"
    print(json.dumps({"name": f"admin center bulk create, {kind}", "users": users, "seconds": round(seconds, 2),
                      "users_per_second": round(users / seconds)}))


if __name__ == "__main__":
    main()
