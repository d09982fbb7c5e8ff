"""Run the chapter notebooks and keep their stored outputs honest.

    python tools/notebooks.py run chapters/01_self_attention.ipynb   # one chapter
    python tools/notebooks.py run                                      # every chapter
    python tools/notebooks.py check                                    # what the tests check

``run`` executes a notebook top to bottom in quick mode (to time it), then in full mode, and
stores the full-mode outputs. When it reaches a markdown cell, it evaluates the cell's MyST
inline expressions (``{eval}`f"{accuracy:.3f}"` ``) in the kernel, as jupyterlab-myst does when
a reader runs the cell, and stores the results in the cell's ``user_expressions`` metadata: the
book and a notebook opened without running show those numbers. It stamps the notebook's
metadata with hashes of its code cells and of its expressions' results, the hardware (with its
float32 matrix speed), the date, both wall times and the kernel's peak memory, and rewrites the
notebook's run-time line
(the markdown cell tagged ``lmcore-runtime``) from those measurements, so the time a reader
sees was measured, not typed. ``check`` fails when a notebook's code changed after its
outputs were stored, or when lmcore source that a notebook shows (``show_source``) no longer
reads as it did in the stored output, or when an inline expression has no stored result or
its stored result was changed after the run: the tests call it, so shown results are never stale.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.util import ensure_async

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = REPO / "chapters"
STAMP_KEY = "lmcore"
RUNTIME_TAG = "lmcore-runtime"
RUNTIME_TABLE = REPO / "book" / "runtimes.md"


def chapter_notebooks() -> list[Path]:
    return sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))


def book_notebooks() -> list[Path]:
    """The chapters, then the appendix notebooks in book/ (the FAQ)."""
    return chapter_notebooks() + sorted((REPO / "book").glob("*.ipynb"))


def copies_arguments(doc: str, default_output: Path, argv: list[str] | None) -> tuple[list[Path], Path]:
    """The command line of the tools that write copies of the notebooks (student copies, the
    nbgrader course, plain-Markdown copies): which notebooks (default: all) and into which folder."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="default: every chapter and appendix notebook"
    )
    parser.add_argument("--output", type=Path, default=default_output, help="the folder to write into")
    args = parser.parse_args(argv)
    return args.notebooks or book_notebooks(), args.output


def clear_outputs(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A code cell as a student starts from: no outputs, no execution count, no timing."""
    cell.outputs, cell.execution_count = [], None
    cell.metadata.pop("execution", None)
    return cell


def code_hash(notebook: nbformat.NotebookNode) -> str:
    """SHA-256 over the code cells' sources, in order; markdown and outputs do not count."""
    digest = hashlib.sha256()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.strip().encode("utf-8"))
            digest.update(b"\0")
    return digest.hexdigest()


# The kernel's own peak resident set size in bytes (ru_maxrss counts KiB on Linux, bytes on macOS;
# the resource module does not exist on Windows, where the stamp then records none).
PEAK_MEMORY_EXPRESSION = (
    "__import__('resource').getrusage(__import__('resource').RUSAGE_SELF).ru_maxrss"
    " * (1 if __import__('sys').platform == 'darwin' else 1024)"
)
# MyST's inline expression role, as jupyterlab-myst and the book read it: {eval}`expression`
EVAL_ROLE = re.compile(r"\{eval\}`([^`]+)`")


def prose_expressions(markdown: str) -> list[str]:
    """The ``{eval}`` expressions of a markdown cell, each once, in order of first use."""
    return list(dict.fromkeys(match.group(1) for match in EVAL_ROLE.finditer(markdown)))


def prose_hash(notebook: nbformat.NotebookNode) -> str:
    """SHA-256 over every markdown cell's expressions and their stored results, in order."""
    digest = hashlib.sha256()
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.metadata.get("user_expressions"):
            digest.update(json.dumps(cell.metadata["user_expressions"], sort_keys=True).encode("utf-8"))
            digest.update(b"\0")
    return digest.hexdigest()


class ProseEvaluatingClient(NotebookClient):
    """An nbclient that also runs markdown cells the way JupyterLab with jupyterlab-myst does:
    each ``{eval}`` expression is evaluated in the kernel (with everything above it run) and
    stored in the cell's ``user_expressions`` metadata, in jupyterlab-myst's format."""

    peak_memory_bytes: int | None = None  # the kernel's peak resident set size, after the last cell

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type == "markdown":
            await self._store_expressions(cell, cell_index)
        else:
            await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        if cell_index == len(self.nb.cells) - 1:
            result = (await self._evaluate([PEAK_MEMORY_EXPRESSION]))["0"]
            if result.get("status") == "ok":
                self.peak_memory_bytes = int(result["data"]["text/plain"])
        return cell

    async def _evaluate(self, expressions: list[str], cell=None) -> dict:
        """The kernel's ``user_expressions`` reply for ``expressions``, keyed "0", "1", ..."""
        message_id = await ensure_async(
            self.kc.execute(
                "",
                silent=True,
                store_history=False,
                user_expressions={str(i): expression for i, expression in enumerate(expressions)},
            )
        )
        reply = await self.async_wait_for_reply(message_id, cell)
        return reply["content"]["user_expressions"]

    async def _store_expressions(self, cell, cell_index) -> None:
        expressions = prose_expressions(cell.source)
        cell.metadata.pop("user_expressions", None)
        if not expressions:
            return
        results = await self._evaluate(expressions, cell)
        stored = [{"expression": e, "result": results[str(i)]} for i, e in enumerate(expressions)]
        failed = [item for item in stored if item["result"].get("status") != "ok"]
        if failed:
            result = failed[0]["result"]
            raise RuntimeError(
                f"markdown cell {cell_index}: {{eval}}`{failed[0]['expression']}` failed: "
                f"{result.get('ename')}: {result.get('evalue')}"
            )
        cell.metadata["user_expressions"] = stored


def lmcore_source() -> str:
    """All of lmcore's source, the text that ``show_source`` outputs are compared with."""
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted((REPO / "lmcore").rglob("*.py")))


def shown_sources(notebook: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """``(cell index, source text)`` of every stored ``show_source`` output."""
    shown = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or "show_source(" not in cell.source:
            continue
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/plain")
            if text:
                shown.append((index, text if isinstance(text, str) else "".join(text)))
    return shown


def _format_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def execute(path: Path, mode: str) -> tuple[nbformat.NotebookNode, float, int | None]:
    """Run ``path`` in ``mode``; return the executed notebook, its wall time in seconds and the
    kernel's peak memory in bytes (None where the system does not say)."""

    notebook = nbformat.read(path, as_version=4)
    previous = os.environ.get("LMCORE_MODE")
    os.environ["LMCORE_MODE"] = mode
    # Attention views in stored outputs load d3/jQuery from the book's _static folder instead of
    # inlining them: the repository carries no third-party code (see lmcore.views).
    os.environ["LMCORE_VIEW_ASSETS"] = "../_static/"
    try:
        client = ProseEvaluatingClient(
            notebook,
            timeout=3600,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        )
        start = time.perf_counter()
        try:
            client.execute()
        except Exception:
            failed = Path(tempfile.gettempdir()) / f"{path.stem}.{mode}.failed.ipynb"
            nbformat.write(notebook, failed)  # outputs up to the failing cell, for diagnosis
            print(f"{path.name}: {mode} run failed; partial outputs in {failed}", file=sys.stderr)
            raise
        elapsed = time.perf_counter() - start
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs = coalesced_streams(cell.outputs)
    finally:
        if previous is None:
            os.environ.pop("LMCORE_MODE", None)
        else:
            os.environ["LMCORE_MODE"] = previous
    return notebook, elapsed, client.peak_memory_bytes


def as_a_terminal_shows(text: str) -> str:
    """Stream text as a terminal leaves it: a carriage return sends the cursor back to the start of
    the line, so only what follows the last one on each line stays (a progress bar's final state,
    not its two hundred updates; JupyterLab shows the live bar the same way)."""
    return "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n"))


def coalesced_streams(outputs: list) -> list:
    """Consecutive pieces of the same stream joined into one output (the kernel sends a progress
    bar as one piece per update), each shown :func:`as_a_terminal_shows`."""
    merged = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            output.get("output_type") == "stream"
            and previous is not None
            and previous.get("output_type") == "stream"
            and previous["name"] == output["name"]
        ):
            previous["text"] += output["text"]
        else:
            merged.append(output)
    for output in merged:
        if output.get("output_type") == "stream":
            output["text"] = as_a_terminal_shows(output["text"])
    return merged


def run(path: Path) -> None:
    from lmcore.provenance import matmul_peak_flops

    speed = matmul_peak_flops(seconds=2.0) / 1e9  # before the runs, on an idle machine
    print(f"{path.name}: this machine multiplies float32 matrices at {speed:.0f} GFLOP/s", flush=True)
    print(f"{path.name}: quick mode ...", flush=True)
    _, quick_seconds, _ = execute(path, "quick")
    print(f"{path.name}: quick mode took {quick_seconds:.1f} s; full mode ...", flush=True)
    notebook, full_seconds, peak_bytes = execute(path, "full")
    peak = f", peak memory {peak_bytes / 2**20:,.0f} MiB" if peak_bytes else ""
    print(f"{path.name}: full mode took {full_seconds:.1f} s{peak}", flush=True)

    from lmcore.provenance import hardware

    machine = hardware()
    today = dt.date.today().isoformat()
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and RUNTIME_TAG in cell.metadata.get("tags", []):
            cell.source = (
                f"**Run time**: {_format_seconds(full_seconds)} in full mode and "
                f"{_format_seconds(quick_seconds)} in quick mode, measured on {machine} "
                f"({speed:.0f} GFLOP/s in float32 matrix products) on {today} "
                "(`python tools/notebooks.py run`)."
            )
    notebook.metadata[STAMP_KEY] = {
        "mode": "full",
        "code_sha256": code_hash(notebook),
        "prose_sha256": prose_hash(notebook),
        "executed": today,
        "hardware": machine,
        "full_seconds": round(full_seconds, 1),
        "quick_seconds": round(quick_seconds, 1),
        "matmul_gflops": round(speed),
        "peak_memory_mib": round(peak_bytes / 2**20) if peak_bytes else None,
    }
    nbformat.write(notebook, path)


def _title(notebook: nbformat.NotebookNode) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "(untitled)"


def runtime_table() -> str:
    """The measured run time of every chapter, as the markdown table the book includes."""
    rows = [
        "| notebook | full mode | quick mode | peak memory | measured on (float32 matrix speed) |",
        "|---|---|---|---|---|",
    ]
    for path in book_notebooks():
        notebook = nbformat.read(path, as_version=4)
        stamp = notebook.metadata.get(STAMP_KEY, {})
        if "full_seconds" not in stamp:
            rows.append(f"| {_title(notebook)} | not measured | not measured | | |")
            continue
        memory = f"{stamp['peak_memory_mib']:,} MiB" if stamp.get("peak_memory_mib") else "not measured"
        speed = f" ({stamp['matmul_gflops']} GFLOP/s)" if stamp.get("matmul_gflops") else ""
        rows.append(
            f"| {_title(notebook)} | {_format_seconds(stamp['full_seconds'])} "
            f"| {_format_seconds(stamp['quick_seconds'])} | {memory} "
            f"| {stamp['hardware']}{speed}, {stamp['executed']} |"
        )
    note = "<!-- Written by `python tools/notebooks.py run` from the notebooks' run stamps; do not edit. -->"
    table = note + "\n\n" + "\n".join(rows) + "\n"
    peaks = {
        _title(notebook): notebook.metadata.get(STAMP_KEY, {}).get("peak_memory_mib")
        for notebook in (nbformat.read(path, as_version=4) for path in book_notebooks())
    }
    peaks = {title: peak for title, peak in peaks.items() if peak}
    if peaks:
        title, peak = max(peaks.items(), key=lambda item: item[1])
        table += (
            f"\nThe largest peak is {peak:,} MiB ({title}): with JupyterLab and the system, give each "
            f"student at least {peak + 1024:,} MiB for one open chapter.\n"
        )
    return table


def _shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


BOOK_TEXT_LINE = re.compile(r"book text digest ([0-9a-f]{12})")


def book_text_read(notebook: nbformat.NotebookNode) -> str | None:
    """The digest of the book's text a notebook's stored outputs say it read (chapter 6 searches
    the book), or ``None``."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            found = BOOK_TEXT_LINE.search(
                output.get("text", "") if isinstance(output.get("text"), str) else ""
            )
            if found:
                return found.group(1)
    return None


def book_text_digest(except_for: str) -> str:
    """The digest of the book's text now, without the notebook ``except_for`` (its own text
    changes with the results its run stores)."""
    from lmcore.retrieval import book_documents, documents_digest

    documents = book_documents(REPO)
    documents.pop(except_for, None)
    return documents_digest(documents)


def problems(path: Path) -> list[str]:
    """Why the stored outputs of ``path`` cannot be trusted (an empty list when they can)."""
    notebook = nbformat.read(path, as_version=4)
    stamp = notebook.metadata.get(STAMP_KEY)
    found = []
    if not stamp:
        return [f"{path.name}: no run stamp; run `python tools/notebooks.py run {_shown(path)}`"]
    if stamp.get("mode") != "full":
        found.append(f"{path.name}: stored outputs come from {stamp.get('mode')!r} mode, not full mode")
    if stamp.get("code_sha256") != code_hash(notebook):
        found.append(
            f"{path.name}: code cells changed after the outputs were stored; "
            f"re-run `python tools/notebooks.py run {_shown(path)}`"
        )
    source = lmcore_source()
    for index, text in shown_sources(notebook):
        if text.strip() not in source:
            found.append(
                f"{path.name}: cell {index} shows lmcore source that changed after the run ({text.strip().splitlines()[0][:60]}); "
                f"re-run `python tools/notebooks.py run {_shown(path)}`"
            )
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        stored = cell.metadata.get("user_expressions", [])
        stored_expressions = [item.get("expression") for item in stored]
        for expression in prose_expressions(cell.source):
            if expression not in stored_expressions:
                found.append(
                    f"{path.name}: cell {index}: {{eval}}`{expression}` has no stored result; "
                    f"re-run `python tools/notebooks.py run {_shown(path)}`"
                )
        if any(item.get("result", {}).get("status") != "ok" for item in stored):
            found.append(f"{path.name}: cell {index} stored an expression that failed")
    if stamp.get("prose_sha256") != prose_hash(notebook):
        found.append(
            f"{path.name}: the stored results of the prose's expressions are not those of the run; "
            f"re-run `python tools/notebooks.py run {_shown(path)}`"
        )
    read_digest = book_text_read(notebook)
    if read_digest is not None and read_digest != book_text_digest(except_for=path.stem):
        found.append(
            f"{path.name}: the book's text it searches changed after the run (text digest {read_digest}); "
            f"re-run `python tools/notebooks.py run {_shown(path)}` after every other chapter"
        )
    counts = [cell.execution_count for cell in notebook.cells if cell.cell_type == "code"]
    if counts != list(range(1, len(counts) + 1)):
        found.append(f"{path.name}: code cells were not run once, top to bottom (execution counts {counts})")
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"{path.name}: cell {index} stored an error ({output.get('ename')})")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="execute notebooks (quick, then full) and store full outputs")
    run_parser.add_argument("notebooks", nargs="*", type=Path)
    check_parser = sub.add_parser("check", help="fail when stored outputs are stale")
    check_parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or book_notebooks()
    if args.command == "run":
        for path in paths:
            run(path)
        RUNTIME_TABLE.write_text(runtime_table())
        # the run-time lines changed: the Chinese edition's messages follow (their Chinese too)
        sys.path.insert(0, str(REPO))
        from tools.book import update_translations

        return update_translations()
    found = [problem for path in paths for problem in problems(path)]
    if not RUNTIME_TABLE.exists() or RUNTIME_TABLE.read_text() != runtime_table():
        found.append(f"{RUNTIME_TABLE.relative_to(REPO)} does not match the notebooks' run stamps")
    print("\n".join(found) or f"{len(paths)} notebooks: stored outputs are current")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
