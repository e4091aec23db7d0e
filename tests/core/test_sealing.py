"""The one AES-GCM scheme: values sealed before it became one still open, in all three stores.

The sealed values below were made by the three earlier implementations (core.sealing,
toolkits.crypto and assistant.assistants.keyring, as of commit 20cdb6c) under KEY; each must keep
opening.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from assistant.assistants import keyring
from core import sealing
from toolkits import crypto

KEY_TEXT = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
KEY = bytes(range(32))
PROVIDER_CREDENTIAL = "v1:ANF-5EnknOULeB8DcxlufXpPb_Ev8YLsJcmxIX1ctrntEGf9CBToOVpTlnE="
TOOLKIT_HEADER = "v1:dNU3lYOY63l7AVpuc8ev_FWMZSaNfRe2q5tDGst18DRB8hsNFU3IWYk="
TOOLKIT_GRANT = "v1:s44cgc6oCKBuk758RKIga2S2IOEzblGMoVGkGhdNtbZ69uJ-uGWE"
ASSISTANT_KEY_ID = "k9ea9f439a45ac31"
ASSISTANT_SECRET = bytes.fromhex(
    "9b1ce6b17e4320b5a19ec1b64b2fff1d148887aee0cdd33db78b5ba42fbd2353"
    "58f338f1410f93827a209ee6bbf91c8c"
)


def test_provider_credentials_sealed_by_the_old_code_still_open() -> None:
    assert sealing.decode_key(KEY_TEXT, "bad key") == KEY
    opened = sealing.Sealer(KEY).open(PROVIDER_CREDENTIAL, context="prov_01")
    assert opened == "provider-key-123"
    with pytest.raises(sealing.SealedSecretUnreadable):
        sealing.Sealer(KEY).open(PROVIDER_CREDENTIAL, context="prov_02")


def test_toolkit_credentials_sealed_by_the_old_code_still_open() -> None:
    sealer = crypto.Sealer(KEY)
    assert sealer.open(TOOLKIT_HEADER, context="toolkit-a") == "Bearer tk-456"
    assert sealer.open(TOOLKIT_GRANT) == "oauth-grant"
    with pytest.raises(crypto.SealedValueUnreadable):
        sealer.open(TOOLKIT_HEADER, context="toolkit-b")


def test_assistant_secrets_sealed_by_the_old_code_still_open_from_an_old_keyring_file(
    tmp_path: Path,
) -> None:
    old_file = {"current": ASSISTANT_KEY_ID, "keys": {ASSISTANT_KEY_ID: KEY_TEXT}}
    (tmp_path / keyring.KEYRING_FILE).write_text(json.dumps(old_file))
    ring = keyring.load(tmp_path)
    assert keyring.key_id_of(KEY) == ASSISTANT_KEY_ID
    opened = ring.open(ASSISTANT_KEY_ID, ASSISTANT_SECRET, context=b"secret_01")
    assert opened == "assistant-secret-789"
    with pytest.raises(keyring.Unsealable):
        ring.open(ASSISTANT_KEY_ID, ASSISTANT_SECRET, context=b"secret_02")


def test_all_three_stores_write_the_same_scheme() -> None:
    blob = sealing.Cipher(KEY).seal(b"same", context=b"ctx")
    text = sealing.PREFIX + base64.urlsafe_b64encode(blob).decode()
    assert sealing.Sealer(KEY).open(text, context="ctx") == "same"
    assert crypto.Sealer(KEY).open(text, context="ctx") == "same"
    ring = keyring.Keyring(keys={ASSISTANT_KEY_ID: KEY}, current=ASSISTANT_KEY_ID)
    key_id, sealed = ring.seal("same", context=b"ctx")
    assert key_id == ASSISTANT_KEY_ID
    assert sealing.Cipher(KEY).open(sealed, context=b"ctx") == b"same"
    assert len(sealed) == sealing.NONCE_BYTES + len(b"same") + 16  # nonce, text, GCM tag
