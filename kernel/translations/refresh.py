"""Bring the Vietnamese catalogue up to date in one step, safe to run from several shells at once:

    python kernel/translations/refresh.py

extracts the English msgids from the code and templates, merges them into messages.po, fills new
ones from every `kernel/translations/pending/*.json` ({msgid: Vietnamese}), compiles messages.mo and
lists whatever is still untranslated. A file lock serialises concurrent runs so the catalogue is
never written by two processes at once.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "kernel" / "translations"
PO = TRANSLATIONS / "vi" / "LC_MESSAGES" / "messages.po"
PENDING = TRANSLATIONS / "pending"
PYBABEL = [sys.executable, "-m", "babel.messages.frontend"]


def pending_translations() -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted(PENDING.glob("*.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def fill(translations: dict[str, str]) -> list[str]:
    with PO.open("rb") as handle:
        catalog = read_po(handle)
    missing = []
    for message in catalog:
        if not message.id:
            continue
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        if key in translations and (not message.string or message.fuzzy):
            value = translations[key]
            message.string = (value, value) if isinstance(message.id, tuple) else value
        if not message.string or (isinstance(message.string, tuple) and not all(message.string)):
            missing.append(key)
        message.flags.discard("fuzzy")
    with PO.open("wb") as handle:
        write_po(handle, catalog, width=100)
    return missing


def main() -> int:
    with open("/tmp/nongsan-i18n.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        pot = TRANSLATIONS / "messages.pot"
        run = lambda *args: subprocess.run([*PYBABEL, *args], cwd=ROOT, check=True, capture_output=True)  # noqa: E731
        run("extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "-o", str(pot), ".")
        run("update", "-i", str(pot), "-d", str(TRANSLATIONS), "-l", "vi", "--no-fuzzy-matching")
        missing = fill(pending_translations())
        run("compile", "-d", str(TRANSLATIONS), "-l", "vi")
    for msgid in missing:
        print("untranslated:", msgid)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
