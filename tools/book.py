"""Build the book in both editions, and keep the Chinese edition's translations in step.

    python tools/book.py build                 # English at _build/html, Chinese at _build/html/zh_CN
    python tools/book.py build --output DIR    # the same under DIR/_build/html (the tests do this)
    python tools/book.py messages              # re-extract the English messages, update the .po files
    python tools/book.py pot --output DIR      # only extract the English messages (the tests)
    python tools/book.py stat                  # count translated, fuzzy and untranslated messages

Both editions come from one source. Sphinx's gettext builder extracts every paragraph, heading,
admonition and table cell of the pages and of the chapter notebooks' markdown as a message;
``locale/zh_CN/LC_MESSAGES/*.po`` holds each message's Chinese translation, and the Chinese build
(``language = "zh_CN"``) uses it in place of the English. Code cells and their outputs are the
same in both editions. ``tests/test_translations.py`` fails when a message is untranslated or
fuzzy, so a changed English sentence cannot ship with an old Chinese one: after editing prose,
run ``messages``, translate what it marks, and commit both.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tools.notebooks import _shown as _relative  # noqa: E402
from tools.translations import prose  # noqa: E402

LOCALE = REPO / "locale"
LANGUAGES = {"en": "", "zh_CN": "zh_CN"}  # language -> folder of its edition inside the site
# sphinx-togglebutton ships its Chinese under "zh-cn", which Sphinx does not look up for zh_CN
TOGGLE_HINTS = {"zh_CN": {"togglebutton_hint": "点击显示", "togglebutton_hint_hide": "点击隐藏"}}


def _sphinx(builder: str, outdir: Path, doctrees: Path, overrides: dict, quiet: bool) -> int:
    """One Sphinx build of the book with Jupyter Book's configuration (``_config.yml``,
    ``_toc.yml``), warnings as errors, as ``jupyter-book build -W --keep-going`` runs it."""
    from jupyter_book.sphinx import build_sphinx

    return build_sphinx(
        REPO,
        outdir,
        noconfig=True,
        path_config=str(REPO / "_config.yml"),
        confoverrides={
            "external_toc_path": (REPO / "_toc.yml").as_posix(),
            "latex_individualpages": False,
            **overrides,
        },
        doctreedir=doctrees,
        builder=builder,
        warningiserror=True,
        keep_going=True,
        quiet=quiet,
    )


def build(output: Path, languages: list[str], quiet: bool = False) -> int:
    """Build each edition with warnings as errors, as ``jupyter-book build -W -n --keep-going``
    does, into ``output/_build/html`` (the Chinese one into its ``zh_CN`` folder)."""

    site = output / "_build" / "html"
    for language in languages:
        outdir = site / LANGUAGES[language]
        if language != "en" and outdir.exists():
            shutil.rmtree(outdir)  # a page removed from the book leaves no stale copy
        print(
            f"[book] building the {'English' if language == 'en' else 'Chinese'} edition "
            f"into {_relative(outdir)}",
            flush=True,
        )
        overrides = {"nitpicky": True, "language": language, **TOGGLE_HINTS.get(language, {})}
        result = _sphinx("html", outdir, output / "_build" / f".doctrees-{language}", overrides, quiet)
        if result != 0:
            print(f"[book] the {language} edition failed to build", file=sys.stderr)
            return 1
    print(f"[book] built: open {_relative(site / 'index.html')} in a browser (or run: make serve)")
    return 0


def extract_messages(output: Path) -> Path | None:
    """Write the English source's messages as .pot files (one per page) into ``output``; return
    that folder, or None when the build failed."""

    if output.exists():
        shutil.rmtree(output)
    result = _sphinx("gettext", output, output.parent / f".doctrees-{output.name}", {}, quiet=True)
    return output if result == 0 else None


def update_translations() -> int:
    """Update ``locale/zh_CN`` from the English: new messages appear untranslated, changed ones
    fuzzy (with the old translation to start from), removed ones go."""
    pot = extract_messages(REPO / "_build" / "gettext")
    if pot is None:
        return 1
    from babel.messages.pofile import read_po, write_po

    folder = LOCALE / "zh_CN" / "LC_MESSAGES"
    for template_path in sorted(pot.rglob("*.pot")):
        relative = template_path.relative_to(pot).with_suffix(".po")
        if relative.parts[0] == "_static":
            continue
        with template_path.open("rb") as handle:
            template = read_po(handle)
        path = folder / relative
        if path.exists():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale="zh_CN")
            before = {m.id: m.string for m in catalog if m.id}
            catalog.update(template)  # changed messages become fuzzy, with their old translation
            if {m.id: m.string for m in catalog if m.id} == before:
                continue  # nothing new: the file stays as it is (no new date in its header)
        else:
            catalog = template
            catalog.locale = "zh_CN"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:  # no line numbers, no wrapping, no obsolete messages
            write_po(handle, catalog, width=-1, ignore_obsolete=True, omit_header=False)
    update_site_messages()
    fill_generated_translations()
    return 0


SITE_MESSAGES = LOCALE / "zh_CN" / "LC_MESSAGES" / "_site.po"


def site_messages() -> list[str]:
    """What the site shows beyond its pages, which the gettext builder does not collect: the
    book's title (``_config.yml``) and the captions of the table of contents (``_toc.yml``)."""
    import yaml

    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))
    return [config["title"], *(part["caption"] for part in toc.get("parts", []) if part.get("caption"))]


def update_site_messages() -> None:
    """Keep ``_site.po`` in step with :func:`site_messages` (``book/_ext`` reads it)."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    old = {}
    if SITE_MESSAGES.exists():
        with SITE_MESSAGES.open("rb") as handle:
            old = {m.id: m.string for m in read_po(handle) if m.id}
    wanted = site_messages()
    if set(old) == set(wanted):
        return
    catalog = Catalog(locale="zh_CN", project="How Large Language Models Work")
    for message in wanted:
        catalog.add(message, old.get(message, ""))
    with SITE_MESSAGES.open("wb") as handle:
        write_po(handle, catalog, width=-1)


# Messages a tool writes (each chapter's run-time line, the run-time table) change with every run;
# their Chinese is written from the same numbers, so a re-run never leaves them untranslated.
RUN_TIME_LINE = re.compile(
    r"^\*\*Run time\*\*: (?P<full>[\d.]+ (?:s|min)) in full mode and (?P<quick>[\d.]+ (?:s|min)) in quick mode, "
    r"measured on (?P<machine>.+) \((?P<speed>\d+) GFLOP/s in float32 matrix products\) on (?P<date>[\d-]+) "
    r"\(`python tools/notebooks.py run`\)\.$"
)
LARGEST_PEAK = re.compile(
    r"^The largest peak is (?P<peak>[\d,]+) MiB \((?P<title>.+)\): with JupyterLab and the system, give each "
    r"student at least (?P<need>[\d,]+) MiB for one open chapter\.$"
)
DURATION = re.compile(r"^(?P<value>[\d.]+) (?P<unit>s|min)$")
MACHINE_STAMP = re.compile(
    r"^(?P<machine>.*(?:threads|CPU|GPU).*) \((?P<speed>\d+) GFLOP/s\), (?P<date>\d{4}-\d\d-\d\d)$"
)
UNITS = {"s": "秒", "min": "分钟"}


def _machine(text: str) -> str:
    """A run stamp's machine in Chinese: "cpu (AMD EPYC), 2 threads, torch 2.13.0+cpu" becomes
    "cpu（AMD EPYC），2 个线程，torch 2.13.0+cpu"."""
    text = re.sub(r"\ba (\d+)-core\b", r"\1-core", text)
    text = re.sub(r"\b(\d+)-core CPU\b", r"\1 核 CPU", text)
    text = re.sub(r"\b(\d+) threads?\b", r"\1 个线程", text)
    return text.replace(", ", "，").replace(" (", "（").replace("(", "（").replace(")", "）")


def _duration(text: str) -> str:
    match = DURATION.match(text)
    return f"{match['value']} {UNITS[match['unit']]}"


def generated_translation(message: str, known: dict[str, str] | None = None) -> str | None:
    """The Chinese of a message a tool writes, or of one with nothing to translate; else None.
    ``known`` maps English messages to their translations (a chapter's title, say)."""
    known = known or {}
    if match := RUN_TIME_LINE.match(message):
        return (
            f"**运行时间**：完整模式 {_duration(match['full'])}，快速模式 {_duration(match['quick'])}，"
            f"于 {match['date']} 在 {_machine(match['machine'])}（float32 矩阵乘法 {match['speed']} GFLOP/s）上测得"
            "（`python tools/notebooks.py run`）。"
        )
    if match := LARGEST_PEAK.match(message):
        return (
            f"内存峰值最高的是 {known.get(match['title'], match['title'])}：{match['peak']} MiB。算上 JupyterLab 和系统，"
            f"每位学生打开一章至少需要 {match['need']} MiB 内存。"
        )
    if DURATION.match(message):
        return _duration(message)
    if stamp := MACHINE_STAMP.match(message):
        return f"{_machine(stamp['machine'])}（{stamp['speed']} GFLOP/s），{stamp['date']}"
    # a formula, a shape, a size, a name in code, a display equation, a code listing's LaTeX
    # (a notebook output the gettext builder also collects): nothing to translate
    if message.startswith(("\n", "\\begin{Verbatim}")):
        return message
    if not re.search(r"[A-Za-z]{2,}", prose(message).replace("MiB", "")):
        return message
    return None


def fill_generated_translations() -> int:
    """Write the Chinese of every generated message (again: a chapter's title may have been
    translated since); return how many changed."""
    from babel.messages.pofile import read_po, write_po

    catalogs = {}
    for path in sorted((LOCALE / "zh_CN" / "LC_MESSAGES").rglob("*.po")):
        with path.open("rb") as handle:
            catalogs[path] = read_po(handle)
    known = {m.id: m.string for c in catalogs.values() for m in c if m.id and m.string and not m.fuzzy}
    filled = 0
    for path, catalog in catalogs.items():
        changed = False
        for message in catalog:
            translation = generated_translation(message.id, known) if message.id else None
            if translation is not None and (translation != message.string or message.fuzzy):
                message.string, message.flags = translation, message.flags - {"fuzzy"}
                changed, filled = True, filled + 1
        if changed:
            with path.open("wb") as handle:
                write_po(handle, catalog, width=-1)
    return filled


def statistics() -> dict[str, dict[str, int]]:
    """Per .po file: how many messages are translated, fuzzy and untranslated."""
    from babel.messages.pofile import read_po

    counts = {}
    for path in sorted((LOCALE / "zh_CN" / "LC_MESSAGES").rglob("*.po")):
        with path.open("rb") as handle:
            catalog = read_po(handle)
        messages = [m for m in catalog if m.id]
        fuzzy = sum(1 for m in messages if m.fuzzy)
        untranslated = sum(1 for m in messages if not m.fuzzy and not m.string)
        counts[path.relative_to(LOCALE).as_posix()] = {
            "translated": len(messages) - fuzzy - untranslated,
            "fuzzy": fuzzy,
            "untranslated": untranslated,
        }
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="build both editions (warnings are errors)")
    build_parser.add_argument("--output", type=Path, default=REPO, help="folder that gets _build/html")
    build_parser.add_argument("--language", choices=[*LANGUAGES, "all"], default="all")
    build_parser.add_argument("--quiet", action="store_true")
    commands.add_parser("messages", help="re-extract the English messages and update the .po files")
    pot_parser = commands.add_parser("pot", help="only extract the English messages as .pot files")
    pot_parser.add_argument("--output", type=Path, required=True, help="folder for the .pot files")
    commands.add_parser("stat", help="translated, fuzzy and untranslated messages; exit 1 unless complete")
    args = parser.parse_args(argv)
    if args.command == "build":
        languages = list(LANGUAGES) if args.language == "all" else [args.language]
        return build(args.output.resolve(), languages, quiet=args.quiet)
    if args.command == "messages":
        return update_translations()
    if args.command == "pot":
        return 0 if extract_messages(args.output.resolve()) else 1
    counts = statistics()
    for name, count in counts.items():
        print(
            f"{name}: {count['translated']} translated, {count['fuzzy']} fuzzy, "
            f"{count['untranslated']} untranslated"
        )
    total = {
        key: sum(count[key] for count in counts.values()) for key in ("translated", "fuzzy", "untranslated")
    }
    print(
        f"all: {total['translated']} translated, {total['fuzzy']} fuzzy, {total['untranslated']} untranslated"
    )
    return 0 if counts and total["fuzzy"] == total["untranslated"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
