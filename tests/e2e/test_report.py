"""`kms-rotation audit --report FILE.html` end to end: the real binary against moto, and the page
it writes opened in a real headless browser (Debian's chromium, installed by `make chromium`).

The browser runs the page's script and prints the DOM it built (`--dump-dom`); the test reads that
DOM with html.parser and compares every count, bar, table row and timeline mark with the JSON
lines of `audit --output json` (the same run) and of `exceptions --output json`. The page marks
itself `data-rendered="true"` when its script finished, and records any script error (or anything
its Content-Security-Policy blocked) in `data-errors`.

Without chromium on PATH the test fails when CI is set (a CI run must not pass by skipping), and
is skipped otherwise.
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from localaws import ACCOUNT, OTHER_REGION, REGION
from support import create_key, day, exception_tag, json_lines, run_cli

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
COMPLIANCE = ("COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE")
# The order of the NON_COMPLIANT table: the most exposed first, then the rest.
EXPOSURE_RANK = {"public": 0, "cross-account": 1, "unknown": 2}
# A tag value (moto takes it; AWS would refuse `<`) that would run if the page let it out of its data.
HOSTILE = '</script><script>document.body.dataset.pwned = "1"</script><!-- <script>'
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def browser() -> str:
    """The headless browser, or fail (CI) / skip (elsewhere) without one."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    message = f"no {' / '.join(BROWSERS)} on PATH: `make chromium` installs Debian's chromium"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


# --- The rendered DOM ----------------------------------------------------------------------------


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self):
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.walk()

    def find_all(self, tag: str | None = None, **attrs: str | None) -> list[Node]:
        """Elements of `tag` (any when None) having every attribute named (data_key -> data-key,
        class_ -> class); a value of None asks only that the attribute be there."""
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [
            n
            for n in self.walk()
            if (tag is None or n.tag == tag) and all(k in n.attrs and (v is None or n.attrs[k] == v) for k, v in wanted.items())
        ]

    def by_id(self, element_id: str) -> Node:
        found = self.find_all(id=element_id)
        assert len(found) == 1, f"{len(found)} elements with id {element_id}"
        return found[0]


class DomBuilder(HTMLParser):
    """A tree of the serialized DOM (chromium writes every end tag, SVG ones included)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def rendered_dom(chromium: str, page, profile) -> Node:
    """Open the page in headless chromium and return the DOM its script built."""
    out = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "<body" in out.stdout, f"chromium exited {out.returncode}:\n{out.stderr[-3000:]}"
    builder = DomBuilder()
    builder.feed(out.stdout)
    builder.close()
    return builder.root


# --- The test ------------------------------------------------------------------------------------


@pytest.fixture
def estate(kms, kms_for_region):
    """Keys of every kind the page shows, in two Regions; the exceptions relative to today."""

    def excepted(value):
        return create_key(kms, Tags=exception_tag(value))

    on = create_key(kms, Description="rotating")
    kms.enable_key_rotation(KeyId=on)
    kms.create_alias(AliasName="alias/report/rotating", TargetKeyId=on)
    off = create_key(kms, Description="not rotating")
    kms.create_alias(AliasName="alias/report/off", TargetKeyId=off)
    other = kms_for_region(OTHER_REGION)
    off_there = create_key(other, Description="not rotating, other Region")
    on_there = create_key(other, Description="rotating, other Region")
    other.enable_key_rotation(KeyId=on_there)
    create_key(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")  # NOT_APPLICABLE
    return {
        "off": {off, off_there},
        "valid": excepted(f"owner=bob expires={day(120)} ticket=SEC-2"),
        # The issue's example (owner=alice expires=2026-12-10 ticket=SEC-1), kept 11 days ahead.
        "expiring": excepted(f"owner=alice expires={day(11)} ticket=SEC-1"),
        "expired": excepted(f"owner=carol expires={day(-5)} ticket=SEC-3"),
        # Malformed, and hostile: it must show as text, not end the page's data or run.
        "malformed": excepted(HOSTILE),
    }


def test_the_report_page_shows_what_the_json_says(binaries, estate, tmp_path):
    chromium = browser()
    page = tmp_path / "out.html"

    audit = run_cli(binaries, "audit", "--region", REGION, "--region", OTHER_REGION, "--output", "json", "--report", str(page))
    exceptions = run_cli(binaries, "exceptions", "--region", REGION, "--region", OTHER_REGION, "--output", "json")

    assert audit.returncode == 1, audit.stderr  # NON_COMPLIANT keys
    assert exceptions.returncode == 1, exceptions.stderr  # an expired and a malformed exception
    keys = json_lines(audit.stdout)
    found = json_lines(exceptions.stdout)
    assert {k["accountId"] for k in keys} == {ACCOUNT}
    assert {k["region"] for k in keys} == {REGION, OTHER_REGION}
    assert {k["resourceId"] for k in found} == {estate[e] for e in ("valid", "expiring", "expired", "malformed")}

    # Self-contained: nothing to fetch (the page's policy would block it, and report it below).
    html = page.read_text()
    for reference in ("http://", "https://", "src=", "href=", "url(", "@import"):
        assert reference not in html, f"the page contains {reference!r}"

    dom = rendered_dom(chromium, page, tmp_path / "profile")
    body = dom.find_all("body")[0]
    assert body.attrs.get("data-errors", "") == "", body.attrs["data-errors"]
    assert body.attrs.get("data-rendered") == "true"
    assert "data-pwned" not in body.attrs
    assert len(dom.find_all("script")) == html.count("<script"), "no script was added"

    # The counts.
    totals = collections.Counter(k["complianceType"] for k in keys)
    assert dom.by_id("count-keys").text() == str(len(keys))
    for compliance in COMPLIANCE:
        element = dom.by_id(f"count-{compliance}")
        assert (element.text(), element.attrs["data-count"]) == (str(totals[compliance]), str(totals[compliance])), compliance
    statuses = collections.Counter(e["status"] for e in found)
    for status in ("EXPIRED", "EXPIRING_SOON", "MALFORMED"):
        assert dom.by_id(f"count-{status}").text() == str(statuses[status]), status
    assert dom.by_id("count-exceptions").text() == str(len(found))
    assert dom.by_id("count-failed").text() == "0"

    # The bars: one segment per (group, compliance) with keys, of that many keys.
    for attr, field in (("account", "accountId"), ("region", "region")):
        expected = collections.Counter((k[field], k["complianceType"]) for k in keys)
        chart = dom.by_id(f"chart-{attr}s")
        segments = chart.find_all("rect", data_compliance=None)
        drawn = {(s.attrs[f"data-{attr}"], s.attrs["data-compliance"]): int(s.attrs["data-count"]) for s in segments}
        assert len(drawn) == len(segments), "one segment per group and compliance"
        assert drawn == dict(expected), attr
        totals_drawn = {g.attrs[f"data-{attr}"]: int(g.attrs["data-total"]) for g in chart.find_all("g", data_total=None)}
        assert totals_drawn == dict(collections.Counter(k[field] for k in keys)), attr
        # The table under the chart says the same.
        for tr in dom.by_id(f"table-{attr}s").find_all("tr", **{f"data_{attr}": None}):
            cells = [td.text() for td in tr.find_all("td")]
            group = tr.attrs[f"data-{attr}"]
            assert cells == [group, *(str(expected[(group, c)]) for c in COMPLIANCE), str(sum(expected[(group, c)] for c in COMPLIANCE))]

    # The NON_COMPLIANT keys, the most exposed first, each with a fix.
    non_compliant = [k for k in keys if k["complianceType"] == "NON_COMPLIANT"]
    assert estate["off"] | {estate["expired"], estate["malformed"]} <= {k["resourceId"] for k in non_compliant}

    def order(k):
        exposure = (k.get("exposure") or "").replace("_", "-")
        return (EXPOSURE_RANK.get(exposure, 3), k["accountId"], k["region"], k["resourceId"])

    rows = dom.by_id("noncompliant-rows").find_all("tr", data_key=None)
    assert [(r.attrs["data-account"], r.attrs["data-region"], r.attrs["data-key"]) for r in rows] == [
        (k["accountId"], k["region"], k["resourceId"]) for k in sorted(non_compliant, key=order)
    ]
    by_key = {k["resourceId"]: k for k in non_compliant}
    for r in rows:
        key = by_key[r.attrs["data-key"]]
        assert r.attrs["data-exposure"] == (key.get("exposure") or "").replace("_", "-")
        [fix] = [td for td in r.find_all("td") if "fix" in td.attrs.get("class", "").split()]
        if key.get("fix"):
            assert fix.text() == key["fix"]
        else:
            assert fix.text().strip(), f"no fix shown for {key['resourceId']}"
        assert key["annotation"] in [td.text() for td in r.find_all("td")]

    # The exceptions: a mark per dated exception at its status; expired marked as such (red);
    # malformed ones listed apart.
    marks = {m.attrs["data-key"]: m for m in dom.by_id("timeline").find_all("circle", data_key=None)}
    dated = {e["resourceId"]: e for e in found if e["status"] != "MALFORMED"}
    assert set(marks) == set(dated)
    for key_id, e in dated.items():
        assert (marks[key_id].attrs["data-status"], marks[key_id].attrs["data-expires"]) == (e["status"], e["expires"])
        assert e["status"] in marks[key_id].attrs["class"].split()
    assert marks[estate["expired"]].attrs["data-status"] == "EXPIRED"
    assert marks[estate["expiring"]].attrs["data-status"] == "EXPIRING_SOON"
    assert marks[estate["valid"]].attrs["data-status"] == "VALID"
    malformed = [r.attrs["data-key"] for r in dom.by_id("malformed-rows").find_all("tr", data_key=None)]
    assert malformed == [estate["malformed"]]
    [row] = dom.by_id("malformed-rows").find_all("tr", data_key=None)
    assert [td.text() for td in row.find_all("td")][2:5] == [estate["malformed"], "-", HOSTILE]
    listed = [r.attrs["data-key"] for r in dom.by_id("exceptions-rows").find_all("tr", data_key=None)]
    assert listed == sorted(dated, key=lambda k: (dated[k]["expires"], k))

    # Every account-Region read; the run's figures shown.
    assert dom.by_id("failed-rows").find_all("tr", data_account=None) == []
    assert dom.by_id("figures-rows").find_all("tr", data_figure=None), "the run's figures"
