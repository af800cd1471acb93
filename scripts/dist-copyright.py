#!/usr/bin/env python3
"""Writes the Debian copyright file (machine-readable format 1.0) of the
edgescrape package for one target: usage: dist-copyright.py TRIPLE

The crates listed are exactly those linked into the binary for TRIPLE:
`cargo tree -e normal,no-proc-macro --target TRIPLE` (no build scripts,
proc macros or dev-dependencies), with the license each declares in its
Cargo.toml (`cargo metadata`), plus Rust's standard library. A crate that
declares only a license file gets that file's text. Each license named gets
one License paragraph: Apache-2.0 points at Debian's common-licenses, the
others carry the text a linked crate ships for it.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

LICENSE_FILE_NAMES = {
    "MIT": ["LICENSE-MIT", "LICENSE-MIT.md", "LICENSE"],
    "ISC": ["LICENSE-ISC", "LICENSE"],
    "Zlib": ["LICENSE-ZLIB", "LICENSE-ZLIB.md", "LICENSE-Zlib"],
    "Unlicense": ["UNLICENSE", "LICENSE-UNLICENSE"],
    "Unicode-3.0": ["LICENSE"],
    "BSL-1.0": ["LICENSE-BOOST", "LICENSE-BSL", "LICENSE"],
    "0BSD": ["LICENSE-0BSD", "LICENSE-0BSD.md"],
    "CDLA-Permissive-2.0": ["LICENSE", "LICENSE-CDLA"],
    "MPL-2.0": ["LICENSE", "LICENSE-MPL"],
    "BSD-3-Clause": ["LICENSE", "LICENSE-BSD"],
    "LLVM-exception": ["LICENSE-Apache-2.0_WITH_LLVM-exception"],
}

# Words a file must hold to be taken as the text of a license that is often
# shipped in a plain LICENSE file beside other notices.
LICENSE_MARKERS = {
    "MIT": "Permission is hereby granted",
    "ISC": "Permission to use, copy, modify, and/or distribute",
    "BSL-1.0": "Boost Software License",
    "LLVM-exception": "LLVM Exceptions to the Apache 2.0 License",
}


def linked_crates(triple):
    """(name, version) of every crate linked into the binary for `triple`."""
    out = subprocess.run(
        ["cargo", "tree", "--locked", "-e", "normal,no-proc-macro", "--target", triple,
         "--prefix", "none", "--format", "{p}"],
        check=True, capture_output=True, text=True).stdout
    crates = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].startswith("v"):
            crates.add((parts[0], parts[1][1:]))
    return crates


def license_ids(expression):
    """The license identifiers in an SPDX expression (or the old `A/B` form)."""
    words = re.split(r"[\s/()]+", expression)
    return sorted({w for w in words if w and w not in ("OR", "AND", "WITH")})


def debian_expression(expression):
    """An SPDX expression in Debian's spelling: `or`/`and`/`with`, no `/`."""
    text = expression.replace("/", " OR ")
    return re.sub(r"\b(OR|AND|WITH)\b", lambda m: m.group(1).lower(), text)


def license_text(packages, license_id):
    """The text of `license_id` as a linked crate ships it, or None."""
    for pkg in packages:
        if license_id not in license_ids(pkg.get("license") or ""):
            continue
        folder = Path(pkg["manifest_path"]).parent
        for name in LICENSE_FILE_NAMES.get(license_id, []):
            path = folder / name
            if path.is_file():
                text = path.read_text(errors="replace")
                if LICENSE_MARKERS.get(license_id, "") not in text:
                    continue
                return text
    return None


def as_paragraph_text(text):
    """Text indented for a copyright field, blank lines as ` .`."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return "\n".join(" " + line if line else " ." for line in lines)


def main():
    triple = sys.argv[1]
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1", "--filter-platform", triple],
        check=True, capture_output=True, text=True).stdout)
    by_id = {(p["name"], p["version"]): p for p in meta["packages"]}
    crates = sorted(linked_crates(triple) - {("edgescrape", by_id_version(meta))})
    packages = [by_id[c] for c in crates]

    out = [
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
        "Upstream-Name: edgescrape",
        "Comment: The binary is statically linked with Rust's standard library and the",
        " crates below (Cargo.toml's declared license of each, for " + triple + ").",
        " glibc and libgcc are linked dynamically from the system's packages.",
        "",
        "Files: *",
        "Copyright: the edgescrape developers",
        "License: Apache-2.0",
        "",
        "Files: rust-std",
        "Comment: Rust's standard library (std, core, alloc and their dependencies)",
        "Copyright: The Rust Project Developers",
        "License: MIT or Apache-2.0",
    ]
    used = {"Apache-2.0", "MIT"}
    for pkg in packages:
        name, version = pkg["name"], pkg["version"]
        out += ["", f"Files: crates/{name}-{version}/*",
                f"Copyright: {', '.join(pkg.get('authors') or []) or 'the ' + name + ' authors'}"]
        if pkg.get("license"):
            out.append("License: " + debian_expression(pkg["license"]))
            used.update(license_ids(pkg["license"]))
        else:
            license_file = Path(pkg["manifest_path"]).parent / pkg["license_file"]
            out.append(f"License: LicenseRef-{name}")
            out.append(as_paragraph_text(license_file.read_text(errors="replace")))
    for license_id in sorted(used):
        out += ["", f"License: {license_id}"]
        if license_id == "Apache-2.0":
            out.append(" On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.")
            continue
        text = license_text(packages, license_id)
        if text is None:
            sys.exit(f"dist-copyright: no linked crate ships the text of {license_id}")
        out.append(as_paragraph_text(text))
    print("\n".join(out))


def by_id_version(meta):
    """The version of the edgescrape package itself."""
    return next(p["version"] for p in meta["packages"] if p["name"] == "edgescrape")


if __name__ == "__main__":
    main()
