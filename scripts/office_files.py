"""What the scripts that build the shipped Office files share: writing them reproducibly (fixed zip entry times)."""
from __future__ import annotations

import io
import sys
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

FIXED_TIME = datetime(2026, 1, 5, 9, 0, 0)


def reproducible(save: Callable[[io.BytesIO], None]) -> bytes:
    """The file `save` writes, with every zip entry stamped FIXED_TIME: python-pptx and python-docx stamp the
    current time, so the same content would give a different file on every run."""
    saved = io.BytesIO()
    save(saved)
    fixed = io.BytesIO()
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, source.read(info.filename))
    return fixed.getvalue()


def write_out(build: Callable[[], bytes], default: Path) -> None:
    """Write `build()` to the path given on the command line, or to `default`."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    out.write_bytes(build())
    print(f"wrote {out} ({out.stat().st_size} bytes)")
