"""A process given a publicly known secret refuses to start, and says which variable and what to do.
Real processes (`python -m ...`), stopped before they open anything."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(("module", "variable", "value"), [
    ("services.eligibility.main", "EVOUCHER_SECRET", "dev-evoucher-secret-change-me-32b"),
    ("gateway.main", "MEDSETTLE_ADMIN_TOKEN", "dev-admin-token-change-me"),
    ("gateway.main", "SESSION_SECRET", "change-me"),
])
def test_known_default_secret_refuses_to_start(tmp_path, module, variable, value):
    env = {**os.environ, variable: value, "MEDSETTLE_DATA_DIR": str(tmp_path), "MEDSETTLE_DEV_MODE": ""}
    done = subprocess.run([sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{variable} is a publicly known default; refusing to start" in done.stderr
    from services.common.secrets import SECRETS

    name = next(n for n, v in SECRETS.values() if v == variable)
    assert not (tmp_path / "secrets" / name).exists()  # refused, not replaced by a generated one
