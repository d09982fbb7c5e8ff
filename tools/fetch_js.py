"""Fetch the third-party JavaScript the book needs from the npm registry, at set-up.

    python tools/fetch_js.py            # idempotent; `make setup` runs it

Nothing third-party is committed to the repository. This script downloads exact versions from
registry.npmjs.org, checks each tarball against the integrity hash npm publishes, and unpacks
only the files needed into ``vendor/`` (ignored by git). The book build copies ``vendor/`` into
its ``_static`` folder, so the rendered pages load these files locally, never from a CDN.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import io
import json
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENDOR = REPO / "vendor"

# name, version, sha512 integrity (from `npm view NAME@VERSION dist.integrity`), files to keep
PACKAGES = [
    {
        "name": "mermaid",
        "version": "11.12.1",
        "integrity": "sha512-UlIZrRariB11TY1RtTgUWp65tphtBv4CSq7vyS2ZZ2TgoMjs2nloq+wFqxiwcxlhHUvs7DPGgMjs2aeQxz5h9g==",
        "keep": ["package/dist/mermaid.esm.min.mjs", "package/dist/chunks/mermaid.esm.min/*.mjs"],
        "strip": "package/dist/",
        "why": "draws the Mermaid diagrams of the book (sphinxcontrib-mermaid, mermaid_use_local)",
    },
    {
        "name": "d3",
        "version": "5.7.0",  # bertviz's code uses the d3 v5 API (v6 changed event handlers)
        "integrity": "sha512-8KEIfx+dFm8PlbJN9PI0suazrZ41QcaAufsKE9PRcqYPWLngHIyWJZX96n6IQKePGgeSu0l7rtlueSSNq8Zc3g==",
        "keep": ["package/dist/d3.min.js", "package/LICENSE"],
        "strip": "package/",
        "why": "inlined into bertviz's attention views (lmcore.views)",
    },
    {
        "name": "jquery",
        "version": "2.2.4",  # bertviz asks for 2.0.0, which npm does not have; 2.2.4 is API-compatible
        "integrity": "sha512-lBHj60ezci2u1v2FqnZIraShGgEXq35qCzMv4lITyHGppTnA13rwR0MgwyNJh9TnDs3aXUvd1xjAotfraMHX/Q==",
        "keep": ["package/dist/jquery.min.js", "package/LICENSE.txt"],
        "strip": "package/",
        "why": "inlined into bertviz's attention views (lmcore.views)",
    },
]


def _tarball_url(name: str, version: str) -> str:
    return f"https://registry.npmjs.org/{name}/-/{name.split('/')[-1]}-{version}.tgz"


def _check_integrity(data: bytes, integrity: str, what: str) -> None:
    algorithm, expected = integrity.split("-", 1)
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise RuntimeError(f"{what}: integrity check failed (expected {integrity}, got {algorithm}-{actual})")


def fetch(package: dict) -> Path:
    """Download, verify and unpack one package into vendor/<name>/; skip if already there."""
    target = VENDOR / package["name"]
    stamp = target / ".fetched.json"
    wanted = {"version": package["version"], "integrity": package["integrity"]}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return target
    url = _tarball_url(package["name"], package["version"])
    print(f"fetching {package['name']}@{package['version']} from {url}", flush=True)
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            data = response.read()
    except OSError as error:
        raise RuntimeError(
            f"could not download {url} ({error}); the set-up needs the npm registry once, "
            "after that everything works offline"
        ) from None
    _check_integrity(data, package["integrity"], f"{package['name']}@{package['version']}")

    VENDOR.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{package['name']}-", dir=VENDOR))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive.getmembers():
                if not member.isfile() or not any(fnmatch.fnmatch(member.name, p) for p in package["keep"]):
                    continue
                relative = Path(member.name[len(package["strip"]) :])
                if relative.is_absolute() or ".." in relative.parts:
                    raise RuntimeError(f"refusing to unpack {member.name!r} outside {target}")
                destination = staging / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(archive.extractfile(member).read())
        (staging / ".fetched.json").write_text(json.dumps(wanted))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)  # all or nothing: a half-unpacked package never sits in vendor/
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def main() -> int:
    for package in PACKAGES:
        path = fetch(package)
        files = sum(1 for p in path.rglob("*") if p.is_file())
        print(f"{package['name']}@{package['version']}: {files} files in {path.relative_to(REPO)} ({package['why']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
