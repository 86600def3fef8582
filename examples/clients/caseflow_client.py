#!/usr/bin/env python3
"""A small client of caseflowd, the caseflow service (standard library only).

It shows what another force system does with the HTTP API (docs/service.md):

  feed-referrals FILE.ndjson      send referrals in batches (POST /v1/referrals,
                                  application/x-ndjson); prints one result line each
  follow-feed [--after N]         follow the change feed with long polls, printing
                                  each event as one JSON line
  act CASE EVENT [--data JSON]    record an event with an idempotency key; a dropped
      --idempotency-key K         connection is retried once with the same key
  webhook-receiver --port P       receive webhook deliveries, verify each signature,
      --secret-file F             print each event once as one JSON line

The server is a URL (http://127.0.0.1:8080, https://...) used with a bearer
token, or the path of caseflowd's Unix socket, where the service knows you by
your operating-system account and no token is needed. Options and environment:

  --server URL|SOCKET   (CASEFLOW_SERVER)
  --token TOKEN         (CASEFLOW_TOKEN), or --token-file FILE
  --reason TEXT         (CASEFLOW_REASON) the justification sent with reads
  --cacert FILE         the CA that signed the server's certificate (https)
  --cert FILE --key FILE  a TLS client certificate, if the service maps them

Exit status: 0 done; 1 the service refused (its problem printed on stderr);
2 usage; 75 the service could not be reached.
"""

import argparse
import hashlib
import hmac
import http.client
import http.server
import json
import os
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 75

# A webhook timestamp further than this from our clock is refused (replay).
SIGNATURE_TOLERANCE = 300


class Refused(Exception):
    """The service answered with an error status (its problem document)."""

    def __init__(self, status, problem):
        self.status = status
        self.problem = problem if isinstance(problem, dict) else {}
        super().__init__(self.line())

    def line(self):
        p = self.problem
        parts = [str(self.status), p.get("code") or p.get("title") or "error"]
        if p.get("field"):
            parts.append("[%s]" % p["field"])
        return " ".join(parts) + (": " + p["detail"] if p.get("detail") else "")


class Unreachable(Exception):
    """No answer: the connection failed or dropped before a response."""


# ---- talking to caseflowd ------------------------------------------------------------


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix stream socket (caseflowd --socket PATH)."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Client:
    """Requests to one caseflowd, by URL (urllib) or by Unix socket (http.client)."""

    def __init__(self, server, token=None, reason=None, cacert=None, cert=None, key=None,
                 timeout=60):
        if not server:
            raise ValueError("no server: give --server URL|SOCKET or set CASEFLOW_SERVER")
        self.server = server.rstrip("/")
        self.unix = not server.startswith(("http://", "https://"))
        self.token = token
        self.reason = reason
        self.timeout = timeout
        self.context = None
        if server.startswith("https://"):
            self.context = ssl.create_default_context(cafile=cacert)
            if cert:
                self.context.load_cert_chain(cert, key)

    def request(self, method, path, query=None, body=None, content_type=None, headers=None,
                timeout=None):
        """(status, headers, parsed JSON or text). Raises Refused for a 4xx/5xx,
        Unreachable when there was no answer."""
        if query:
            path += "?" + urllib.parse.urlencode(
                {k: v for k, v in query.items() if v is not None})
        hdrs = {"Accept": "application/json"}
        if self.token and not self.unix:
            hdrs["Authorization"] = "Bearer " + self.token
        if self.reason:
            hdrs["X-Caseflow-Reason"] = self.reason
        if body is not None:
            hdrs["Content-Type"] = content_type or "application/json"
            if isinstance(body, str):
                body = body.encode("utf-8")
        hdrs.update(headers or {})
        timeout = timeout or self.timeout
        if self.unix:
            status, rheaders, data = self._unix(method, path, body, hdrs, timeout)
        else:
            status, rheaders, data = self._url(method, path, body, hdrs, timeout)
        parsed = _parse(rheaders.get("Content-Type", ""), data)
        if status >= 400:
            raise Refused(status, parsed)
        return status, rheaders, parsed

    def _url(self, method, path, body, hdrs, timeout):
        req = urllib.request.Request(self.server + path, data=body, headers=hdrs,
                                     method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.context) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            with e:
                return e.code, e.headers, e.read()
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            raise Unreachable("%s: %s" % (self.server, getattr(e, "reason", e))) from e

    def _unix(self, method, path, body, hdrs, timeout):
        conn = UnixHTTPConnection(self.server, timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return r.status, r.headers, r.read()
        except (http.client.HTTPException, OSError) as e:
            raise Unreachable("%s: %s" % (self.server, e)) from e
        finally:
            conn.close()


def _parse(content_type, data):
    if "json" in content_type:
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError:
            pass
    return data.decode("utf-8", "replace")


def emit(obj):
    """One compact JSON line on standard output, flushed (for pipes)."""
    sys.stdout.write(json.dumps(obj, separators=(",", ":"), sort_keys=True) + "\n")
    sys.stdout.flush()


# ---- feed-referrals ---------------------------------------------------------------------


def feed_referrals(client, args):
    """POST the file's lines in batches; print each line's result with its
    line number in the file. Exit 1 when any line was refused."""
    with open(args.file, "rb") as f:
        lines = f.read().split(b"\n")
    refused = 0
    for start in range(0, len(lines), args.batch_size):
        chunk = lines[start:start + args.batch_size]
        if not any(line.strip() for line in chunk):
            continue
        _, _, result = client.request(
            "POST", "/v1/referrals", query={"workflow": args.workflow},
            body=b"\n".join(chunk) + b"\n", content_type="application/x-ndjson",
            timeout=max(client.timeout, 300))
        for item in result.get("results", []):
            item["line"] += start  # the service numbers lines from 1 per batch
            emit(item)
        refused += result.get("refused", 0)
    return EXIT_REFUSED if refused else 0


# ---- follow-feed ------------------------------------------------------------------------


def follow_feed(client, args):
    """Long-poll the feed from --after (or the cursor file), printing each event;
    stops after --max-events events or --seconds seconds."""
    after = args.after
    if args.cursor_file and os.path.exists(args.cursor_file):
        with open(args.cursor_file, encoding="ascii") as f:
            after = int(f.read().strip() or 0)
    deadline = time.monotonic() + args.seconds
    seen = 0
    while seen < args.max_events:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        wait = max(0, min(args.wait, int(left)))
        _, _, page = client.request(
            "GET", "/v1/feed",
            query={"after": after, "limit": min(args.limit, args.max_events - seen),
                   "wait": wait},
            timeout=wait + 30)
        for event in page.get("events", []):
            emit(event)
            seen += 1
        after = page.get("next", after)
        # Store the cursor only after the events are handled: a crash in
        # between sees them again (at least once), never loses one.
        if args.cursor_file:
            tmp = args.cursor_file + ".tmp"
            with open(tmp, "w", encoding="ascii") as f:
                f.write("%d\n" % after)
            os.replace(tmp, args.cursor_file)
    print("caseflow_client: %d events, cursor %d" % (seen, after), file=sys.stderr)
    return 0


# ---- act ----------------------------------------------------------------------------------


def act(client, args):
    """POST /v1/cases/{id}/events/{event} with an Idempotency-Key. When the
    connection drops before an answer, the same request is sent once more
    with the same key: the service returns the first call's result if it
    was recorded, and records it now if it was not."""
    try:
        data = json.loads(args.data) if args.data else {}
    except ValueError as e:
        print("caseflow_client: --data: not JSON: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    if not isinstance(data, dict):
        print("caseflow_client: --data: must be a JSON object", file=sys.stderr)
        return EXIT_USAGE
    path = "/v1/cases/%s/events/%s" % (urllib.parse.quote(args.case, safe=""),
                                       urllib.parse.quote(args.event, safe=""))
    headers = {"Idempotency-Key": args.idempotency_key}
    if args.if_match is not None:
        headers["If-Match"] = '"%d"' % args.if_match
    for attempt in (1, 2):
        try:
            _, _, result = client.request("POST", path, body=json.dumps(data),
                                          headers=headers)
            emit(result)
            return 0
        except Unreachable as e:
            if attempt == 2:
                raise
            print("caseflow_client: %s; retrying once with the same idempotency key" % e,
                  file=sys.stderr)
            time.sleep(1)
    return 0


# ---- webhook-receiver ---------------------------------------------------------------------


def read_secret(path):
    """The webhook's secret as `caseflow webhook add --secret-file` reads it:
    the file's bytes without one final line break ("\n" or "\r\n")."""
    with open(path, "rb") as f:
        secret = f.read()
    if secret.endswith(b"\n"):
        secret = secret[:-1]
    if secret.endswith(b"\r"):
        secret = secret[:-1]
    return secret


def verify_signature(secret, header, body, now=None, tolerance=SIGNATURE_TOLERANCE):
    """None when header ("t=<unix>,v1=<hex>") signs body under secret, else why not.
    The MAC is HMAC-SHA256 over "<t>.<body>"; compared in constant time."""
    fields = {}
    for part in (header or "").split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    t = (fields.get("t") or [""])[0]
    if not t.isdigit():
        return "no timestamp"
    now = time.time() if now is None else now
    if abs(now - int(t)) > tolerance:
        return "timestamp outside the tolerance"
    expected = hmac.new(secret, t.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    if any(hmac.compare_digest(expected, v) for v in fields.get("v1", [])):
        return None
    return "signature does not match"


class Receiver(http.server.HTTPServer):
    """Holds the receiver's state: secret, events seen, failures to fake."""

    def __init__(self, address, secret, fail_first, tolerance):
        super().__init__(address, ReceiverHandler)
        self.secret = secret
        self.fail_left = fail_first
        self.tolerance = tolerance
        self.seen_ids = set()
        self.printed = 0


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    server_version = "caseflow-client-receiver"

    def do_POST(self):  # noqa: N802 (http.server's name)
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > 1 << 20:
            return self._answer(413, "body too large or no length")
        body = self.rfile.read(length)
        why = verify_signature(self.server.secret, self.headers.get("X-Caseflow-Signature"),
                               body, tolerance=self.server.tolerance)
        if why:
            print("caseflow_client: refused a delivery: %s" % why, file=sys.stderr)
            return self._answer(401, why)
        if self.server.fail_left > 0:  # --fail-first: show the retries
            self.server.fail_left -= 1
            return self._answer(500, "failing on purpose (--fail-first)")
        try:
            event = json.loads(body.decode("utf-8"))
        except ValueError:
            return self._answer(400, "not JSON")
        # At least once: the same event may come again; print it once.
        if event.get("id") not in self.server.seen_ids:
            self.server.seen_ids.add(event.get("id"))
            emit(event)
            self.server.printed += 1
        return self._answer(204, None)

    def _answer(self, status, why):
        body = b"" if why is None else json.dumps({"status": status, "detail": why}).encode()
        self.send_response(status)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 (http.server's name)
        pass  # the events on stdout are the log


def webhook_receiver(args):
    """Serve on --host:--port until --max-events events or --seconds pass."""
    secret = read_secret(args.secret_file)
    if len(secret) < 16:
        print("caseflow_client: %s: a secret has at least 16 bytes" % args.secret_file,
              file=sys.stderr)
        return EXIT_USAGE
    server = Receiver((args.host, args.port), secret, args.fail_first, args.tolerance)
    host, port = server.server_address[:2]
    if args.port_file:
        with open(args.port_file, "w", encoding="ascii") as f:
            f.write("%d\n" % port)
    print("caseflow_client: receiving webhooks on http://%s:%d/" % (host, port),
          file=sys.stderr, flush=True)
    deadline = time.monotonic() + args.seconds
    try:
        while server.printed < args.max_events:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            server.timeout = min(left, 1.0)
            server.handle_request()
    finally:
        server.server_close()
    print("caseflow_client: %d events received" % server.printed, file=sys.stderr)
    return 0


# ---- the command line ---------------------------------------------------------------------


def parser():
    p = argparse.ArgumentParser(prog="caseflow_client.py",
                                description="A small client of caseflowd (docs/service.md).")
    p.add_argument("--server", default=os.environ.get("CASEFLOW_SERVER"),
                   help="http(s) URL or Unix socket path (env CASEFLOW_SERVER)")
    p.add_argument("--token", default=os.environ.get("CASEFLOW_TOKEN"),
                   help="bearer token (env CASEFLOW_TOKEN)")
    p.add_argument("--token-file", help="read the bearer token from this file")
    p.add_argument("--reason", default=os.environ.get("CASEFLOW_REASON"),
                   help="justification sent with reads (env CASEFLOW_REASON)")
    p.add_argument("--cacert", help="CA certificate file for an https server")
    p.add_argument("--cert", help="TLS client certificate (PEM)")
    p.add_argument("--key", help="its private key (PEM)")
    p.add_argument("--timeout", type=float, default=60, help="seconds per request")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("feed-referrals", help="send an NDJSON file of referrals")
    s.add_argument("file")
    s.add_argument("--workflow", help="the workflow new cases start on (default polit)")
    s.add_argument("--batch-size", type=int, default=1000, help="lines per request")

    s = sub.add_parser("follow-feed", help="print feed events as JSON lines")
    s.add_argument("--after", type=int, default=0, help="start after this seq")
    s.add_argument("--cursor-file", help="read the cursor from, and save it to, this file")
    s.add_argument("--limit", type=int, default=100, help="events per request")
    s.add_argument("--wait", type=int, default=25, help="long-poll seconds per request")
    s.add_argument("--max-events", type=int, default=1 << 62, help="stop after this many")
    s.add_argument("--seconds", type=float, default=60, help="stop after this long")

    s = sub.add_parser("act", help="record an event on a case, retry-safe")
    s.add_argument("case")
    s.add_argument("event")
    s.add_argument("--data", help="the event's data, a JSON object")
    s.add_argument("--idempotency-key", required=True, help="one key per logical action")
    s.add_argument("--if-match", type=int, help="the revision the case must be at")

    s = sub.add_parser("webhook-receiver", help="receive and verify webhook deliveries")
    s.add_argument("--port", type=int, required=True, help="TCP port (0: any free one)")
    s.add_argument("--secret-file", required=True, help="the webhook's secret")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on")
    s.add_argument("--port-file", help="write the port listened on to this file")
    s.add_argument("--max-events", type=int, default=1 << 62, help="stop after this many")
    s.add_argument("--seconds", type=float, default=60, help="stop after this long")
    s.add_argument("--fail-first", type=int, default=0,
                   help="answer 500 to the first N valid deliveries (to see retries)")
    s.add_argument("--tolerance", type=int, default=SIGNATURE_TOLERANCE,
                   help="seconds a signature's timestamp may be off")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        if args.command == "webhook-receiver":
            return webhook_receiver(args)
        token = args.token
        if args.token_file:
            with open(args.token_file, encoding="ascii") as f:
                token = f.read().strip()
        client = Client(args.server, token=token, reason=args.reason, cacert=args.cacert,
                        cert=args.cert, key=args.key, timeout=args.timeout)
        return {"feed-referrals": feed_referrals, "follow-feed": follow_feed,
                "act": act}[args.command](client, args)
    except Refused as e:
        print("caseflow_client: %s" % e.line(), file=sys.stderr)
        return EXIT_REFUSED
    except Unreachable as e:
        print("caseflow_client: no answer: %s" % e, file=sys.stderr)
        return EXIT_UNREACHABLE
    except (OSError, ValueError) as e:
        print("caseflow_client: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
