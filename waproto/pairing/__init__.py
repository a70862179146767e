"""Linking a companion device to a WhatsApp account: the crypto of QR and pairing-code linking.

- ``qr``: the QR string a companion shows, in Baileys 6's four-part form and the 2026
  ``https://wa.me/settings/linked_devices#…`` form (:class:`QRData`, :func:`parse_qr`), and the
  ``<pair-device>`` stanza offering its refs;
- ``device_identity``: the signed device identity ("ADV") of ``<pair-success>``, both sides: the phone
  issues it (:func:`issue_device_identity`, :func:`pair_success_node`) and checks the countersignature
  (:func:`verify_pair_device_sign`); the companion verifies HMAC and account signature, countersigns and
  answers (:func:`complete_pairing`);
- ``link_code``: the pairing-code exchange, both sides (:func:`wrap_ephemeral_key`,
  :func:`companion_finish`, :func:`primary_finish`, ...);
- ``link_code_nodes``: its three ``<link_code_companion_reg>`` stanzas, built and parsed.

Everything here is sans-I/O: keys, randomness (``rng``) and time come in as arguments. This package is
not the client's login flow or the sandbox's phone; they drive these functions. Errors are
``waproto.errors.PairingError`` subclasses for failed checks and ``DecodeError`` for malformed input.
"""

from __future__ import annotations

from waproto.pairing.device_identity import (
    ACCOUNT_SIGNATURE_PREFIX,
    DEVICE_SIGNATURE_PREFIX,
    E2EE,
    HOSTED,
    HOSTED_ACCOUNT_SIGNATURE_PREFIX,
    HOSTED_DEVICE_SIGNATURE_PREFIX,
    PairedDevice,
    PairSuccess,
    account_signature_message,
    complete_pairing,
    device_identity_hmac,
    device_signature_message,
    issue_device_identity,
    pair_device_sign_reply,
    pair_error_reply,
    pair_success_node,
    parse_pair_success,
    verify_device_identity,
    verify_pair_device_sign,
)
from waproto.pairing.link_code import (
    ADV_SECRET_INFO,
    KEY_BUNDLE_INFO,
    KEY_BUNDLE_LENGTH,
    PAIRING_CODE_ALPHABET,
    PAIRING_CODE_ITERATIONS,
    PAIRING_CODE_LENGTH,
    WRAPPED_KEY_LENGTH,
    CompanionFinish,
    companion_finish,
    derive_adv_secret,
    format_pairing_code,
    generate_pairing_code,
    normalize_pairing_code,
    pairing_code_key,
    primary_finish,
    unwrap_ephemeral_key,
    wrap_ephemeral_key,
)
from waproto.pairing.link_code_nodes import (
    LINK_CODE_TAG,
    CompanionFinishRequest,
    CompanionHelloRequest,
    PrimaryHelloNotification,
    companion_finish_node,
    companion_hello_node,
    companion_hello_result_node,
    parse_companion_finish,
    parse_companion_hello,
    parse_companion_hello_result,
    parse_primary_hello,
    primary_hello_node,
)
from waproto.pairing.qr import (
    QR_LINK_PREFIX,
    ClientType,
    QRData,
    client_type_for_browser,
    pair_device_node,
    parse_pair_device,
    parse_qr,
)

__all__ = [
    "ACCOUNT_SIGNATURE_PREFIX",
    "ADV_SECRET_INFO",
    "DEVICE_SIGNATURE_PREFIX",
    "E2EE",
    "HOSTED",
    "HOSTED_ACCOUNT_SIGNATURE_PREFIX",
    "HOSTED_DEVICE_SIGNATURE_PREFIX",
    "KEY_BUNDLE_INFO",
    "KEY_BUNDLE_LENGTH",
    "LINK_CODE_TAG",
    "PAIRING_CODE_ALPHABET",
    "PAIRING_CODE_ITERATIONS",
    "PAIRING_CODE_LENGTH",
    "QR_LINK_PREFIX",
    "WRAPPED_KEY_LENGTH",
    "ClientType",
    "CompanionFinish",
    "CompanionFinishRequest",
    "CompanionHelloRequest",
    "PairSuccess",
    "PairedDevice",
    "PrimaryHelloNotification",
    "QRData",
    "account_signature_message",
    "client_type_for_browser",
    "companion_finish",
    "companion_finish_node",
    "companion_hello_node",
    "companion_hello_result_node",
    "complete_pairing",
    "derive_adv_secret",
    "device_identity_hmac",
    "device_signature_message",
    "format_pairing_code",
    "generate_pairing_code",
    "issue_device_identity",
    "normalize_pairing_code",
    "pair_device_node",
    "pair_device_sign_reply",
    "pair_error_reply",
    "pair_success_node",
    "pairing_code_key",
    "parse_companion_finish",
    "parse_companion_hello",
    "parse_companion_hello_result",
    "parse_pair_device",
    "parse_pair_success",
    "parse_primary_hello",
    "parse_qr",
    "primary_finish",
    "primary_hello_node",
    "unwrap_ephemeral_key",
    "verify_device_identity",
    "verify_pair_device_sign",
    "wrap_ephemeral_key",
]
