"""The in-memory registry and the helpers over any Registry."""

from __future__ import annotations

import pytest

from waproto.errors import LocalProtocolError
from waproto.jid import JID
from waproto.sandbox.registry import (
    Account,
    DeviceKeys,
    Group,
    MemoryRegistry,
    OneTimePreKey,
    Registry,
    SignedPreKey,
    account_of,
    device_jids,
    take_bundle,
)

A = Account("15550001111", "201", "A")


def _keys(*pre_keys: int) -> DeviceKeys:
    return DeviceKeys(
        5,
        b"\x01" * 32,
        SignedPreKey(1, b"\x02" * 32, b"\x03" * 64),
        [OneTimePreKey(i, bytes([i]) * 32) for i in pre_keys],
    )


def test_accounts_devices_and_keys() -> None:
    registry = MemoryRegistry()
    checked: Registry = registry  # the memory registry satisfies the Protocol
    registry.add_account(A)
    with pytest.raises(LocalProtocolError, match="already exists"):
        registry.add_account(Account("15550001111", "999"))
    with pytest.raises(LocalProtocolError, match="already exists"):
        registry.add_account(Account("1", "201"))
    assert checked.account_by_phone(A.phone) is A
    assert checked.account_by_lid("201") is A
    assert account_of(registry, JID("201", "lid", device=3)) is A
    assert account_of(registry, A.jid.with_device(2)) is A
    assert account_of(registry, JID("", "s.whatsapp.net")) is None
    assert account_of(registry, JID("201", "g.us")) is None
    assert checked.device_ids(A.phone) == [0]
    assert checked.device_keys(A.jid) is None
    assert take_bundle(registry, A.jid) is None
    registry.set_device_keys(A.jid.with_device(4), _keys(8))
    registry.set_device_keys(A.jid, _keys())
    assert device_jids(registry, A) == [A.jid, A.jid.with_device(4)]
    assert checked.device_keys(A.lid_jid) is None  # keys are looked up by phone-number device JIDs
    registry.add_pre_keys(A.jid, [OneTimePreKey(1, b"\x09" * 32)])
    first = take_bundle(registry, A.jid)
    assert first is not None
    assert (first.pre_key_id, first.device_id) == (1, 0)
    second = take_bundle(registry, A.jid)
    assert second is not None
    assert second.pre_key_id is None
    registry.remove_device(A.jid.with_device(4))
    assert checked.device_ids(A.phone) == [0]
    with pytest.raises(LocalProtocolError, match="no keys"):
        registry.add_pre_keys(A.jid.with_device(4), [])
    with pytest.raises(LocalProtocolError, match="known account"):
        registry.set_device_keys(JID("1999", "s.whatsapp.net"), _keys())
    with pytest.raises(LocalProtocolError, match="known account"):
        registry.set_device_keys(A.lid_jid, _keys())


def test_groups() -> None:
    registry = MemoryRegistry()
    group = Group(JID("123", "g.us"), "s", A.jid, 1, [A.jid], {A.jid})
    assert registry.add_group(group) is group
    assert registry.group(JID("123", "g.us")) is group
    with pytest.raises(LocalProtocolError, match="new group"):
        registry.add_group(group)
    with pytest.raises(LocalProtocolError, match="new group"):
        registry.add_group(Group(JID("124", "s.whatsapp.net"), "s", A.jid, 1))
