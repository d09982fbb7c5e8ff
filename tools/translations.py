"""Checks of the Chinese edition's translations (``locale/zh_CN``), used by the tests and by
translators before they commit:

    python tools/translations.py                      # every problem in every .po file
    python tools/translations.py chapters/01_self_attention.po

A translation is complete when every message has a Chinese string that is not fuzzy; it keeps
what the build reads literally (inline code, math, ``{eval}`` expressions, the targets of
``{ref}``, ``{doc}``, ``{term}`` links, link addresses); and wherever the English uses a glossary
term it uses the glossary's Chinese name. A message that uses a glossary word in another sense
("recall that ...") says so in a translator comment, ``# glossary: recall (the verb)``.
"""

from __future__ import annotations

import functools
import re
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCALE = REPO / "locale" / "zh_CN" / "LC_MESSAGES"
GLOSSARY = REPO / "book" / "glossary.md"

# roles and code spans in one left-to-right pass, as MyST reads them: `{eval}` is code, not a role
ROLE_OR_CODE = re.compile(r"``(?P<double>.+?)``|\{(?P<name>[\w:-]+)\}`(?P<text>[^`]*)`|`(?P<single>[^`]+)`")
LINKING_ROLES = {"ref", "doc", "term", "numref", "any", "download", "eq"}  # their text may be translated
MATH = re.compile(r"\$\$(?P<display>.+?)\$\$|\$(?P<inline>[^$\n]+)\$", re.DOTALL)
LINK_TARGET = re.compile(r"\]\((?P<url>[^)\s]+)\)|(?P<bare>https?://[^\s)>\]]+)")
CODE_LISTINGS = ("\\begin{Verbatim}", "\n")  # code listings (notebook outputs), display math
EXEMPTION = re.compile(r"^glossary:\s*(?P<term>[^(]+?)\s*(\(|$)")


def markup(text: str) -> Counter:
    """What the build reads literally, which a translation must keep unchanged: role targets,
    code, math and link addresses (as a multiset: order may change in Chinese)."""
    kept: Counter = Counter()

    def role_or_code(match):
        name, content = match["name"], match["text"]
        if name is None:
            kept[f"`{match['double'] or match['single']}`"] += 1
        elif name in LINKING_ROLES:
            target = re.search(r"<([^<>]+)>\s*$", content)
            kept[f"{{{name}}} -> {(target[1] if target else content).strip()}"] += 1
        else:
            kept[f"{{{name}}}`{content}`"] += 1
        return " "

    text = ROLE_OR_CODE.sub(role_or_code, text)
    text = MATH.sub(lambda m: kept.update([f"${(m['display'] or m['inline']).strip()}$"]) or " ", text)
    for match in LINK_TARGET.finditer(text):
        kept[f"link {match['url'] or match['bare']}"] += 1
    return kept


def prose(text: str) -> str:
    """The words of a message: no code, math, link addresses or role targets."""

    def words_of(match):
        if match["name"] in LINKING_ROLES:  # a link's text is prose; its target is not
            return " " + re.sub(r"<[^<>]+>\s*$", "", match["text"]) + " "
        return " "

    text = ROLE_OR_CODE.sub(words_of, text)
    text = MATH.sub(" ", text)
    return LINK_TARGET.sub(" ", text)


def glossary_entries(path: Path = GLOSSARY) -> list[tuple[str, str]]:
    """The glossary's entries: (the term line as written, "query, key, value"; its definition's
    first line, which starts with the Chinese name)."""
    lines, inside, found = path.read_text(encoding="utf-8").splitlines(), False, []
    for index, line in enumerate(lines):
        if line.startswith("```{glossary}"):
            inside = True
        elif line.startswith("```"):
            inside = False
        elif inside and line and not line.startswith(" ") and index + 1 < len(lines):
            found.append((line.strip(), lines[index + 1].strip()))
    return found


def glossary_term_lines(path: Path = GLOSSARY) -> list[str]:
    """The glossary's entries as written: the Chinese edition keeps them in English, so that every
    chapter's ``{term}`` link finds its entry."""
    return [term for term, _ in glossary_entries(path)]


def glossary_terms(path: Path = GLOSSARY) -> dict[str, list[str]]:
    """English term -> the Chinese names the glossary gives it (the text before the definition's
    first full stop, split at 、 and parentheses). ``query, key, value`` pairs item by item."""
    terms = {}
    for line, definition in glossary_entries(path):
        chinese = definition.split(". ", 1)[0]
        english = [name.strip() for name in line.split(",")]
        outside = re.sub(r"\s*[（(].*?[)）]", "", chinese)
        inside_brackets = re.findall(r"[（(]([^)）]*)[)）]", chinese)
        items = [item.strip() for item in re.split(r"[、]", outside) if item.strip()]
        alternatives = [piece.strip() for group in inside_brackets for piece in re.split(r"[,、]", group)]
        for position, name in enumerate(english):
            names = [items[position]] if len(items) == len(english) > 1 else items
            # "Transformer 模型" also accepts "Transformer"; a name or acronym ("TF-IDF",
            # "bf16", "AdamW") may stay as it is; single letters ("Q") say nothing
            latin = [word for n in names for word in n.split() if word.isascii() and word != n]
            itself = [name] if name != name.lower() or any(c.isdigit() for c in name) else []
            found = [*names, *alternatives, *latin, *itself]
            terms[name] = list(dict.fromkeys(n for n in found if len(n) > 1 or not n.isascii()))
    return terms


def untranslated(catalog) -> list[str]:
    return [m.id for m in catalog if m.id and (m.fuzzy or not m.string)]


@functools.lru_cache(maxsize=1)
def myst_parser():
    """MyST's Markdown parser with the extensions the book enables (``_config.yml``), made once."""
    import yaml
    from myst_parser.config.main import MdParserConfig
    from myst_parser.mdit_to_docutils.base import DocutilsRenderer
    from myst_parser.parsers.mdit import create_md_parser

    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    extensions = set(config.get("parse", {}).get("myst_enable_extensions", []))
    return create_md_parser(MdParserConfig(enable_extensions=extensions), DocutilsRenderer)


def formatting(text: str) -> Counter:
    """How much bold, italics, links and roles MyST finds in ``text``. Chinese punctuation right
    inside ``**`` next to a Chinese character ("**“词”**的") leaves the stars as text: put the
    punctuation outside ("“**词**”的")."""
    kinds = ("strong_open", "em_open", "link_open", "myst_role", "math_inline", "code_inline")
    found: Counter = Counter()
    for token in myst_parser().parse(text):
        for child in token.children or []:
            if child.type in kinds:
                found[child.type] += 1
    return found


def _read_as_list(text: str) -> bool:
    """Whether MyST reads ``text`` as a list ("1. 自注意力机制"): Sphinx then leaves a title or a
    table cell untranslated, since its translation must read as one paragraph."""
    blocks = [token.type for token in myst_parser().parse(text) if token.level == 0]
    return bool(blocks) and blocks[0] in ("ordered_list_open", "bullet_list_open")


def markup_problems(catalog) -> list[str]:
    problems = []
    for message in catalog:
        if not message.id or not message.string:
            continue
        if markup(message.id) != markup(message.string):
            lost = markup(message.id) - markup(message.string)
            added = markup(message.string) - markup(message.id)
            problems.append(f"{_short(message.id)!r}: lost {sorted(lost)}, added {sorted(added)}")
        elif _read_as_list(message.string) and not message.id.startswith(CODE_LISTINGS):
            problems.append(
                f"{_short(message.id)!r}: MyST reads the translation as a list item, so a title or a table "
                "cell stays English: escape its start ('1\\. 自注意力机制')"
            )
        elif formatting(message.id) != formatting(message.string):
            english, chinese = formatting(message.id), formatting(message.string)
            problems.append(
                f"{_short(message.id)!r}: MyST reads {dict(english)} in the English but {dict(chinese)} in the "
                "translation (bold or italics next to Chinese punctuation? put the punctuation outside the stars)"
            )
    return problems


def glossary_problems(catalog, terms: dict[str, list[str]] | None = None) -> list[str]:
    terms = terms if terms is not None else glossary_terms()
    patterns = {
        term: re.compile(rf"(?<![\w-]){re.escape(term)}(s|es)?(?![\w-])", re.IGNORECASE) for term in terms
    }
    term_lines = set(glossary_term_lines())
    problems = []
    for message in catalog:
        if not message.id or not message.string or message.fuzzy:
            continue
        if message.id in term_lines:  # the glossary's own entries keep their English names
            continue
        if message.id.startswith(CODE_LISTINGS):  # code or display math, copied as it is
            continue
        words = prose(message.id)
        exempt = {m["term"].lower() for c in message.user_comments if (m := EXEMPTION.match(c.strip()))}
        for term, pattern in patterns.items():
            if term.lower() in exempt or not pattern.search(words):
                continue
            if not any(name.lower() in message.string.lower() for name in terms[term]):
                problems.append(f"{_short(message.id)!r}: '{term}' needs {' or '.join(terms[term])}")
    return problems


def _short(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def problems_in(path: Path) -> list[str]:
    from babel.messages.pofile import read_po

    with path.open("rb") as handle:
        catalog = read_po(handle)
    return (
        [f"untranslated or fuzzy: {_short(m)!r}" for m in untranslated(catalog)]
        + [f"markup changed: {p}" for p in markup_problems(catalog)]
        + [f"glossary: {p}" for p in glossary_problems(catalog)]
    )


def main(argv: list[str]) -> int:
    paths = [LOCALE / name for name in argv] or sorted(LOCALE.rglob("*.po"))
    total = 0
    for path in paths:
        for problem in problems_in(path):
            print(f"{path.relative_to(LOCALE).as_posix()}: {problem}")
            total += 1
    print(f"{total} problems")
    return 1 if total else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
