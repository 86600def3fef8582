#!/usr/bin/env python3
"""The docs agree with the program, both ways.

usage: docs_commands.py CASEFLOW CASEFLOWD SRCDIR
       docs_commands.py --man CASEFLOW PAGE

1. Every command `caseflow --help` lists is named in README.md or docs/, and
   each of its options (from the command's usage line) appears in a page that
   names that command. The same for caseflowd's options.
2. Every `caseflow WORDS --options` written in README.md or docs/ (in code
   blocks and inline code) is a command the program has, with options that
   command (or the global options) takes.

With --man, the same list of commands is compared with the manual page
caseflow(1) (roff source): every command `caseflow --help` lists is an entry
of the page's COMMANDS section (a .TP tag starting with its words) and every
entry is such a command, and each option of a command's usage line appears in
its entry.

Prints TAP-like "ok"/"not ok" lines and a final "N passed, N failed"; exits
1 when anything disagrees.
"""
import os
import re
import subprocess
import sys

passed = failed = 0


def ok(msg):
    global passed
    passed += 1
    print("ok - " + msg)


def not_ok(msg):
    global failed
    failed += 1
    print("not ok - " + msg)


def helptext(*argv):
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    return r.stdout + r.stderr


OPT = re.compile(r"--[a-z][a-z0-9-]*")

def program_commands(caseflow):
    """The program's commands and global options, from `caseflow --help`:
    ({"workflow migrate": {options of its usage lines}, ...}, {global options})."""
    top = helptext(caseflow, "--help")
    commands = {}          # "workflow migrate" -> set of options
    for line in top.splitlines():
        m = re.match(r"\s+caseflow ((?:[a-z]+)(?: [a-z]+)?)\b(.*)$", line)
        if not m:
            continue
        words, rest = m.group(1).split(), m.group(2)
        name = " ".join(words)
        sub = helptext(caseflow, *words, "--help")
        usage = [l for l in sub.splitlines() if l.startswith("usage: caseflow " + name)]
        opts = set(OPT.findall(rest))
        for u in usage:
            opts |= set(OPT.findall(u))
        commands.setdefault(name, set()).update(opts)
    global_opts = set()
    in_global = False
    for line in top.splitlines():
        if line.startswith("Global options"):
            in_global = True
            continue
        if in_global and line.strip() and not line.startswith(" "):
            in_global = False
        if in_global:
            m = re.match(r"\s+(--[a-z][a-z0-9-]*)", line)
            if m:
                global_opts.add(m.group(1))
    global_opts |= {"--token-file"}     # described inside --server's text
    if len(commands) < 30:
        not_ok("caseflow --help lists only %d commands" % len(commands))
    else:
        ok("caseflow --help lists %d commands" % len(commands))
    return commands, global_opts


def roff_text(line):
    """A roff source line as the words it prints: fonts and escapes gone."""
    line = re.sub(r"\\f(?:\[[A-Z]*\]|\(..|.)", "", line)
    line = line.replace("\\-", "-").replace("\\&", "").replace("\\%", "")
    line = re.sub(r"\\\((..)", " ", line)
    line = re.sub(r'^\.(?:B|I|BR|RB|BI|IB|IR|RI)\s+', "", line)
    return line.replace('"', "")


def check_man(caseflow, page):
    """caseflow(1) and `caseflow --help` name the same commands, both ways."""
    commands, global_opts = program_commands(caseflow)
    entries = {}       # "workflow deploy" -> its entry's text (tag and body)
    section = None
    current = None
    tag_next = False
    with open(page, encoding="utf-8") as fh:
        for raw in fh:
            raw = raw.rstrip("\n")
            if raw.startswith(".SH"):
                section = raw[3:].strip().strip('"')
                current = None
                continue
            if section != "COMMANDS":
                continue
            if raw.startswith(".TP"):
                tag_next = True
                current = None
                continue
            if raw.startswith(".SS"):
                current = None
                continue
            text = roff_text(raw)
            if tag_next:
                tag_next = False
                m = re.match(r"([a-z]+)(?: ([a-z]+))?\b", text)
                if not m:
                    not_ok("%s: COMMANDS entry %r does not start with a command" % (page, text))
                    continue
                words = [w for w in m.groups() if w]
                name = " ".join(words)
                if name not in commands and words[0] in commands:
                    name = words[0]
                current = name
                if name in entries:
                    not_ok("%s: `%s` has two entries" % (page, name))
                entries[name] = ""
            if current:
                entries[current] += " " + text
    for name in sorted(commands):
        if name not in entries:
            not_ok("`caseflow %s` is not in %s" % (name, page))
            continue
        missing = [o for o in sorted(commands[name])
                   if o not in global_opts and not re.search(re.escape(o) + r"(?![a-z0-9-])", entries[name])]
        if missing:
            not_ok("`caseflow %s`: %s not in its entry in %s" % (name, ", ".join(missing), page))
        else:
            ok("`caseflow %s` and its options are in %s" % (name, page))
    for name in sorted(entries):
        if name not in commands:
            not_ok("%s names `caseflow %s`, which caseflow --help does not list" % (page, name))
    with open(page, encoding="utf-8") as fh:
        src = roff_text(fh.read())
    for o in sorted(global_opts):
        if re.search(re.escape(o) + r"(?![a-z0-9-])", src):
            ok("global option %s is in %s" % (o, page))
        else:
            not_ok("global option %s is not in %s" % (o, page))


if len(sys.argv) == 4 and sys.argv[1] == "--man":
    check_man(sys.argv[2], sys.argv[3])
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)

caseflow, caseflowd, srcdir = sys.argv[1:4]
commands, global_opts = program_commands(caseflow)
# A group ("workflow", "audit") is the first word of two-word commands.
groups = {n.split()[0] for n in commands if " " in n}

GLOBALS_FIRST = re.compile(
    r"\bcaseflow((?:\s+--(?:store|actor|reason|plugins|signing-key|server|token-file)"
    r"(?:=|\s+)(?:\"[^\"]*\"|'[^']*'|\S+)|\s+--(?:json|verbose))+)(?=\s+[a-z])")


def normalise(text):
    """"caseflow --actor admin webhook list" -> "caseflow webhook list"."""
    return GLOBALS_FIRST.sub("caseflow", text)


pages = {}
for p in ["README.md"] + sorted("docs/" + f for f in os.listdir(os.path.join(srcdir, "docs"))
                               if f.endswith(".md")):
    with open(os.path.join(srcdir, p), encoding="utf-8") as fh:
        pages[p] = normalise(fh.read())


def mentions(text, name):
    return re.search(r"(?<![a-z_-])" + re.escape(name) + r"(?![a-z_-])", text) is not None


# 1. Program -> docs.
for name in sorted(commands):
    where = [p for p, t in pages.items() if mentions(t, "caseflow " + name)
             or mentions(t, "`" + name)]
    if not where:
        not_ok("`caseflow %s` is not documented in README.md or docs/" % name)
        continue
    missing = [o for o in sorted(commands[name])
               if o not in global_opts and not any(mentions(pages[p], o) for p in where)]
    if missing:
        not_ok("`caseflow %s`: %s not documented in %s" % (name, ", ".join(missing), ", ".join(where)))
    else:
        ok("`caseflow %s` and its options are documented (%s)" % (name, where[0]))
for o in sorted(global_opts):
    if any(mentions(t, o) for t in pages.values()):
        ok("global option %s is documented" % o)
    else:
        not_ok("global option %s is not documented" % o)

dhelp = helptext(caseflowd, "--help")
dopts = sorted(set(OPT.findall(dhelp)))
if not dopts:
    not_ok("caseflowd --help lists no options")
for o in dopts:
    svc = pages.get("docs/service.md", "")
    if mentions(svc, o) or "| `%s` |" % o[2:] in svc:
        ok("caseflowd %s is documented in docs/service.md" % o)
    else:
        not_ok("caseflowd %s is not documented in docs/service.md" % o)

# 2. Docs -> program: every caseflow command line written in the pages.
known_first = {n.split()[0] for n in commands}
snippets = []
for p, t in pages.items():
    for block in re.findall(r"```[a-z]*\n(.*?)```", t, re.S):
        block = block.replace("\\\n", " ")
        snippets += [(p, l) for l in block.splitlines()]
    for span in re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", t, flags=re.S)):
        snippets.append((p, span))
checked = 0
for p, s in snippets:
    for m in re.finditer(r"(?:^|[\s$(|;&])caseflow((?: [a-z][a-z-]*)+)((?: [^|;&#]*)?)", s):
        words = m.group(1).split()
        while words and words[0] == "caseflow":     # sudo -u caseflow caseflow ...
            words = words[1:]
        if not words:
            continue
        if words[0] not in known_first and words[0] not in groups:
            if words and words[0] in ("is", "and", "the", "does", "can", "has", "will", "to",
                                      "runs", "keeps", "itself", "command", "commands", "itself"):
                continue
            not_ok("%s: `caseflow %s` is not a command of the program: %s" % (p, " ".join(words), s.strip()))
            continue
        name = words[0]
        if len(words) > 1 and name + " " + words[1] in commands:
            name = name + " " + words[1]
        elif name in groups and name not in commands:
            if len(words) > 1:
                not_ok("%s: `caseflow %s %s` is not a command of the program" % (p, words[0], words[1]))
            continue
        checked += 1
        for o in OPT.findall(m.group(2)):
            if o not in commands.get(name, set()) and o not in global_opts:
                not_ok("%s: `caseflow %s` has no option %s: %s" % (p, name, o, s.strip()))
if checked < 50:
    not_ok("only %d command lines found in the docs" % checked)
else:
    ok("%d command lines written in README.md and docs/ name real commands and options" % checked)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
