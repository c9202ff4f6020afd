"""test_docs.py: README.md and docs/ say what the binary and src/ do.

- every option `r2k help SUB` prints has a row in the options table of SUB's
  section of README.md (short name, negation, value, default, environment
  variable), and every option such a table names exists;
- the frame types, error codes, log levels and error-to-exit-status mapping
  of docs/protocol.md match src/proto.h, src/roles.h and the code that maps
  ERROR codes to exit statuses, both ways;
- every exit status the client's code can return has a row in README.md's
  exit-status table, and every row there is one the code can return;
- docs/design.md names every src/*.c module;
- the byte-level examples of docs/protocol.md are what the documented layout
  gives (test_frame.c checks the C codec against the same bytes).
"""
import glob
import os
import re
import signal
import subprocess

SRC = os.environ["R2K_SOURCE_DIR"]
BIN = os.environ["R2K_BIN"]

# README.md section holding each subcommand's options table.
SECTIONS = {"client": "### Client", "runner": "### Runner", "check": "### Checks"}


def read(rel):
    with open(os.path.join(SRC, rel), encoding="utf-8") as f:
        return f.read()


def section(text, heading):
    """The text from a heading line to the next heading of level 2 or 3."""
    m = re.search(r"^" + re.escape(heading) + r"[ \t]*$", text, re.M)
    assert m, "heading %r not found" % heading
    rest = text[m.end():]
    n = re.search(r"^#{2,3} ", rest, re.M)
    return rest[: n.start()] if n else rest


def cells(line):
    """The cells of a markdown table row; '\\|' is a literal bar."""
    parts = re.split(r"(?<!\\)\|", line.strip())
    return [p.strip().replace("\\|", "|") for p in parts[1:-1]]


def table_after(text, title):
    """Rows (lists of cells) of the first table at or after the line holding title."""
    i = text.rfind("\n", 0, text.index(title)) + 1
    rows, started = [], False
    for line in text[i:].splitlines():
        if line.startswith("|"):
            started = True
            c = cells(line)
            if not all(re.fullmatch(r":?-+:?", x) for x in c):
                rows.append(c)
        elif started:
            break
    assert rows, "no table after %r" % title
    return rows[1:]  # without the header row


def c_block(text, start):
    """The text of a C block (enum, function body) opened right after start (not a prototype)."""
    m = re.search(re.escape(start) + r"[^;{]*\{", text)
    assert m, "no block after %r" % start
    j = m.end() - 1
    depth = 0
    for k in range(j, len(text)):
        if text[k] == "{":
            depth += 1
        elif text[k] == "}":
            depth -= 1
            if depth == 0:
                return text[j + 1 : k]
    raise AssertionError("unterminated block after %r" % start)


def c_enum(rel, enum_name, prefix):
    """{NAME: value} of the enumerators of enum_name in rel, prefix stripped."""
    body = c_block(read(rel), "enum " + enum_name)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    out = {}
    for m in re.finditer(re.escape(prefix) + r"(\w+)\s*=\s*(0x[0-9a-fA-F]+|\d+)", body):
        out[m.group(1)] = int(m.group(2), 0)
    assert out, "no enumerators in enum %s of %s" % (enum_name, rel)
    return out


# ---- (a) options -----------------------------------------------------------

HELP_LINE = re.compile(
    r"^  (?:-(?P<short>\w), |    )--(?P<neg>\[no-\])?(?P<name>[a-z0-9-]+)"
    r"(?: (?P<metavar>\S+))?(?:\s{2,}(?P<help>.*))?$"
)


def help_options(sub):
    p = subprocess.run([BIN, "help", sub], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    start = lines.index("Options:") + 1
    opts = []
    for line in lines[start:]:
        if not line.strip():
            break
        m = HELP_LINE.match(line)
        if m:
            opts.append({"name": m.group("name"), "short": m.group("short"),
                         "bool": bool(m.group("neg")), "metavar": m.group("metavar"),
                         "help": m.group("help") or ""})
        else:
            assert line.startswith(" " * 32) and opts, "unparsed help line: %r" % line
            opts[-1]["help"] += " " + line.strip()
    assert len(opts) > 5, "too few options parsed from 'r2k help %s'" % sub
    return [o for o in opts if o["name"] != "help"]


def help_default(text):
    """The first word of the default a help text states, or None."""
    m = re.search(r"\(default:? ([^;),]+)", text) or re.search(r"(\S+) \(default\)", text)
    return m.group(1).split()[0] if m else None


def option_rows(sub):
    """{'--name': row} for each row of the options table in SUB's README section."""
    sec = section(read("README.md"), SECTIONS[sub])
    rows = table_after(sec, "Options of `r2k %s`:" % sub)
    out = {}
    for row in rows:
        for name in re.findall(r"`(--[a-z0-9-]+)`", row[0]):
            out[name] = row
    return out


def check_options(sub):
    rows = option_rows(sub)
    problems = []
    known = set()
    for o in help_options(sub):
        long = "--" + o["name"]
        known.add(long)
        row = rows.get(long)
        if row is None:
            problems.append("%s %s: no row in README's options table" % (sub, long))
            continue
        text = " ".join(row)
        if o["short"] and "`-%s`" % o["short"] not in row[0]:
            problems.append("%s %s: short option -%s not in its row" % (sub, long, o["short"]))
        if o["bool"]:
            known.add("--no-" + o["name"])
            if "`--no-%s`" % o["name"] not in row[0]:
                problems.append("%s %s: --no-%s not in its row" % (sub, long, o["name"]))
        if o["metavar"] and o["metavar"] not in text:
            problems.append("%s %s: value %s not in its row" % (sub, long, o["metavar"]))
        d = help_default(o["help"])
        if d and (len(row) < 3 or d not in row[2]):
            problems.append("%s %s: help says default %r, README's default cell %r"
                            % (sub, long, d, row[2] if len(row) > 2 else None))
        for env in re.findall(r"\benv ([A-Z][A-Z0-9_]+)", o["help"]):
            if env not in text:
                problems.append("%s %s: environment variable %s not in its row" % (sub, long, env))
    for name in rows:
        if name not in known:
            problems.append("%s %s: in README's options table but not in 'r2k help %s'"
                            % (sub, name, sub))
    assert not problems, "\n".join(problems)


def test_client_options_documented():
    check_options("client")


def test_runner_options_documented():
    check_options("runner")


def test_check_options_documented():
    check_options("check")


def test_help_and_version_documented():
    readme = read("README.md")
    assert "--help" in readme
    for sub in ("client", "runner", "check", "version", "help"):
        assert re.search(r"^r2k %s\b" % sub, readme, re.M), "r2k %s not in README's usage" % sub


# ---- (b) docs/protocol.md against src/proto.h ------------------------------

def protocol_frame_types():
    rows = table_after(section(read("docs/protocol.md"), "### Frame types"), "| type |")
    out = {}
    for r in rows:
        t, name = re.fullmatch(r"`(0x[0-9a-fA-F]+)`", r[0]), re.fullmatch(r"`([A-Z_]+)`", r[1])
        assert t and name, "bad frame type row %r" % r
        out[name.group(1)] = int(t.group(1), 16)
    return out


def protocol_error_codes():
    """{NAME: (code, client exit status)} from docs/protocol.md."""
    rows = table_after(section(read("docs/protocol.md"), "### Error codes"), "| code |")
    out = {}
    for r in rows:
        name = re.fullmatch(r"`([A-Z_]+)`", r[1])
        assert name and r[0].isdigit() and r[-1].isdigit(), "bad error code row %r" % r
        out[name.group(1)] = (int(r[0]), int(r[-1]))
    return out


def diff(what, doc, src):
    problems = []
    for k in sorted(set(doc) | set(src)):
        if k not in src:
            problems.append("%s %s: in the doc, not in the source" % (what, k))
        elif k not in doc:
            problems.append("%s %s: in the source, not in the doc" % (what, k))
        elif doc[k] != src[k]:
            problems.append("%s %s: doc says %r, source %r" % (what, k, doc[k], src[k]))
    return problems


def test_frame_types_match_proto_h():
    src = c_enum("src/proto.h", "r2k_frame_type", "R2K_FRAME_")
    problems = diff("frame type", protocol_frame_types(), src)
    assert not problems, "\n".join(problems)


def test_error_codes_match_proto_h():
    src = c_enum("src/proto.h", "r2k_error_code", "R2K_ERR_")
    doc = {k: v[0] for k, v in protocol_error_codes().items()}
    problems = diff("error code", doc, src)
    assert not problems, "\n".join(problems)


def error_status_map(rel, func):
    """{ERR_NAME: exit status} from a switch mapping R2K_ERR_* to R2K_EXIT_*; the default too."""
    exits = c_enum("src/roles.h", "r2k_exit_status", "R2K_EXIT_")
    codes = c_enum("src/proto.h", "r2k_error_code", "R2K_ERR_")
    body = c_block(read(rel), func)
    out, pending, default = {}, [], None
    for m in re.finditer(r"case R2K_ERR_(\w+):|default:|return R2K_EXIT_(\w+);", body):
        if m.group(1):
            pending.append(m.group(1))
        elif m.group(0) == "default:":
            pending.append(None)
        else:
            for p in pending:
                if p is None:
                    default = exits[m.group(2)]
                else:
                    out[p] = exits[m.group(2)]
            pending = []
    assert out, "no mapping found in %s %s" % (rel, func)
    for name in codes:
        if name not in out:
            assert default is not None, "%s: %s not mapped and no default" % (func, name)
            out[name] = default
    return out


def test_error_exit_statuses_match_code():
    doc = {k: v[1] for k, v in protocol_error_codes().items()}
    problems = diff("client exit status for ERROR",
                    doc, error_status_map("src/client_report.c", "static int error_status("))
    problems += diff("runner's status for ERROR",
                     doc, error_status_map("src/session.c", "int session_error_status("))
    assert not problems, "\n".join(problems)


def test_client_error_names_match_protocol():
    body = c_block(read("src/client_report.c"), "static const char *error_name(")
    arr = re.search(r"names\[\]\s*=\s*\{(.*?)\}", body, re.S).group(1)
    items = [x.strip() for x in arr.split(",") if x.strip()]
    names = {x.strip('"'): i for i, x in enumerate(items) if x != "NULL"}
    doc = {k: v[0] for k, v in protocol_error_codes().items()}
    problems = diff("error name the client prints", doc, names)
    assert not problems, "\n".join(problems)


def test_log_levels_and_version_match_proto_h():
    proto = read("docs/protocol.md")
    levels = c_enum("src/proto.h", "r2k_log_level", "R2K_LOG_")
    row = [r for r in table_after(section(proto, "### Frame types"), "| type |") if r[1] == "`LOG`"]
    doc = {name.upper(): int(n)
           for n, name in re.findall(r"(\d+) (error|warn|info|debug)", row[0][3])}
    problems = diff("log level", doc, levels)
    hdr = read("src/proto.h")
    version = int(re.search(r"#define R2K_PROTO_VERSION\s+(\d+)", hdr).group(1))
    if not re.search(r"^# r2k wire protocol, version %d$" % version, proto, re.M):
        problems.append("protocol.md's title does not say version %d" % version)
    if "`%02x %02x`" % (version >> 8, version & 0xFF) not in proto:
        problems.append("protocol.md's preamble does not show version %d" % version)
    shift = int(re.search(r"#define R2K_MAX_PAYLOAD\s+\(1u << (\d+)\)", hdr).group(1))
    if "(%d bytes)" % (1 << shift) not in proto:
        problems.append("protocol.md does not give the maximum payload as %d bytes" % (1 << shift))
    assert not problems, "\n".join(problems)


# ---- (c) exit statuses -----------------------------------------------------

def readme_exit_rows():
    rows = table_after(section(read("README.md"), "## Exit status"), "| status |")
    exact, ranges, other = {}, [], []
    for r in rows:
        s = r[0].replace("\u2013", "-")
        if s.isdigit():
            exact[int(s)] = r[1]
        elif re.fullmatch(r"\d+-\d+", s):
            lo, hi = s.split("-")
            ranges.append((int(lo), int(hi)))
        else:
            other.append(s)
    return exact, ranges, other


def client_sources():
    files = sorted(glob.glob(os.path.join(SRC, "src", "client*.c")))
    assert files, "no src/client*.c"
    return "\n".join(read(os.path.relpath(p, SRC)) for p in files)


def test_client_exit_statuses_documented():
    exits = c_enum("src/roles.h", "r2k_exit_status", "R2K_EXIT_")
    code = client_sources()
    used = {"R2K_EXIT_" + n: v for n, v in exits.items()
            if re.search(r"\bR2K_EXIT_%s\b" % n, code)}
    # Statuses the ERROR-code mapping returns (its default included).
    used.update({"ERROR " + k: v for k, v in
                 error_status_map("src/client_report.c", "static int error_status(").items()})
    assert "R2K_EXIT_USAGE" in used and "R2K_EXIT_CONNECT" in used, \
        "exit statuses not found in src/client*.c"
    exact, ranges, other = readme_exit_rows()
    problems = ["%s (%d): no row in README's exit-status table" % (n, v)
                for n, v in sorted(used.items()) if v not in exact]
    # Statuses computed from signals and from the builder's own exit code.
    assert re.search(r"128 \+", code), "128+signal no longer computed: update test_docs.py"
    if "128+N" not in other:
        problems.append("the client returns 128+signal but README has no 128+N row")
    top = re.search(r"e\.value >= 0 && e\.value <= (\d+)", code)
    assert top, "the builder's exit code is no longer passed on as it was: update test_docs.py"
    if (1, int(top.group(1))) not in ranges:
        problems.append("builder exit codes 1-%s are passed on but README has no such row"
                        % top.group(1))
    # Rows for statuses the client cannot return: its own, 0, 128+ a signal it traps.
    sigs = {128 + getattr(signal, s) for s in
            re.findall(r"uv_signal_start\([^;]*?\b(SIG[A-Z]+)\)", code)}
    assert sigs, "no signal handlers found in src/client*.c"
    for n in exact:
        if n not in used.values() and n != exits["OK"] and n not in sigs:
            problems.append("README lists exit status %d, which the client never returns" % n)
    assert not problems, "\n".join(problems)


def test_client_error_names_in_json_documented():
    names = set(re.findall(r'client_end\(\s*c,[^;]*?,\s*0,\s*"([A-Z]+)"', client_sources(), re.S))
    assert names, "no client-side error names found"
    m = re.search(r'errors found by the client itself have[^|]*', read("README.md"))
    assert m, "README does not describe the client's own error names"
    doc = set(re.findall(r"`([A-Z]+)`", m.group(0)))
    problems = diff("client-side error name", {n: 1 for n in doc}, {n: 1 for n in names})
    assert not problems, "\n".join(problems)


# ---- (d) docs/design.md -----------------------------------------------------

def test_design_names_every_module():
    design = read("docs/design.md")
    missing = [os.path.basename(p) for p in sorted(glob.glob(os.path.join(SRC, "src", "*.c")))
               if not re.search(r"^\|.*`%s`" % re.escape(os.path.basename(p)), design, re.M)]
    assert not missing, "docs/design.md's module tables do not name: " + ", ".join(missing)


# ---- (e) docs/protocol.md's byte-level examples -------------------------------

def hex_dumps(text):
    """The hex dump blocks of a section: lists of (offset, head bytes, tail bytes, elided)."""
    blocks = []
    for block in re.findall(r"```\n(.*?)```", text, re.S):
        lines = []
        for line in block.splitlines():
            m = re.match(r"([0-9a-f]{4})  ((?:[0-9a-f]{2} |\.\.\. )+)", line + " ")
            if not m:
                continue
            toks = m.group(2).split()
            elided = "..." in toks
            head = toks[:toks.index("...")] if elided else toks
            tail = toks[toks.index("...") + 1:] if elided else []
            lines.append((int(m.group(1), 16), bytes.fromhex("".join(head)),
                          bytes.fromhex("".join(tail)), elided))
        if lines:
            blocks.append(lines)
    return blocks


def test_protocol_example_bytes():
    """Every byte the examples show is what the documented layout gives for their payloads
    (test_frame.c encodes the same exchange with the C codec); offsets run on."""
    import hashlib
    import struct

    def frame(ftype, payload):
        return struct.pack(">HHI", ftype, 0, len(payload)) + payload

    pre = b"\x89R2K\r\n\x1a\n" + struct.pack(">HH", 1, 0)
    req = b'{"destinations":["localhost:5000/demo:1"],"push":true}'
    chk = (b'{"target":"localhost:5000","kind":"reachability","status":"ok","passed":true,'
           b'"detail":"HTTP 200","latency_ms":1.2}')
    ctx = b"tar bytes"
    want = [
        pre + frame(0x0101, req) + frame(0x0102, ctx) +
        frame(0x0103, struct.pack(">Q", len(ctx)) + hashlib.sha256(ctx).digest()),
        pre + frame(0x0201, chk) + frame(0x0202, b"STEP 1/2\n") + frame(0x0203, b"warn\n") +
        frame(0x0205, b"\0" * 8 + b"sha256:9f86"),
        pre + frame(0x0001, b"\x00\x04context entry '../x': name leaves the workspace"),
    ]
    text = section(read("docs/protocol.md"), "## Example exchange")
    blocks = hex_dumps(text)
    assert len(blocks) == 3, blocks
    problems = []
    for n, (lines, stream) in enumerate(zip(blocks, want)):
        for i, (off, head, tail, elided) in enumerate(lines):
            end = lines[i + 1][0] if i + 1 < len(lines) else len(stream)
            if not elided and i + 1 < len(lines) and off + len(head) != end:
                problems.append("example %d, line %04x: %d bytes, but the next line is at %04x"
                                % (n + 1, off, len(head), end))
            if stream[off:off + len(head)] != head:
                problems.append("example %d, line %04x: %s, the layout gives %s"
                                % (n + 1, off, head.hex(" "), stream[off:off + len(head)].hex(" ")))
            if tail and stream[end - len(tail):end] != tail:
                problems.append("example %d, line %04x: ends %s, the layout gives %s"
                                % (n + 1, off, tail.hex(" "), stream[end - len(tail):end].hex(" ")))
        last_off, last_head, _, elided = lines[-1]
        if not elided and last_off + len(last_head) != len(stream) and n < 2:
            problems.append("example %d ends at %04x, the stream at %04x"
                            % (n + 1, last_off + len(last_head), len(stream)))
    assert not problems, "\n".join(problems)
