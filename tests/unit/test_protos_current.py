"""The committed generated protobuf code is exactly what `make protos` produces now."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

from services.common.config import REPO_ROOT

PROTOS = REPO_ROOT / "protos"


def test_generated_code_is_current(tmp_path: Path):
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    assert sources, "no .proto files found"
    # The same command as the Makefile's `protos` target, into a scratch folder.
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS}", f"--python_out={tmp_path}",
         f"--pyi_out={tmp_path}", f"--grpc_python_out={tmp_path}", *sources],
        check=True,
    )
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated, "protoc produced nothing"
    stale = [str(rel) for rel in generated
             if not (PROTOS / rel).exists() or not filecmp.cmp(tmp_path / rel, PROTOS / rel, shallow=False)]
    assert not stale, f"generated code is out of date, run `make protos`: {stale}"
    committed = sorted(p.relative_to(PROTOS) for p in PROTOS.rglob("*_pb2*.py*")
                       if p.suffix in (".py", ".pyi") and "__pycache__" not in p.parts)
    orphans = [str(rel) for rel in committed if rel not in set(generated)]
    assert not orphans, f"generated files without a .proto: {orphans}"
