from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ADVEncryptionType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    E2EE: _ClassVar[ADVEncryptionType]
    HOSTED: _ClassVar[ADVEncryptionType]
E2EE: ADVEncryptionType
HOSTED: ADVEncryptionType

class ADVDeviceIdentity(_message.Message):
    __slots__ = ("raw_id", "timestamp", "key_index", "account_type", "device_type")
    RAW_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    KEY_INDEX_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    raw_id: int
    timestamp: int
    key_index: int
    account_type: ADVEncryptionType
    device_type: ADVEncryptionType
    def __init__(self, raw_id: _Optional[int] = ..., timestamp: _Optional[int] = ..., key_index: _Optional[int] = ..., account_type: _Optional[_Union[ADVEncryptionType, str]] = ..., device_type: _Optional[_Union[ADVEncryptionType, str]] = ...) -> None: ...

class ADVSignedDeviceIdentity(_message.Message):
    __slots__ = ("details", "account_signature_key", "account_signature", "device_signature")
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SIGNATURE_KEY_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    details: bytes
    account_signature_key: bytes
    account_signature: bytes
    device_signature: bytes
    def __init__(self, details: _Optional[bytes] = ..., account_signature_key: _Optional[bytes] = ..., account_signature: _Optional[bytes] = ..., device_signature: _Optional[bytes] = ...) -> None: ...

class ADVSignedDeviceIdentityHMAC(_message.Message):
    __slots__ = ("details", "hmac", "account_type")
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    HMAC_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_TYPE_FIELD_NUMBER: _ClassVar[int]
    details: bytes
    hmac: bytes
    account_type: ADVEncryptionType
    def __init__(self, details: _Optional[bytes] = ..., hmac: _Optional[bytes] = ..., account_type: _Optional[_Union[ADVEncryptionType, str]] = ...) -> None: ...

class ADVKeyIndexList(_message.Message):
    __slots__ = ("raw_id", "timestamp", "current_index", "valid_indexes", "account_type")
    RAW_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CURRENT_INDEX_FIELD_NUMBER: _ClassVar[int]
    VALID_INDEXES_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_TYPE_FIELD_NUMBER: _ClassVar[int]
    raw_id: int
    timestamp: int
    current_index: int
    valid_indexes: _containers.RepeatedScalarFieldContainer[int]
    account_type: ADVEncryptionType
    def __init__(self, raw_id: _Optional[int] = ..., timestamp: _Optional[int] = ..., current_index: _Optional[int] = ..., valid_indexes: _Optional[_Iterable[int]] = ..., account_type: _Optional[_Union[ADVEncryptionType, str]] = ...) -> None: ...

class ADVSignedKeyIndexList(_message.Message):
    __slots__ = ("details", "account_signature", "account_signature_key")
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SIGNATURE_KEY_FIELD_NUMBER: _ClassVar[int]
    details: bytes
    account_signature: bytes
    account_signature_key: bytes
    def __init__(self, details: _Optional[bytes] = ..., account_signature: _Optional[bytes] = ..., account_signature_key: _Optional[bytes] = ...) -> None: ...

class VerifiedNameCertificate(_message.Message):
    __slots__ = ("details", "signature", "server_signature")
    class Details(_message.Message):
        __slots__ = ("serial", "issuer", "verified_name", "localized_names", "issue_time")
        SERIAL_FIELD_NUMBER: _ClassVar[int]
        ISSUER_FIELD_NUMBER: _ClassVar[int]
        VERIFIED_NAME_FIELD_NUMBER: _ClassVar[int]
        LOCALIZED_NAMES_FIELD_NUMBER: _ClassVar[int]
        ISSUE_TIME_FIELD_NUMBER: _ClassVar[int]
        serial: int
        issuer: str
        verified_name: str
        localized_names: _containers.RepeatedCompositeFieldContainer[LocalizedName]
        issue_time: int
        def __init__(self, serial: _Optional[int] = ..., issuer: _Optional[str] = ..., verified_name: _Optional[str] = ..., localized_names: _Optional[_Iterable[_Union[LocalizedName, _Mapping]]] = ..., issue_time: _Optional[int] = ...) -> None: ...
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    SERVER_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    details: bytes
    signature: bytes
    server_signature: bytes
    def __init__(self, details: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., server_signature: _Optional[bytes] = ...) -> None: ...

class LocalizedName(_message.Message):
    __slots__ = ("lg", "lc", "verified_name")
    LG_FIELD_NUMBER: _ClassVar[int]
    LC_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_NAME_FIELD_NUMBER: _ClassVar[int]
    lg: str
    lc: str
    verified_name: str
    def __init__(self, lg: _Optional[str] = ..., lc: _Optional[str] = ..., verified_name: _Optional[str] = ...) -> None: ...
