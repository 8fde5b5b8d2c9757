"""The documentation site builds from the repository with warnings as errors, and every example in it runs
against a real relay or Jupyter server while it builds (docs/_ext/rtc_examples.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("users", "operators", "relay", "programs", "architecture")

pytestmark = pytest.mark.timeout(600)


def build(source: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-n", "-E", "-q", str(source), str(out)],
        capture_output=True,
        text=True,
        timeout=540,
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


def test_a_page_whose_example_fails_or_prints_something_else_does_not_build(tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs, ignore=shutil.ignore_patterns("_build"))
    (docs / "architecture.md").write_text("# Architecture\n\n```{example} sh\necho two\n---\none\n```\n")
    done = build(docs, tmp_path / "html")
    assert done.returncode != 0
    assert "printed what its page does not say" in done.stderr and "architecture" in done.stderr
    (docs / "architecture.md").write_text("# Architecture\n\n```{example} python\nraise SystemExit(3)\n```\n")
    done = build(docs, tmp_path / "html2")
    assert done.returncode != 0 and "failed (exit 3)" in done.stderr
