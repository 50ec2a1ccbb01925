"""Per-installation secrets (services/common/secrets.py): generated once, kept 0600, shared by
processes that start together; a publicly known or short value refused outside dev mode."""

from __future__ import annotations

import stat
import threading

import pytest

from services.common import secrets
from services.common.config import Settings


def test_generated_once_per_installation_and_kept_private(tmp_path):
    first = secrets.installation_secret(tmp_path, "evoucher-key", "EVOUCHER_SECRET", None)
    again = secrets.installation_secret(tmp_path, "evoucher-key", "EVOUCHER_SECRET", None)
    other = secrets.installation_secret(tmp_path / "elsewhere", "evoucher-key", "EVOUCHER_SECRET", None)
    assert first == again and len(first) >= secrets.MIN_LENGTH
    assert other != first  # another installation, another key
    path = tmp_path / "secrets" / "evoucher-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    assert path.read_text().strip() == first


def test_processes_starting_together_agree(tmp_path):
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(
        secrets.installation_secret(tmp_path, "session-key", "SESSION_SECRET", None))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and len(set(got)) == 1


@pytest.mark.parametrize("value", ["dev-evoucher-secret-change-me-32b", "dev-admin-token-change-me", "short"])
def test_known_or_short_values_are_refused_naming_the_variable(tmp_path, value):
    with pytest.raises(secrets.SecretRefused, match="EVOUCHER_SECRET"):
        secrets.installation_secret(tmp_path, "evoucher-key", "EVOUCHER_SECRET", value)
    assert not (tmp_path / "secrets").exists()  # nothing generated instead


def test_dev_mode_accepts_a_weak_value_explicitly(tmp_path):
    assert secrets.installation_secret(tmp_path, "admin-token", "MEDSETTLE_ADMIN_TOKEN", "short",
                                       dev_mode=True) == "short"


def test_a_configured_strong_value_is_used_as_given(tmp_path):
    value = "k" * 40
    assert secrets.installation_secret(tmp_path, "admin-token", "MEDSETTLE_ADMIN_TOKEN", value) == value
    assert not (tmp_path / "secrets").exists()


def test_resolved_fills_only_the_named_fields(tmp_path):
    s = Settings.from_env({"MEDSETTLE_DATA_DIR": str(tmp_path)})
    r = secrets.resolved(s, "session_secret")
    assert r.session_secret and r.evoucher_secret is None and r.admin_token is None
    assert r.session_secret == (tmp_path / "secrets" / "session-key").read_text().strip()


def test_the_admin_token_is_never_generated_only_checked_when_set(tmp_path):
    # No shared admin secret by default: the admin API takes per-account tokens (gateway/console/).
    s = Settings.from_env({"MEDSETTLE_DATA_DIR": str(tmp_path)})
    assert secrets.resolved(s, "admin_token").admin_token is None
    assert not (tmp_path / "secrets" / "admin-token").exists()
    with pytest.raises(secrets.SecretRefused, match="MEDSETTLE_ADMIN_TOKEN"):
        secrets.resolved(Settings.from_env({"MEDSETTLE_DATA_DIR": str(tmp_path), "MEDSETTLE_ADMIN_TOKEN": "short"}),
                         "admin_token")
