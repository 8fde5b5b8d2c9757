"""The save path of a notebook, in process: ours (``supernode.notebook_writer.save_notebook``) against
jupyter_server's ``FileContentsManager.save`` (what jupyter-collaboration calls), on the same notebooks,
the same file manager and the same notary, alternately.

What it measures is the CPU time of the saving process (``time.process_time``: the worker thread that
writes the file included), the least of ``--repeat`` saves of each: on a machine shared with other work
the CPU a save takes moves far less than its wall time. The end-to-end save (request → answer, network
and snapshot of the shared document included) is ``bench/notebooks.py``'s. Both files are compared byte
for byte after each pair of saves.

Usage: ``python bench/notebook_save.py [--notebooks 1000,5000,50mb,20mb-stream] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import nb_workloads
from jupyter_server.services.contents.filemanager import FileContentsManager

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from supernode.notebook_writer import save_notebook  # noqa: E402


def _cpu(run) -> float:
    started = time.process_time()
    run()
    return time.process_time() - started


def _saver(label: str, cm: FileContentsManager, model: dict):
    if label == "ours":
        return lambda: asyncio.run(save_notebook(cm, model, "nb.ipynb"))
    return lambda: cm.save(model, "nb.ipynb")


def measure(name: str, repeat: int) -> dict[str, float]:
    content = json.loads(json.dumps(nb_workloads.build(name)))
    with tempfile.TemporaryDirectory(prefix="nb-save-") as tmp:
        roots = {label: Path(tmp, label) for label in ("jupyter_server", "ours")}
        for root in roots.values():
            root.mkdir()
        managers = {label: FileContentsManager(root_dir=str(root)) for label, root in roots.items()}
        for cm in managers.values():
            cm.notary.data_dir = tmp
        best = {label: float("inf") for label in managers}
        for _ in range(repeat):
            for label, cm in managers.items():
                model = {"type": "notebook", "content": copy.deepcopy(content)}
                best[label] = min(best[label], _cpu(_saver(label, cm, model)))
            if (roots["ours"] / "nb.ipynb").read_bytes() != (roots["jupyter_server"] / "nb.ipynb").read_bytes():
                raise SystemExit(f"{name}: the two files differ")
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", default="1000,5000,50mb,20mb-stream")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("| notebook | FileContentsManager.save | ours | ours / jupyter_server |")
    print("|---|---|---|---|")
    for name in args.notebooks.split(","):
        best = measure(name.strip(), args.repeat)
        theirs, ours = best["jupyter_server"], best["ours"]
        print(f"| {name} | {theirs * 1000:,.0f} ms | {ours * 1000:,.0f} ms | {ours / theirs:.2f}× |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
