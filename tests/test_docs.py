"""The documentation site builds from the repository with warnings as errors, and every example in it runs
against a real relay or Jupyter server while it builds (docs/_ext/rtc_examples.py); no code block is left
unrun but the few listed here, each with the reason its page shows."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import eventually

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "_ext"))
from rtc_reference import operation_id  # noqa: E402
from rtc_rest import schema_id  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("users", "classroom", "operators", "relay", "programs", "performance", "architecture", "extending")

# The code blocks the pages show without running them: (page, language, what the reason says).
ILLUSTRATIVE = sorted(
    [
        ("architecture", "sh", "it builds these pages"),
        ("operators", "nginx", "a deployment file"),
        ("operators", "sh", "a teacher's server holding a classroom session"),
        ("operators", "sh", "needs a running JupyterHub"),
        ("performance", "sh", "about ten minutes"),
        ("relay", "js", "browser code"),
        ("relay", "js", "browser code"),
        ("users", "sh", "installs from the network"),
    ]
)

pytestmark = pytest.mark.timeout(900)


def build(source: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-E", "-q", str(source), str(out)],
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )


def test_the_site_builds_and_every_page_runs_its_examples(tmp_path):
    done = build(ROOT / "docs", tmp_path / "html")
    assert done.returncode == 0, done.stdout + done.stderr
    counts = json.loads((tmp_path / "html" / "examples.json").read_text())
    assert all(counts.get(page, 0) >= 1 for page in PAGES), counts
    for page in ("index", *PAGES):
        assert (tmp_path / "html" / f"{page}.html").exists(), page
    operators = (tmp_path / "html" / "operators.html").read_text()
    assert "--token-secret" in operators and "save_max_wait" in operators and "kernel_timeout" in operators

    checks = json.loads((tmp_path / "html" / "checks.json").read_text())
    unrun = {page: c["unrun"] for page, c in checks.items() if c["unrun"]}
    assert not unrun, f"code blocks neither run nor marked illustrative (with a reason): {unrun}"
    shown = sorted(
        (page, block["language"], block["reason"]) for page, c in checks.items() for block in c["illustrative"]
    )
    assert [(page, language) for page, language, _ in shown] == [(p, lang) for p, lang, _ in ILLUSTRATIVE], shown
    assert all(why in reason for (_, _, reason), (_, _, why) in zip(shown, ILLUSTRATIVE, strict=True)), shown
    assert "Not run while these pages build: browser code" in (tmp_path / "html" / "relay.html").read_text()

    # the REST reference: every operation and schema of spec.json, the endpoint tables linking to them
    programs = (tmp_path / "html" / "programs.html").read_text()
    spec = json.loads((ROOT / "spec.json").read_text())
    for path, operations in spec["paths"].items():
        for method in operations.keys() - {"parameters"}:
            anchor = operation_id(method, path)
            assert f'id="{anchor}"' in programs, (method, path)
            if path.startswith(("/api/rtc/notebooks", "/api/rtc/executions", "/api/kernels")):
                assert f'href="#{anchor}"' in programs, (method, path)
    for name in spec["components"]["schemas"]:
        assert f'id="{schema_id(name)}"' in programs, name
    assert 'href="#schema-cellrequestinsert"' in programs  # a request body links to its schema


def stub_site(tmp_path: Path, architecture: str) -> Path:
    """A copy of the site whose pages are empty but the architecture page, which is ``architecture``."""
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs, ignore=shutil.ignore_patterns("_build"))
    for page in PAGES:
        (docs / f"{page}.md").write_text(f"# {page.title()}\n")
    (docs / "architecture.md").write_text(f"# Architecture\n\n{architecture}\n")
    return docs


def test_a_page_whose_example_fails_or_prints_something_else_does_not_build(tmp_path):
    passing = "```{example} sh\necho one\n---\none\n```"
    done = build(stub_site(tmp_path / "a", passing), tmp_path / "html-a")
    assert done.returncode == 0, done.stderr  # the site around the examples below builds by itself

    done = build(stub_site(tmp_path / "b", "```{example} sh\necho two\n---\none\n```"), tmp_path / "html-b")
    assert done.returncode != 0
    assert "printed what its page does not say" in done.stderr and "architecture" in done.stderr

    done = build(stub_site(tmp_path / "c", "```{example} python\nraise SystemExit(3)\n```"), tmp_path / "html-c")
    assert done.returncode != 0 and "failed (exit 3)" in done.stderr


async def test_a_server_an_example_starts_is_stopped_with_it_and_unmarked_blocks_are_counted(tmp_path):
    pid_file = tmp_path / "sleeper.pid"
    page = f"""
```{{example}} sh
sleep 600 &
echo $! > {pid_file}
```

```{{example}} sh
:until-printed:
:timeout: 30
python -m rtc_relay --port 0 --store memory
---
rtc_relay listening on ws://127.0.0.1:.../ (store: memory)
```

```sh
echo shown but never run
```

```{{illustrative}} sh
:reason: it is an illustration.
echo shown, and the page says why it is not run
```
"""
    done = build(stub_site(tmp_path, page), tmp_path / "html")
    assert done.returncode == 0, done.stderr
    checks = json.loads((tmp_path / "html" / "checks.json").read_text())["architecture"]
    assert checks["run"] == 2 and [block["language"] for block in checks["unrun"]] == ["sh"], checks
    assert [block["reason"] for block in checks["illustrative"]] == ["it is an illustration."]

    sleeper = int(pid_file.read_text())  # the background process ended with its example

    def gone() -> bool:
        try:
            return Path(f"/proc/{sleeper}/stat").read_text().split()[2] == "Z"  # ended, not reaped yet
        except FileNotFoundError:
            return True

    await eventually(gone, timeout=5, what=f"the example's background process {sleeper} to end")
