#!/usr/bin/env python3
"""An SMTP server for tests: Debian's aiosmtpd on a loopback port, with STARTTLS and AUTH when asked.

Each accepted message becomes DIR/N.json: the envelope, whether it came over TLS, who signed in, the raw message.
Prints "listening PORT" once it accepts connections, and runs until killed.
"""
import argparse
import asyncio
import json
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult


args_implicit_tls = False


class Handler:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "tls": session.ssl is not None or args_implicit_tls,
            "login": session.auth_data.login.decode() if session.authenticated and session.auth_data else None,
            "data": envelope.original_content.decode("utf-8", "replace"),
        }
        path = os.path.join(self.directory, "%d.json" % self.count)
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 OK stored"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--login", help="user:password the server accepts (AUTH, over TLS only)")
    parser.add_argument("--implicit-tls", action="store_true", help="TLS from the first byte (smtps) instead of STARTTLS")
    parser.add_argument("--login-only", action="store_true", help="offer AUTH LOGIN, not PLAIN")
    args = parser.parse_args()
    global args_implicit_tls
    args_implicit_tls = args.implicit_tls
    # A parent may start it with signals blocked (the Swift test runner's threads do): let TERM end it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})

    context = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    def authenticate(server, session, envelope, mechanism, auth_data):
        user, _, password = args.login.partition(":")
        ok = auth_data.login.decode() == user and auth_data.password.decode() == password
        # handled=False: aiosmtpd answers the failure itself (535); True would leave the client waiting.
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    handler = Handler(args.dir)

    starttls = context if not args.implicit_tls else None

    def factory():
        return SMTP(
            handler,
            hostname="sink.test",
            tls_context=starttls,
            require_starttls=starttls is not None,
            authenticator=authenticate if args.login else None,
            auth_required=bool(args.login),
            # Over implicit TLS aiosmtpd does not see the encryption itself.
            auth_require_tls=not args.implicit_tls,
            auth_exclude_mechanism=["PLAIN"] if args.login_only else None,
        )

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    implicit = context if args.implicit_tls else None
    server = loop.run_until_complete(loop.create_server(factory, host="127.0.0.1", port=0, ssl=implicit))
    print("listening %d" % server.sockets[0].getsockname()[1], flush=True)
    loop.run_forever()


if __name__ == "__main__":
    sys.exit(main())
