"""Pipfile.lock's `default` section as a pip requirements file (no pipenv needed).

Called by the python buildpack's compile: pipfile_lock.py Pipfile.lock OUT.txt
Pinned packages keep their hashes (pip's hash-checking mode) when every entry has them; VCS,
path and file entries become the lines pip understands. Prints one summary line.
"""
import json
import sys


def line_for(name, spec):
    if isinstance(spec, str):
        return f"{name}{'' if spec == '*' else spec}", []
    extras = f"[{','.join(spec['extras'])}]" if spec.get("extras") else ""
    markers = f" ; {spec['markers']}" if spec.get("markers") else ""
    hashes = list(spec.get("hashes") or [])
    for vcs in ("git", "hg", "svn", "bzr"):
        if vcs in spec:
            ref = f"@{spec['ref']}" if spec.get("ref") else ""
            prefix = "-e " if spec.get("editable") else ""
            return f"{prefix}{vcs}+{spec[vcs]}{ref}#egg={name}{markers}", None
    if "path" in spec or "file" in spec:
        target = spec.get("path") or spec.get("file")
        prefix = "-e " if spec.get("editable") else ""
        return f"{prefix}{target}{markers}", None
    version = spec.get("version", "")
    if version == "*":
        version = ""
    return f"{name}{extras}{version}{markers}", hashes


def main(src, out):
    with open(src, encoding="utf-8") as f:
        lock = json.load(f)
    default = lock.get("default")
    if not isinstance(default, dict):
        raise SystemExit("Pipfile.lock has no `default` section")
    lines = [line_for(name, spec) for name, spec in sorted(default.items())]
    with_hashes = bool(lines) and all(h for _, h in lines)
    with open(out, "w", encoding="utf-8") as f:
        for text, hashes in lines:
            f.write(text + "".join(f" --hash={h}" for h in hashes) if with_hashes else text)
            f.write("\n")
    note = "with hashes" if with_hashes else "without hashes (not every entry has them)"
    print(f"Pipfile.lock: {len(lines)} package(s) from its default section, {note}")


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"{type(e).__name__}: {e}")
