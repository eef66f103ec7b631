"""``[receipts]``: the e-receipt's public base URL (issue 12.12): the server's URL unless set,
https outside demo mode, no user, query or fragment; each refusal names the key. The use
cases' config carries it, and a reader receipt made with it has its URL as the QR."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import CONFIG_DIR, demo_settings_path, load_settings
from kiosk.services.config import ServicesConfig
from library_core.ereceipts import well_formed
from library_core.errors import ConfigError
from tests.support.services import make_env

KEY = {"LIBRARY_KEY": "receipts-config-test-key-0123456789"}


def _config(tmp_path: Path, receipts: str, mode: str = "production") -> Path:
    (tmp_path / "fees.toml").write_bytes((CONFIG_DIR / "fees.toml").read_bytes())
    path = tmp_path / "kiosk.toml"
    path.write_text(f'[kiosk]\nmode = "{mode}"\n[server]\nurl = "https://records.example"\n'
                    f"{receipts}", encoding="utf-8")
    return path


def test_the_base_url_defaults_to_the_server_and_is_kept_without_its_slash(
        tmp_path: Path) -> None:
    assert load_settings(_config(tmp_path, ""), env=KEY).receipts.ereceipt_base_url == \
        "https://records.example"
    settings = load_settings(_config(
        tmp_path, '[receipts]\npublic_base_url = "https://lib.example.cn/"\n'), env=KEY)
    assert settings.receipts.ereceipt_base_url == "https://lib.example.cn"
    assert ServicesConfig.from_settings(settings).ereceipt_base_url == "https://lib.example.cn"
    off = load_settings(_config(tmp_path, "[receipts]\nereceipts = false\n"), env=KEY)
    assert off.receipts.ereceipt_base_url == ""
    demo = load_settings(demo_settings_path(), env={})
    assert demo.receipts.ereceipt_base_url == demo.server.url  # http is fine in demo mode


@pytest.mark.parametrize("url, says", [
    ("http://lib.example.cn", "must be https:// outside demo mode"),
    ("ftp://lib.example.cn", "must be an http(s) URL with a host"),
    ("https://", "must be an http(s) URL with a host"),
    ("https://lib.example.cn/?x=1", "no user, query or fragment"),
    ("https://lib.example.cn/#r", "no user, query or fragment"),
    ("https://me:pw@lib.example.cn", "no user, query or fragment"),
])
def test_bad_base_urls_are_refused_naming_the_key(tmp_path: Path, url: str, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(_config(tmp_path, f'[receipts]\npublic_base_url = "{url}"\n'), env=KEY)
    assert refused.value.key == "receipts.public_base_url" and says in str(refused.value)


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(_config(tmp_path, '[receipts]\nbase = "https://x.example"\n'), env=KEY)
    assert "receipts" in refused.value.key


def test_reader_receipts_carry_their_url_and_staff_documents_do_not(tmp_path: Path) -> None:
    env = make_env(tmp_path / "kiosk.sqlite3", ereceipt_base_url="https://lib.example.cn")
    try:
        receipt = env.new_card(1).receipt
        assert well_formed(receipt.ereceipt_token)
        assert receipt.qr == f"https://lib.example.cn/r/{receipt.ereceipt_token}"
        assert env.store.receipt(receipt.receipt_no) == receipt  # the journal keeps the token
        other = env.new_card(2).receipt
        assert other.ereceipt_token != receipt.ereceipt_token
        roster = env.services.visitors.roster_receipt(env.desk())
        assert not roster.ereceipt_token and "/r/" not in roster.qr
    finally:
        env.store.close()
