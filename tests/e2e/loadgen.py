#!/usr/bin/python3
"""Load for caseflowd's end-to-end tests (http_load.sh, http_kill.sh): standard library only.

  loadgen.py run --url URL --tokens FILE --acks FILE --stats FILE [options]
      N threads, each with one keep-alive http.client connection, for a bounded
      time, mixing referrals (single, and small application/x-ndjson batches),
      acts along the polit workflow's visit route (each with If-Match and an
      Idempotency-Key), and reads (a case, a page of the case list, the feed).
      Optionally one more thread follows the feed with long polls. Every
      acknowledged (2xx) write is written to the --acks file as one JSON line
      (its kind, case id, event, revision, reference); --stats gets one JSON
      object: counts, statuses, latencies (p50, p99), throughput, and every
      answer that was neither a 2xx nor a documented conflict (409, 412).
      With --retry (for tests that kill the server), a request that got no
      answer, or a 503 while the service stops, is sent again, the same
      request with the same key, until it is answered or the time is up.

  loadgen.py check --store DB --acks FILE [--feed-stats FILE]
      Hold the store (read only; run it with the server stopped) to the acks:
      every acknowledged referral is a case of the store, once, with the id
      it was acknowledged with; every acknowledged act is in the case's
      history exactly once; no event of the route is in any history twice;
      no act was acknowledged twice other than as a replay, and a replay says
      the revision of the original. With the feed follower's stats: the
      follower saw every domain event the store holds up to the last seq it
      saw, each once, in order. Prints one JSON object (the counts, and the
      first offenders of each kind); exit 0 whatever it found.

Data is synthetic: documentation IP ranges, made-up names and addresses.
"""

import argparse
import hashlib
import http.client
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse

REASON = "load test"
# Answers the service documents as conflicts (retrying may succeed, or the
# caller's view was stale): not errors of the service under load.
CONFLICTS = (409, 412)

APPLIED = {"necessity": "identify the subscriber behind the upload",
           "proportionality": "no less intrusive means"}
GRANTED = {"authority": "OCDA", "reference": "OCDA-2026-0001", "urgent": False}
VISITED = {"advice_given": True, "letter_issued": True, "security_advice": True,
           "signposted": True}


def resolved(n):
    return {"name": "Test Subscriber %d" % n,
            "address": {"line1": "%d Example Street" % n, "town": "Exampleton",
                        "postcode": "ZZ1 1ZZ"},
            "address_type": "installation", "provider_reference": "ISP-REF-%d" % n}


def low_checks(n):
    return {"occupants": [{"name": "Test Occupant %d" % n, "dob": "1980-01-01"}],
            "prior_history": False, "registered_sex_offender": False,
            "children_in_household": False, "access_to_children_at_work": False,
            "distribution_signs": False, "address_corroborated": True}


# The visit route of polit.lua (tests/e2e/cli_polit.sh): who acts, the event,
# its data (a function of the case's serial number, so keys never repeat).
ROUTE = [
    ("officer1", "authorisation.applied", lambda n: APPLIED),
    ("authoriser1", "authorisation.granted", lambda n: GRANTED),
    ("analyst1", "subscriber.resolved", resolved),
    ("analyst1", "checks.completed", low_checks),
    ("supervisor1", "assessment.approved", lambda n: {}),
    ("officer1", "visit.completed", lambda n: VISITED),
]
ROUTE_EVENTS = [event for _, event, _ in ROUTE]
SOURCE = "NCA-CEOP"
NETS = ("192.0.2.", "198.51.100.", "203.0.113.")


def referral(reference, n):
    """A valid referral whose keys (file hash, IP and port) are its own."""
    return {"source": SOURCE, "reference": reference, "received_at": "2026-11-02T09:15:00Z",
            "priority": False,
            "ip_events": [{"ip": NETS[n % 3] + str(1 + n % 254), "port": 1024 + n % 60000,
                           "type": "upload", "at": "2026-10-30T21:14:05+01:00",
                           "proxy": False}],
            "files": [{"hash_type": "md5",
                       "hash": hashlib.md5(reference.encode()).hexdigest(),
                       "category": "C"}],
            "frequency": "once"}


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


class NoAnswer(Exception):
    """The request got no answer (refused, reset or timed out connection), or the
    service said it is stopping (503): its fate is unknown."""


# ---- the shared state of a run ------------------------------------------------------


class Run:
    """What the threads share: the tokens, the cases waiting for their next act,
    the acks file, the counters. Every field is guarded by self.lock."""

    def __init__(self, args, tokens):
        self.args = args
        self.tokens = tokens
        # Several instances of one store (--url given more than once): each
        # client starts on one of them and, with --retry, moves to the next
        # when its request gets no answer.
        self.servers = []
        for url in args.url:
            host, port = urllib.parse.urlsplit(url).netloc.rsplit(":", 1)
            self.servers.append((host, int(port)))
        self.host, self.port = self.servers[0]
        self.lock = threading.Lock()
        self.pool = []  # [case id, serial, step, revision]: owned by no thread now
        self.serial = 0
        self.acks = open(args.acks, "a", encoding="utf-8")
        self.latency = {}  # kind -> [seconds]
        self.statuses = {}
        self.unexpected = []
        self.unexpected_count = 0
        self.conflicts = 0
        self.stale_probes = 0
        self.no_answer = 0
        self.retries = 0
        self.retry_replays = 0  # acts whose answer was lost, replayed on the retry
        self.acked = 0
        self.answered = 0  # 2xx answers, reads and replays included
        self.acts = 0
        self.referrals = 0
        self.reads = 0
        self.deadline = time.monotonic() + args.seconds
        self.stop_at = None
        self.feed = None  # the follower's figures, at the end

    def running(self):
        """Whether new work may start: before --seconds, and before --stop-file
        exists. The first call that says no starts the grace time."""
        if self.stop_at is not None:
            return False
        now = time.monotonic()
        if now < self.deadline and not (self.args.stop_file and
                                         os.path.exists(self.args.stop_file)):
            return True
        with self.lock:
            if self.stop_at is None:
                self.stop_at = now
        return False

    def in_grace(self):
        """Whether a request under way may still be retried (--retry): until
        --grace seconds after the end (long enough for a restart)."""
        self.running()
        return self.stop_at is None or time.monotonic() < self.stop_at + self.args.grace

    def next_serial(self):
        with self.lock:
            self.serial += 1
            return self.serial

    def ack(self, record):
        line = json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n"
        with self.lock:
            self.acks.write(line)
            self.acks.flush()
            self.acked += 1

    def observe(self, kind, seconds, status):
        with self.lock:
            self.latency.setdefault(kind, []).append(seconds)
            if 200 <= status < 300:
                self.answered += 1
            key = str(status)
            self.statuses[key] = self.statuses.get(key, 0) + 1

    def bad(self, kind, status, body):
        detail = body if isinstance(body, dict) else {"text": str(body)[:200]}
        with self.lock:
            self.unexpected_count += 1
            if len(self.unexpected) < 20:
                self.unexpected.append({"kind": kind, "status": status,
                                        "code": detail.get("code"), "field": detail.get("field"),
                                        "detail": detail.get("detail", detail.get("text"))})

    def take_case(self):
        with self.lock:
            if not self.pool:
                return None
            return self.pool.pop(random.randrange(len(self.pool)))

    def give_case(self, entry):
        with self.lock:
            self.pool.append(entry)

    def stats(self, elapsed):
        with self.lock:
            kinds = {}
            for kind, values in sorted(self.latency.items()):
                values.sort()
                kinds[kind] = {"count": len(values),
                               "p50_ms": round(percentile(values, 50) * 1000, 2),
                               "p99_ms": round(percentile(values, 99) * 1000, 2),
                               "max_ms": round(values[-1] * 1000, 2)}
            # The follower's long polls wait on purpose: not a latency.
            every = sorted(v for kind, values in self.latency.items()
                           if kind != "feed_follow" for v in values)
            return {"seconds": round(elapsed, 3), "threads": self.args.threads,
                    "acked": self.acked, "acts": self.acts, "referrals": self.referrals,
                    "reads": self.reads,
                    "answered": self.answered,
                    "per_sec": round(self.answered / elapsed, 1) if elapsed > 0 else None,
                    "acts_per_sec": round(self.acts / elapsed, 1) if elapsed > 0 else None,
                    "p50_ms": round(percentile(every, 50) * 1000, 2) if every else None,
                    "p99_ms": round(percentile(every, 99) * 1000, 2) if every else None,
                    "kinds": kinds, "statuses": self.statuses,
                    "conflicts": self.conflicts, "stale_probes": self.stale_probes,
                    "no_answer": self.no_answer, "retries": self.retries,
                    "retry_replays": self.retry_replays,
                    "unexpected_count": self.unexpected_count,
                    "unexpected": self.unexpected, "cases_in_flight": len(self.pool),
                    "feed": self.feed}


# ---- one client -------------------------------------------------------------------------


class Client:
    """One keep-alive connection, reopened after the server closed it."""

    def __init__(self, run, tid=0):
        self.run = run
        self.server = tid % len(run.servers)
        self.conn = None
        self.attempts = 0  # of the last send: more than 1 after no answer
        self.probed = False  # sent a stale If-Match yet (each client does, once at least)

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def once(self, method, path, user, body=None, ctype=None, headers=None, timeout=60):
        """(status, parsed body); raises NoAnswer."""
        hdrs = {"Authorization": "Bearer " + self.run.tokens[user],
                "X-Caseflow-Reason": REASON, "Accept": "application/json"}
        if body is not None:
            hdrs["Content-Type"] = ctype or "application/json"
        hdrs.update(headers or {})
        try:
            if self.conn is None:
                host, port = self.run.servers[self.server]
                self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
            self.conn.timeout = timeout
            if self.conn.sock is not None:
                self.conn.sock.settimeout(timeout)
            self.conn.request(method, path, body=body, headers=hdrs)
            resp = self.conn.getresponse()
            data = resp.read()
            if resp.will_close:
                self.close()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise NoAnswer(str(e)) from e
        try:
            parsed = json.loads(data.decode("utf-8")) if data else None
        except ValueError:
            parsed = {"text": data[:200].decode("utf-8", "replace")}
        if resp.status == 503 and self.run.args.retry:
            self.close()
            raise NoAnswer("503 %s" % (parsed or {}).get("detail"))
        return resp.status, parsed

    def send(self, kind, method, path, user, body=None, ctype=None, headers=None,
             retry=False, timeout=60):
        """As once, timed and counted; with retry (and --retry) the same request
        is sent again after no answer until the grace time ends. (status, body),
        or (None, None) when it never got an answer."""
        self.attempts = 0
        while True:
            start = time.monotonic()
            self.attempts += 1
            try:
                status, parsed = self.once(method, path, user, body, ctype, headers, timeout)
            except NoAnswer:
                with self.run.lock:
                    self.run.no_answer += 1
                if not (retry and self.run.args.retry) or not self.run.in_grace():
                    return None, None
                with self.run.lock:
                    self.run.retries += 1
                # the same request, with the same key, to the next instance
                self.server = (self.server + 1) % len(self.run.servers)
                time.sleep(0.05)
                continue
            self.run.observe(kind, time.monotonic() - start, status)
            return status, parsed


# ---- the work ----------------------------------------------------------------------------


def do_referrals(client, run, tid):
    """One referral, or a batch of 2-5 as NDJSON; new cases join the pool."""
    count = 1 if random.random() < 0.6 else random.randint(2, 5)
    items = []
    for _ in range(count):
        n = run.next_serial()
        items.append((n, referral("%s-%d-%d" % (run.args.prefix, tid, n), n)))
    if count == 1:
        body = json.dumps(items[0][1]).encode()
        status, result = client.send("referral", "POST", "/v1/referrals", "analyst1", body,
                                     retry=True)
        lines = [result] if status in (200, 201) else []
    else:
        body = ("\n".join(json.dumps(r) for _, r in items) + "\n").encode()
        status, result = client.send("referral_batch", "POST", "/v1/referrals", "analyst1",
                                     body, ctype="application/x-ndjson", retry=True)
        lines = result.get("results", []) if status in (200, 207) else []
    if status is None:
        return
    if status not in (200, 201, 207):
        if status in CONFLICTS:
            with run.lock:
                run.conflicts += 1
        else:
            run.bad("referral", status, result)
        return
    for (n, r), line in zip(items, lines):
        if "error" in line:
            err = line["error"]
            if err.get("status") in CONFLICTS:
                with run.lock:
                    run.conflicts += 1
            else:
                run.bad("referral_line", err.get("status"), {"code": err.get("code"),
                        "field": err.get("field"), "detail": err.get("message")})
            continue
        run.ack({"kind": "referral", "source": SOURCE, "reference": r["reference"],
                 "id": line["id"], "created": line.get("created")})
        with run.lock:
            run.referrals += 1
        if not line.get("created") and client.attempts == 1:
            # Every reference is new: known already means a second case, or a
            # lost first one. (After a retry it is the first answer, lost.)
            run.bad("referral_line", status, {"detail": "a new reference came back as "
                                              "known: %s" % r["reference"]})
            continue
        run.give_case([line["id"], n, 0, 1])


def act_request(run, entry, headers_extra=None):
    case_id, n, step, rev = entry
    user, event, data = ROUTE[step]
    path = "/v1/cases/%s/events/%s" % (case_id, event)
    body = json.dumps(data(n)).encode()
    headers = {"If-Match": '"%d"' % rev,
               "Idempotency-Key": "%s:%s:%s" % (run.args.prefix, case_id, event)}
    headers.update(headers_extra or {})
    return user, event, path, body, headers


def do_act(client, run):
    """The next act of one case of the pool (which this thread holds till done)."""
    entry = run.take_case()
    if entry is None:
        return False
    case_id, n, step, rev = entry
    user, event, path, body, headers = act_request(run, entry)
    if rev > 1 and (not client.probed or random.random() < run.args.stale):
        client.probed = True
        # A deliberately stale If-Match (no key): must be 412, nothing changed.
        stale = dict(headers)
        del stale["Idempotency-Key"]
        stale["If-Match"] = '"%d"' % (rev - 1)
        status, result = client.send("act_stale", "POST", path, user, body, headers=stale)
        if status == 412:
            with run.lock:
                run.stale_probes += 1
        elif status is not None:
            run.bad("act_stale", status, result)
            if status < 300:
                return True  # it moved the case: this case leaves the pool
    status, result = client.send("act", "POST", path, user, body, headers=headers, retry=True)
    if status is None:
        run.give_case(entry)
        return True
    if status == 200:
        rev2 = result.get("revision")
        if client.attempts > 1 and result.get("replayed"):
            with run.lock:
                run.retry_replays += 1
        run.ack({"kind": "act", "id": case_id, "event": event, "revision": rev2,
                 "replayed": bool(result.get("replayed")), "state": result.get("state")})
        with run.lock:
            run.acts += 1
        if random.random() < run.args.replay:
            status2, again = client.send("act_replay", "POST", path, user, body,
                                         headers=headers, retry=True)
            if status2 == 200 and again.get("replayed") and again.get("revision") == rev2:
                run.ack({"kind": "act", "id": case_id, "event": event, "revision": rev2,
                         "replayed": True, "state": again.get("state")})
            elif status2 is not None:
                run.bad("act_replay", status2, again if status2 != 200 else
                        {"detail": "not a replay of revision %s: %s" % (rev2, again)})
        if step + 1 < len(ROUTE):
            run.give_case([case_id, n, step + 1, rev2])
        return True
    if status in CONFLICTS:
        with run.lock:
            run.conflicts += 1
        # Someone else moved it? Nobody should: read the revision and go on.
        st, cs = client.send("case_get", "GET", "/v1/cases/%s" % case_id, "supervisor1")
        if st == 200:
            run.give_case([case_id, n, step, cs.get("revision", rev)])
        return True
    run.bad("act " + event, status, result)
    return True


def do_read(client, run, tid, cursor):
    r = random.random()
    if r < 0.4:
        with run.lock:
            entry = random.choice(run.pool) if run.pool else None
        if entry is None:
            return
        status, body = client.send("case_get", "GET", "/v1/cases/%s" % entry[0], "supervisor1")
    elif r < 0.8:
        q = {"limit": "50"}
        if tid % 2:
            q["state"] = random.choice(["authorisation", "subscriber", "checks", "visit"])
        if cursor.get("cases"):
            q["after"] = cursor["cases"]
        status, body = client.send("case_list", "GET", "/v1/cases?" + urllib.parse.urlencode(q),
                                   "supervisor1")
        if status == 200:
            cursor["cases"] = body.get("next")
    else:
        after = max(0, cursor.get("feed", 0))
        status, body = client.send("feed", "GET", "/v1/feed?after=%d&limit=50" % after,
                                   "supervisor1")
        if status == 200:
            cursor["feed"] = body.get("next", after)
    if status is None:
        return
    with run.lock:
        run.reads += 1 if status == 200 else 0
    if status != 200:
        run.bad("read", status, body)


def worker(run, tid):
    random.seed(run.args.seed * 1000 + tid)
    client = Client(run, tid)
    cursor = {}
    try:
        while run.running():
            r = random.random()
            if r < run.args.act_share and do_act(client, run):
                continue
            if r < run.args.act_share + run.args.read_share:
                do_read(client, run, tid, cursor)
            else:
                do_referrals(client, run, tid)
    finally:
        client.close()


def follower(run, state):
    """Follow the feed with long polls: seq must only grow, each event once."""
    client = Client(run)
    after, seen, disorder = 0, 0, 0
    try:
        while True:
            done = state["stop"].is_set()
            status, body = client.send("feed_follow", "GET",
                                       "/v1/feed?after=%d&limit=1000&wait=%d"
                                       % (after, 0 if done else 1), "supervisor1", timeout=30)
            if status is None:
                if not run.in_grace():
                    break
                time.sleep(0.05)
                continue
            if status != 200:
                run.bad("feed_follow", status, body)
                break
            events = body.get("events", [])
            for ev in events:
                if ev["seq"] <= after:
                    disorder += 1
                after = max(after, ev["seq"])
                seen += 1
            if done and not events:
                break
    finally:
        client.close()
        state.update(last=after, seen=seen, disorder=disorder)


def cmd_run(args):
    with open(args.tokens, encoding="utf-8") as f:
        tokens = json.load(f)
    random.seed(args.seed)
    run = Run(args, tokens)
    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(run, i), daemon=True)
               for i in range(args.threads)]
    fstate = {"stop": threading.Event()}
    fthread = None
    if args.follow:
        fthread = threading.Thread(target=follower, args=(run, fstate), daemon=True)
        fthread.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    fstate["stop"].set()
    if fthread:
        fthread.join(args.grace + 60)
        run.feed = {k: v for k, v in fstate.items() if k != "stop"}
    run.acks.close()
    stats = run.stats(elapsed)
    with open(args.stats, "w", encoding="utf-8") as f:
        json.dump(stats, f, sort_keys=True)
        f.write("\n")
    return 0


# ---- check -----------------------------------------------------------------------------


class Store:
    """The store, read only: a SQLite file, or a PostgreSQL database (a
    postgresql:// URI, read with psql, whose tables are in schema caseflow)."""

    def __init__(self, name):
        self.pg = name.startswith(("postgresql://", "postgres://"))
        self.name = name
        if not self.pg:
            self.db = sqlite3.connect("file:%s?mode=ro" % name, uri=True)

    def rows(self, sql):
        if not self.pg:
            return list(self.db.execute(sql))
        out = subprocess.run(
            [os.environ.get("PSQL", "psql"), "-X", "-q", "-At", "-F", "\t",
             "-v", "ON_ERROR_STOP=1", "-d", self.name,
             "-c", "SET search_path = caseflow; " + sql],
            check=True, capture_output=True, text=True).stdout
        return [tuple(line.split("\t")) for line in out.splitlines() if line]

    def close(self):
        if not self.pg:
            self.db.close()



def cmd_check(args):
    acks = []
    with open(args.acks, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                acks.append(json.loads(line))
    db = Store(args.store)
    cases = {(s, r): i for i, s, r in db.rows("SELECT id, source, reference FROM cases")}
    events = ",".join("'%s'" % e for e in ROUTE_EVENTS)  # our own constants
    history = {(c, e): int(n) for c, e, n in db.rows(
        "SELECT case_id, event, count(*) FROM events WHERE event IN (%s) GROUP BY 1, 2"
        % events)}
    revisions = {i: int(r) for i, r in db.rows("SELECT id, revision FROM cases")}
    out = {"acks": len(acks), "referrals": 0, "referrals_missing": [],
           "referrals_id_mismatch": [], "acts": 0, "replays": 0, "acts_missing": [],
           "acts_duplicated": [], "acked_twice": [], "replay_mismatch": [],
           "revision_behind": [], "history_duplicates": []}
    first = {}
    for a in acks:
        if a["kind"] == "referral":
            out["referrals"] += 1
            got = cases.get((a["source"], a["reference"]))
            if got is None:
                out["referrals_missing"].append(a)
            elif got != a["id"]:
                out["referrals_id_mismatch"].append({"ack": a, "store": got})
        elif a["kind"] == "act":
            key = (a["id"], a["event"])
            n = history.get(key, 0)
            if a["replayed"]:
                out["replays"] += 1
            else:
                out["acts"] += 1
                if key in first:
                    out["acked_twice"].append(a)
                first[key] = a
            if n == 0:
                out["acts_missing"].append(a)
            elif n > 1:
                out["acts_duplicated"].append(dict(a, count=n))
            if revisions.get(a["id"], -1) < (a["revision"] or 0):
                out["revision_behind"].append(dict(a, store=revisions.get(a["id"])))
    by_key = {}
    for a in acks:
        if a["kind"] == "act":
            by_key.setdefault((a["id"], a["event"]), set()).add(a["revision"])
    out["replay_mismatch"] = [{"id": k[0], "event": k[1], "revisions": sorted(v)}
                              for k, v in by_key.items() if len(v) > 1]
    out["history_duplicates"] = [{"id": c, "event": e, "count": n}
                                 for (c, e), n in history.items() if n > 1]
    if args.feed_stats:
        with open(args.feed_stats, encoding="utf-8") as f:
            feed = json.load(f).get("feed") or {}
        last = feed.get("last", 0)
        stored = int(db.rows("SELECT count(*) FROM notifications WHERE seq <= %d"
                             % int(last))[0][0])
        out["feed"] = {"last": last, "seen": feed.get("seen"), "stored": stored,
                       "disorder": feed.get("disorder")}
    db.close()
    for k, v in list(out.items()):
        if isinstance(v, list):
            out[k + "_count"] = len(v)
            out[k] = v[:5]
    json.dump(out, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--url", required=True, action="append",
                   help="http://127.0.0.1:PORT; again for more instances of one store")
    r.add_argument("--tokens", required=True, help='JSON {"user": "token", ...}')
    r.add_argument("--acks", required=True, help="acknowledged writes, JSON lines (appended)")
    r.add_argument("--stats", required=True, help="the run's figures, one JSON object")
    r.add_argument("--threads", type=int, default=32)
    r.add_argument("--seconds", type=float, default=60)
    r.add_argument("--prefix", default="LOAD", help="references and keys start with it")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--act-share", type=float, default=0.5)
    r.add_argument("--read-share", type=float, default=0.25)
    r.add_argument("--stale", type=float, default=0.02, help="share of stale If-Match probes")
    r.add_argument("--replay", type=float, default=0.03, help="share of acts sent twice")
    r.add_argument("--retry", action="store_true",
                   help="resend a request that got no answer (the server was killed)")
    r.add_argument("--stop-file", help="stop (as at the end of --seconds) once this file exists")
    r.add_argument("--grace", type=float, default=30,
                   help="seconds past the end a request under way may still be retried")
    r.add_argument("--follow", action="store_true", help="one more thread follows the feed")
    c = sub.add_parser("check")
    c.add_argument("--store", required=True)
    c.add_argument("--acks", required=True)
    c.add_argument("--feed-stats", help="the run's --stats, to check the feed follower")
    args = p.parse_args()
    return cmd_run(args) if args.cmd == "run" else cmd_check(args)


if __name__ == "__main__":
    sys.exit(main())
