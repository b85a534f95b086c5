"""An SMTP server on loopback for the tests of outgoing email over TLS: STARTTLS (`starttls`) or TLS from the
first byte (`tls`), with the certificate and key given, a login required (AUTH PLAIN or LOGIN with the user
and password given), keeping what it receives in a maildir. Prints `ready` once it listens.

Usage: smtp_relay.py PORT MAILDIR (starttls|tls) CERT KEY USER PASSWORD
"""

import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


def main(port, maildir, mode, cert, key, user, password):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, data):
        right = isinstance(data, LoginPassword) and data.login == user.encode() and data.password == password.encode()
        return AuthResult(success=right, handled=False)

    common = {"hostname": "127.0.0.1", "port": int(port), "authenticator": authenticator, "auth_required": True}
    if mode == "starttls":
        controller = Controller(Mailbox(maildir), tls_context=context, require_starttls=True, **common)
    else:
        controller = Controller(Mailbox(maildir), ssl_context=context, auth_require_tls=False, **common)
    controller.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(*sys.argv[1:8])
