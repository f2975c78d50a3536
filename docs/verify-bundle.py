#!/usr/bin/env python3
"""Check a varde evidence bundle without varde.

Usage: python3 verify-bundle.py BUNDLE.json [--checkpoint FILE ...] [--log-key KEYTEXT-or-FILE]

Python 3 standard library only, plus the `openssl` command for Ed25519 signatures. Written from
docs/evidence-format.md, not from varde's Go code. It checks:

  rows         each chain row: sha256(prev_hash || canonical) == hash, prev_hash links, seq has no gap,
               the row names its table, audit and seq; measurement samples match samples_sha256;
               form 2 rows are RFC 8785 canonical; the chain ends at the audit's recorded length and head
  header       (form 2) the header commits to the audit's claims; the config hashes to config_sha256;
               the finish entry says the audit's status and finish time
  seal         the audit's leaf in the log is the seal the rows give; each report row has its leaf
  checkpoints  each is signed by the log key (openssl), for the log the key names
  inclusion    each of the audit's leaves is in the latest checkpoint's tree (RFC 9162 2.1.3.2)
  consistency  the latest checkpoint's tree extends every older one (RFC 9162 2.1.4.2)

Exit status 0 when everything holds; 1 with "FAILED: <what>" otherwise; 2 for usage errors.
"""

import base64
import hashlib
import json
import math
import os
import struct
import subprocess
import sys
import tempfile


class Failed(Exception):
    pass


def fail(msg):
    raise Failed(msg)


# ---------------------------------------------------------------- RFC 8785 (JCS)

def es6_number(x):
    """A double as ECMAScript's Number.prototype.toString spells it (RFC 8785 section 3.2.2.3)."""
    if isinstance(x, bool):
        raise ValueError("bool is not a number")
    if isinstance(x, int):
        if abs(x) > 2 ** 53:
            raise ValueError("integer %d beyond 2^53" % x)
        return str(x)
    if math.isnan(x) or math.isinf(x):
        raise ValueError("NaN or infinity")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    r = repr(abs(x))  # shortest round-trip digits
    mant, _, exp = r.partition("e")
    exp = int(exp) if exp else 0
    ip, _, fp = mant.partition(".")
    digits = ip + fp
    point = len(ip) + exp
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    k, n = len(digits), point
    if k <= n <= 21:
        s = digits + "0" * (n - k)
    elif 0 < n <= 21:
        s = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        s = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        es = ("+" if e >= 0 else "-") + str(abs(e))
        s = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + es
    return sign + s


def jcs_string(s):
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif c < 0x20:
            out.append({8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}.get(c, "\\u%04x" % c))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def jcs(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return es6_number(v)
    if isinstance(v, str):
        return jcs_string(v)
    if isinstance(v, list):
        return "[" + ",".join(jcs(e) for e in v) + "]"
    if isinstance(v, dict):
        keys = sorted(v.keys(), key=lambda k: k.encode("utf-16-be"))  # UTF-16 code units
        return "{" + ",".join(jcs_string(k) + ":" + jcs(v[k]) for k in keys) + "}"
    raise ValueError("not JSON: %r" % (v,))


def jcs_bytes(v):
    return jcs(v).encode("utf-8")


# ---------------------------------------------------------------- RFC 6962 / 9162 Merkle tree

def sha256(b):
    return hashlib.sha256(b).digest()


def leaf_hash(data):
    return sha256(b"\x00" + data)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def verify_inclusion(index, size, lhash, proof, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, lhash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(size1, size2, root1, root2, proof):
    if size1 == size2:
        return not proof and root1 == root2
    if size1 == 0 or size1 > size2:
        return False
    if size1 & (size1 - 1) == 0:  # a power of two: the old root is the first node
        proof = [root1] + list(proof)
    if not proof:
        return False
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root1 and sr == root2 and sn == 0


# ---------------------------------------------------------------- signed notes (C2SP signed-note)

class LogKey:
    def __init__(self, text):
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or len(parts[1]) != 8:
            fail("log public key %r: want name+hash+base64" % text)
        self.name, khash, b64 = parts
        raw = base64.b64decode(b64)
        if len(raw) != 33 or raw[0] != 1:
            fail("log public key: not an Ed25519 key")
        want = struct.unpack(">I", sha256(self.name.encode() + b"\n" + raw)[:4])[0]
        if int(khash, 16) != want:
            fail("log public key: key hash %s does not match the key (%08x)" % (khash, want))
        self.hash = want
        self.pub = raw[1:]

    def verify(self, msg, sig):
        der = bytes.fromhex("302a300506032b6570032100") + self.pub
        pem = "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n" % base64.b64encode(der).decode()
        with tempfile.TemporaryDirectory() as d:
            paths = {}
            for name, content in (("key.pem", pem.encode()), ("msg", msg), ("sig", sig)):
                paths[name] = os.path.join(d, name)
                with open(paths[name], "wb") as f:
                    f.write(content)
            try:
                r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", paths["key.pem"], "-rawin",
                                    "-in", paths["msg"], "-sigfile", paths["sig"]], capture_output=True)
            except FileNotFoundError:
                fail("the openssl command (OpenSSL 3) is needed to check Ed25519 signatures")
            return r.returncode == 0


def open_checkpoint(signed, key, source):
    """Check a checkpoint's signature and return (size, root)."""
    text, sep, sigs = signed.partition("\n\n")
    if not sep:
        fail("checkpoint %s: no signature block" % source)
    text += "\n"
    ok = False
    for line in sigs.splitlines():
        if not line.startswith("\u2014 "):
            fail("checkpoint %s: malformed signature line %r" % (source, line))
        name, _, b64 = line[2:].rpartition(" ")
        raw = base64.b64decode(b64)
        if name != key.name or len(raw) < 4 or struct.unpack(">I", raw[:4])[0] != key.hash:
            continue
        if not key.verify(text.encode("utf-8"), raw[4:]):
            fail("checkpoint %s: the signature by %s does not verify (the checkpoint was altered or forged)" % (source, name))
        ok = True
    if not ok:
        fail("checkpoint %s: not signed by the log key %s" % (source, key.name))
    lines = text.split("\n")
    if len(lines) < 4 or lines[0] != key.name:
        fail("checkpoint %s: origin %r is not the log %r" % (source, lines[0], key.name))
    size = int(lines[1])
    root = base64.b64decode(lines[2])
    if len(root) != 32:
        fail("checkpoint %s: root hash" % source)
    return size, root


# ---------------------------------------------------------------- the bundle

def samples_digest(samples):
    h = hashlib.sha256()
    for s in samples:
        h.update(struct.pack(">QQqqBI", s["idx"], s["sent_at_unix_us"] & (2 ** 64 - 1), s["rtt_ns"],
                             s["kernel_rtt_ns"], 1 if s["duplicate"] else 0, s["retransmits"]))
    return h.hexdigest()


def check_rows(b, say):
    a = b["audit"]
    form = a["canonical_form"]
    if form not in (1, 2):
        fail("rows: canonical form %r" % form)
    head = bytes(32)
    seq = 0 if form == 2 else 1
    docs = []
    for row in b["chain"]:
        name = "%s row %d (seq %d)" % (row["table"], row["id"], row["seq"])
        if row["seq"] != seq:
            fail("rows: seq %d is missing from the chain (found %s next)" % (seq, name))
        if bytes.fromhex(row["prev_hash"]) != head:
            fail("rows: %s: prev_hash does not match the hash of the row before it" % name)
        canon = row["canonical"].encode("utf-8")
        h = sha256(head + canon)
        if h.hex() != row["hash"]:
            fail("rows: %s: its hash does not match its contents (the row was changed)" % name)
        doc = json.loads(row["canonical"])
        if doc.get("table") != row["table"] or doc.get("audit_id") != a["id"] or doc.get("seq") != row["seq"]:
            fail("rows: %s: its canonical document names table %r, audit %r, seq %r" % (name, doc.get("table"), doc.get("audit_id"), doc.get("seq")))
        if form == 2 and jcs_bytes(doc) != canon:
            fail("rows: %s: not in RFC 8785 canonical form" % name)
        if row["table"] == "measurements" and samples_digest(row.get("samples") or []) != doc["samples_sha256"]:
            fail("rows: %s: its samples do not match samples_sha256" % name)
        docs.append(doc)
        head = h
        seq += 1
    if len(b["chain"]) != a["chain_length"] or head.hex() != a["chain_head"]:
        fail("rows: the audit records a chain of %d rows ending in %s; the rows give %d ending in %s"
             % (a["chain_length"], a["chain_head"], len(b["chain"]), head.hex()))
    say("rows: the chain of %d rows holds (canonical form %d), head %s" % (len(docs), form, head.hex()))
    if form == 2:
        if not docs or docs[0].get("kind") != "header":
            fail("header: seq 0 is not the header")
        if docs[0].get("audit") != a["claims"]:
            fail("header: the header commits to %s; the audits row says %s (the audits row was rewritten)"
                 % (json.dumps(docs[0].get("audit"), sort_keys=True), json.dumps(a["claims"], sort_keys=True)))
        cfg = hashlib.sha256(jcs_bytes(a["config"])).hexdigest()
        if cfg != a["claims"]["config_sha256"] or docs[0]["body"].get("config_sha256") != cfg:
            fail("header: the stored config hashes to %s, the header names %s (the config was rewritten)"
                 % (cfg, docs[0]["body"].get("config_sha256")))
        fin = [d for d in docs if d.get("table") == "audit_entries" and d.get("kind") == "finish"]
        if fin and fin[-1]["body"] != {"status": a["status"], "finished_at": a["finished_at"]}:
            fail("header: the finish entry says %s; the audits row says %s at %s"
                 % (json.dumps(fin[-1]["body"]), a["status"], a["finished_at"]))
        say("header: commits to the audits row's claims and config; the finish entry matches")
        mon = [d for d in docs if d.get("table") == "audit_entries" and d.get("kind") == "monitoring"]
        for d in mon:
            body = d["body"]
            if len(body.get("summary_ids", [])) == 0 or len(body.get("summaries_sha256", "")) != 64:
                fail("monitoring: entry seq %d names no summaries or no digest" % d["seq"])
        if mon:
            say("note: %d monitoring entries (%s) are in the chain; the %d agent summaries they name are not in the bundle"
                " (`varde verify` recomputes them from the database)"
                % (len(mon), ", ".join(d["body"]["vantage"] for d in mon), sum(len(d["body"]["summary_ids"]) for d in mon)))
    return head


def check_log(b, head, extra, key_override, say):
    a = b["audit"]
    lg = b["log"]
    key = LogKey(key_override or lg["public_key"])
    if key_override and key_override.strip() != lg["public_key"].strip():
        say("note: the bundle names another log key than the one given; checking with the one given")
    if not key_override:
        say("note: checked with the log key the bundle carries; give --log-key with the key you were handed")
    cps = []
    for i, signed in enumerate(lg["checkpoints"]):
        cps.append(open_checkpoint(signed, key, "#%d in the bundle" % (i + 1)) + ("checkpoint #%d in the bundle" % (i + 1),))
    for path in extra:
        with open(path, encoding="utf-8") as f:
            cps.append(open_checkpoint(f.read(), key, path) + (path,))
    if not cps:
        fail("checkpoints: none in the bundle and none given")
    latest = max(cps, key=lambda c: c[0])
    size, root, src = latest
    say("checkpoints: %d signed by %s; the latest has %d leaves" % (len(cps), key.name, size))

    proofs = {p["old_size"]: p for p in lg["consistency"]}
    for osize, oroot, osrc in cps:
        if osize == size:
            if oroot != root:
                fail("consistency: %s and %s both sign %d leaves with different roots (the log forked)" % (osrc, src, size))
            continue
        p = proofs.get(osize)
        if p is None or p["new_size"] != size:
            why = "; ".join(x for x in b.get("problems", []) if x.startswith("log:"))
            fail("consistency: no proof that the log of %d leaves (%s) grew into the latest of %d%s"
                 % (osize, osrc, size, " (the exporter says: %s)" % why if why else ""))
        if not verify_consistency(osize, size, oroot, root, [base64.b64decode(x) for x in p["proof"]]):
            fail("consistency: the latest checkpoint (%d leaves) does not extend %s (%d leaves): the log was rewritten or forked"
                 % (size, osrc, osize))
    say("consistency: the latest checkpoint extends every older one")

    seal = {"type": "varde.audit", "audit_id": a["id"], "canonical_form": a["canonical_form"],
            "chain_length": len(b["chain"]), "head": head.hex()}
    seals = [l for l in lg["leaves"] if l["kind"] == "audit"]
    if not seals:
        fail("seal: audit %d is not sealed in the log" % a["id"])
    if seals[0]["data"].encode("utf-8") != jcs_bytes(seal):
        fail("seal: log leaf %d seals %s; the rows give %s (evidence changed after the seal)"
             % (seals[0]["index"], seals[0]["data"], jcs(seal)))
    by_report = {}
    for l in lg["leaves"]:
        if l["kind"] == "report":
            by_report[json.loads(l["data"]).get("report_id")] = l
    for r in b["reports"]:
        want = {"type": "varde.report", "audit_id": a["id"], "report_id": r["id"], "kind": r["kind"], "sha256": r["sha256"],
                "signer_fingerprint": r["signer_fingerprint"], "created_at": r["created_at"]}
        l = by_report.get(r["id"])
        if l is None:
            fail("seal: report %d (%s) is not in the log" % (r["id"], r["path"]))
        if l["data"].encode("utf-8") != jcs_bytes(want):
            fail("seal: log leaf %d records report %d as %s; the reports row says %s (the report row was rewritten)"
                 % (l["index"], r["id"], l["data"], jcs(want)))
    say("seal: leaf %d seals this head; %d report rows match their leaves" % (seals[0]["index"], len(b["reports"])))

    for l in lg["leaves"]:
        proof = [base64.b64decode(x) for x in l["inclusion_proof"]]
        if l["tree_size"] != size or not verify_inclusion(l["index"], size, leaf_hash(l["data"].encode("utf-8")), proof, root):
            fail("inclusion: %s leaf %d is not in the tree the latest checkpoint (%s, %d leaves) signs" % (l["kind"], l["index"], src, size))
    say("inclusion: the audit's %d leaves are in the latest checkpoint" % len(lg["leaves"]))


def main(argv):
    args, extra, key = [], [], None
    it = iter(argv)
    for a in it:
        if a == "--checkpoint":
            extra.append(next(it, None) or sys.exit("usage: --checkpoint FILE"))
        elif a == "--log-key":
            v = next(it, None) or sys.exit("usage: --log-key KEY")
            key = open(v).read().strip() if os.path.exists(v) else v
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            args.append(a)
    if len(args) != 1:
        print("usage: verify-bundle.py BUNDLE.json [--checkpoint FILE ...] [--log-key KEY]", file=sys.stderr)
        return 2
    try:
        with open(args[0], encoding="utf-8") as f:
            b = json.load(f)
    except (OSError, ValueError) as e:
        print("FAILED: %s: %s" % (args[0], e))
        return 1
    try:
        if b.get("format") != "varde-evidence-bundle/1":
            fail("%s: format %r is not varde-evidence-bundle/1" % (args[0], b.get("format")))
        head = check_rows(b, print)
        check_log(b, head, extra, key, print)
    except Failed as e:
        print("FAILED: %s" % e)
        return 1
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        print("FAILED: %s: malformed bundle: %s" % (args[0], e))
        return 1
    print("audit %d: verified" % b["audit"]["id"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
