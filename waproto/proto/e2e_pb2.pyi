from waproto.proto import adv_pb2 as _adv_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MessageKey(_message.Message):
    __slots__ = ("remote_jid", "from_me", "id", "participant")
    REMOTE_JID_FIELD_NUMBER: _ClassVar[int]
    FROM_ME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    remote_jid: str
    from_me: bool
    id: str
    participant: str
    def __init__(self, remote_jid: _Optional[str] = ..., from_me: _Optional[bool] = ..., id: _Optional[str] = ..., participant: _Optional[str] = ...) -> None: ...

class DeviceListMetadata(_message.Message):
    __slots__ = ("sender_key_hash", "sender_timestamp", "sender_key_indexes", "sender_account_type", "receiver_account_type", "recipient_key_hash", "recipient_timestamp", "recipient_key_indexes")
    SENDER_KEY_HASH_FIELD_NUMBER: _ClassVar[int]
    SENDER_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SENDER_KEY_INDEXES_FIELD_NUMBER: _ClassVar[int]
    SENDER_ACCOUNT_TYPE_FIELD_NUMBER: _ClassVar[int]
    RECEIVER_ACCOUNT_TYPE_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_KEY_HASH_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_KEY_INDEXES_FIELD_NUMBER: _ClassVar[int]
    sender_key_hash: bytes
    sender_timestamp: int
    sender_key_indexes: _containers.RepeatedScalarFieldContainer[int]
    sender_account_type: _adv_pb2.ADVEncryptionType
    receiver_account_type: _adv_pb2.ADVEncryptionType
    recipient_key_hash: bytes
    recipient_timestamp: int
    recipient_key_indexes: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, sender_key_hash: _Optional[bytes] = ..., sender_timestamp: _Optional[int] = ..., sender_key_indexes: _Optional[_Iterable[int]] = ..., sender_account_type: _Optional[_Union[_adv_pb2.ADVEncryptionType, str]] = ..., receiver_account_type: _Optional[_Union[_adv_pb2.ADVEncryptionType, str]] = ..., recipient_key_hash: _Optional[bytes] = ..., recipient_timestamp: _Optional[int] = ..., recipient_key_indexes: _Optional[_Iterable[int]] = ...) -> None: ...

class MessageContextInfo(_message.Message):
    __slots__ = ("device_list_metadata", "device_list_metadata_version", "message_secret", "padding_bytes", "message_add_on_duration_in_secs", "bot_message_secret", "reporting_token_version", "capi_created_group", "support_payload")
    DEVICE_LIST_METADATA_FIELD_NUMBER: _ClassVar[int]
    DEVICE_LIST_METADATA_VERSION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_SECRET_FIELD_NUMBER: _ClassVar[int]
    PADDING_BYTES_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ADD_ON_DURATION_IN_SECS_FIELD_NUMBER: _ClassVar[int]
    BOT_MESSAGE_SECRET_FIELD_NUMBER: _ClassVar[int]
    REPORTING_TOKEN_VERSION_FIELD_NUMBER: _ClassVar[int]
    CAPI_CREATED_GROUP_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    device_list_metadata: DeviceListMetadata
    device_list_metadata_version: int
    message_secret: bytes
    padding_bytes: bytes
    message_add_on_duration_in_secs: int
    bot_message_secret: bytes
    reporting_token_version: int
    capi_created_group: bool
    support_payload: str
    def __init__(self, device_list_metadata: _Optional[_Union[DeviceListMetadata, _Mapping]] = ..., device_list_metadata_version: _Optional[int] = ..., message_secret: _Optional[bytes] = ..., padding_bytes: _Optional[bytes] = ..., message_add_on_duration_in_secs: _Optional[int] = ..., bot_message_secret: _Optional[bytes] = ..., reporting_token_version: _Optional[int] = ..., capi_created_group: _Optional[bool] = ..., support_payload: _Optional[str] = ...) -> None: ...

class DisappearingMode(_message.Message):
    __slots__ = ("initiator", "trigger", "initiator_device_jid", "initiated_by_me")
    class Initiator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CHANGED_IN_CHAT: _ClassVar[DisappearingMode.Initiator]
        INITIATED_BY_ME: _ClassVar[DisappearingMode.Initiator]
        INITIATED_BY_OTHER: _ClassVar[DisappearingMode.Initiator]
        BIZ_UPGRADE_FB_HOSTING: _ClassVar[DisappearingMode.Initiator]
    CHANGED_IN_CHAT: DisappearingMode.Initiator
    INITIATED_BY_ME: DisappearingMode.Initiator
    INITIATED_BY_OTHER: DisappearingMode.Initiator
    BIZ_UPGRADE_FB_HOSTING: DisappearingMode.Initiator
    class Trigger(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[DisappearingMode.Trigger]
        CHAT_SETTING: _ClassVar[DisappearingMode.Trigger]
        ACCOUNT_SETTING: _ClassVar[DisappearingMode.Trigger]
        BULK_CHANGE: _ClassVar[DisappearingMode.Trigger]
        BIZ_SUPPORTS_FB_HOSTING: _ClassVar[DisappearingMode.Trigger]
        UNKNOWN_GROUPS: _ClassVar[DisappearingMode.Trigger]
    UNKNOWN: DisappearingMode.Trigger
    CHAT_SETTING: DisappearingMode.Trigger
    ACCOUNT_SETTING: DisappearingMode.Trigger
    BULK_CHANGE: DisappearingMode.Trigger
    BIZ_SUPPORTS_FB_HOSTING: DisappearingMode.Trigger
    UNKNOWN_GROUPS: DisappearingMode.Trigger
    INITIATOR_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    INITIATOR_DEVICE_JID_FIELD_NUMBER: _ClassVar[int]
    INITIATED_BY_ME_FIELD_NUMBER: _ClassVar[int]
    initiator: DisappearingMode.Initiator
    trigger: DisappearingMode.Trigger
    initiator_device_jid: str
    initiated_by_me: bool
    def __init__(self, initiator: _Optional[_Union[DisappearingMode.Initiator, str]] = ..., trigger: _Optional[_Union[DisappearingMode.Trigger, str]] = ..., initiator_device_jid: _Optional[str] = ..., initiated_by_me: _Optional[bool] = ...) -> None: ...

class GroupMention(_message.Message):
    __slots__ = ("group_jid", "group_subject")
    GROUP_JID_FIELD_NUMBER: _ClassVar[int]
    GROUP_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    group_jid: str
    group_subject: str
    def __init__(self, group_jid: _Optional[str] = ..., group_subject: _Optional[str] = ...) -> None: ...

class ContextInfo(_message.Message):
    __slots__ = ("stanza_id", "participant", "quoted_message", "remote_jid", "mentioned_jid", "conversion_source", "conversion_data", "conversion_delay_seconds", "forwarding_score", "is_forwarded", "placeholder_key", "expiration", "ephemeral_setting_timestamp", "ephemeral_shared_secret", "entry_point_conversion_source", "entry_point_conversion_app", "entry_point_conversion_delay_seconds", "disappearing_mode", "group_subject", "parent_group_jid", "trust_banner_type", "trust_banner_action", "is_sampled", "group_mentions")
    STANZA_ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    QUOTED_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REMOTE_JID_FIELD_NUMBER: _ClassVar[int]
    MENTIONED_JID_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_SOURCE_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_DATA_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_DELAY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FORWARDING_SCORE_FIELD_NUMBER: _ClassVar[int]
    IS_FORWARDED_FIELD_NUMBER: _ClassVar[int]
    PLACEHOLDER_KEY_FIELD_NUMBER: _ClassVar[int]
    EXPIRATION_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_SETTING_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_SHARED_SECRET_FIELD_NUMBER: _ClassVar[int]
    ENTRY_POINT_CONVERSION_SOURCE_FIELD_NUMBER: _ClassVar[int]
    ENTRY_POINT_CONVERSION_APP_FIELD_NUMBER: _ClassVar[int]
    ENTRY_POINT_CONVERSION_DELAY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DISAPPEARING_MODE_FIELD_NUMBER: _ClassVar[int]
    GROUP_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PARENT_GROUP_JID_FIELD_NUMBER: _ClassVar[int]
    TRUST_BANNER_TYPE_FIELD_NUMBER: _ClassVar[int]
    TRUST_BANNER_ACTION_FIELD_NUMBER: _ClassVar[int]
    IS_SAMPLED_FIELD_NUMBER: _ClassVar[int]
    GROUP_MENTIONS_FIELD_NUMBER: _ClassVar[int]
    stanza_id: str
    participant: str
    quoted_message: Message
    remote_jid: str
    mentioned_jid: _containers.RepeatedScalarFieldContainer[str]
    conversion_source: str
    conversion_data: bytes
    conversion_delay_seconds: int
    forwarding_score: int
    is_forwarded: bool
    placeholder_key: MessageKey
    expiration: int
    ephemeral_setting_timestamp: int
    ephemeral_shared_secret: bytes
    entry_point_conversion_source: str
    entry_point_conversion_app: str
    entry_point_conversion_delay_seconds: int
    disappearing_mode: DisappearingMode
    group_subject: str
    parent_group_jid: str
    trust_banner_type: str
    trust_banner_action: int
    is_sampled: bool
    group_mentions: _containers.RepeatedCompositeFieldContainer[GroupMention]
    def __init__(self, stanza_id: _Optional[str] = ..., participant: _Optional[str] = ..., quoted_message: _Optional[_Union[Message, _Mapping]] = ..., remote_jid: _Optional[str] = ..., mentioned_jid: _Optional[_Iterable[str]] = ..., conversion_source: _Optional[str] = ..., conversion_data: _Optional[bytes] = ..., conversion_delay_seconds: _Optional[int] = ..., forwarding_score: _Optional[int] = ..., is_forwarded: _Optional[bool] = ..., placeholder_key: _Optional[_Union[MessageKey, _Mapping]] = ..., expiration: _Optional[int] = ..., ephemeral_setting_timestamp: _Optional[int] = ..., ephemeral_shared_secret: _Optional[bytes] = ..., entry_point_conversion_source: _Optional[str] = ..., entry_point_conversion_app: _Optional[str] = ..., entry_point_conversion_delay_seconds: _Optional[int] = ..., disappearing_mode: _Optional[_Union[DisappearingMode, _Mapping]] = ..., group_subject: _Optional[str] = ..., parent_group_jid: _Optional[str] = ..., trust_banner_type: _Optional[str] = ..., trust_banner_action: _Optional[int] = ..., is_sampled: _Optional[bool] = ..., group_mentions: _Optional[_Iterable[_Union[GroupMention, _Mapping]]] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("conversation", "sender_key_distribution_message", "image_message", "contact_message", "location_message", "extended_text_message", "document_message", "audio_message", "video_message", "protocol_message", "contacts_array_message", "fast_ratchet_key_sender_key_distribution_message", "live_location_message", "sticker_message", "device_sent_message", "message_context_info", "view_once_message", "ephemeral_message", "reaction_message", "poll_creation_message", "document_with_caption_message", "view_once_message_v2", "edited_message", "view_once_message_v2_extension", "poll_creation_message_v2", "poll_creation_message_v3", "ptv_message", "bot_invoke_message", "lottie_sticker_message", "associated_child_message", "group_status_message")
    class FutureProofMessage(_message.Message):
        __slots__ = ("message",)
        MESSAGE_FIELD_NUMBER: _ClassVar[int]
        message: Message
        def __init__(self, message: _Optional[_Union[Message, _Mapping]] = ...) -> None: ...
    class SenderKeyDistributionMessage(_message.Message):
        __slots__ = ("group_id", "axolotl_sender_key_distribution_message")
        GROUP_ID_FIELD_NUMBER: _ClassVar[int]
        AXOLOTL_SENDER_KEY_DISTRIBUTION_MESSAGE_FIELD_NUMBER: _ClassVar[int]
        group_id: str
        axolotl_sender_key_distribution_message: bytes
        def __init__(self, group_id: _Optional[str] = ..., axolotl_sender_key_distribution_message: _Optional[bytes] = ...) -> None: ...
    class ImageMessage(_message.Message):
        __slots__ = ("url", "mimetype", "caption", "file_sha256", "file_length", "height", "width", "media_key", "file_enc_sha256", "direct_path", "media_key_timestamp", "jpeg_thumbnail", "context_info", "first_scan_sidecar", "first_scan_length", "experiment_group_id", "scans_sidecar", "scan_lengths", "mid_quality_file_sha256", "mid_quality_file_enc_sha256", "view_once", "thumbnail_direct_path", "thumbnail_sha256", "thumbnail_enc_sha256", "static_url", "image_source_type", "accessibility_label")
        class ImageSourceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            USER_IMAGE: _ClassVar[Message.ImageMessage.ImageSourceType]
            AI_GENERATED: _ClassVar[Message.ImageMessage.ImageSourceType]
            AI_MODIFIED: _ClassVar[Message.ImageMessage.ImageSourceType]
            RASTERIZED_TEXT_STATUS: _ClassVar[Message.ImageMessage.ImageSourceType]
        USER_IMAGE: Message.ImageMessage.ImageSourceType
        AI_GENERATED: Message.ImageMessage.ImageSourceType
        AI_MODIFIED: Message.ImageMessage.ImageSourceType
        RASTERIZED_TEXT_STATUS: Message.ImageMessage.ImageSourceType
        URL_FIELD_NUMBER: _ClassVar[int]
        MIMETYPE_FIELD_NUMBER: _ClassVar[int]
        CAPTION_FIELD_NUMBER: _ClassVar[int]
        FILE_SHA256_FIELD_NUMBER: _ClassVar[int]
        FILE_LENGTH_FIELD_NUMBER: _ClassVar[int]
        HEIGHT_FIELD_NUMBER: _ClassVar[int]
        WIDTH_FIELD_NUMBER: _ClassVar[int]
        MEDIA_KEY_FIELD_NUMBER: _ClassVar[int]
        FILE_ENC_SHA256_FIELD_NUMBER: _ClassVar[int]
        DIRECT_PATH_FIELD_NUMBER: _ClassVar[int]
        MEDIA_KEY_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
        JPEG_THUMBNAIL_FIELD_NUMBER: _ClassVar[int]
        CONTEXT_INFO_FIELD_NUMBER: _ClassVar[int]
        FIRST_SCAN_SIDECAR_FIELD_NUMBER: _ClassVar[int]
        FIRST_SCAN_LENGTH_FIELD_NUMBER: _ClassVar[int]
        EXPERIMENT_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
        SCANS_SIDECAR_FIELD_NUMBER: _ClassVar[int]
        SCAN_LENGTHS_FIELD_NUMBER: _ClassVar[int]
        MID_QUALITY_FILE_SHA256_FIELD_NUMBER: _ClassVar[int]
        MID_QUALITY_FILE_ENC_SHA256_FIELD_NUMBER: _ClassVar[int]
        VIEW_ONCE_FIELD_NUMBER: _ClassVar[int]
        THUMBNAIL_DIRECT_PATH_FIELD_NUMBER: _ClassVar[int]
        THUMBNAIL_SHA256_FIELD_NUMBER: _ClassVar[int]
        THUMBNAIL_ENC_SHA256_FIELD_NUMBER: _ClassVar[int]
        STATIC_URL_FIELD_NUMBER: _ClassVar[int]
        IMAGE_SOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
        ACCESSIBILITY_LABEL_FIELD_NUMBER: _ClassVar[int]
        url: str
        mimetype: str
        caption: str
        file_sha256: bytes
        file_length: int
        height: int
        width: int
        media_key: bytes
        file_enc_sha256: bytes
        direct_path: str
        media_key_timestamp: int
        jpeg_thumbnail: bytes
        context_info: ContextInfo
        first_scan_sidecar: bytes
        first_scan_length: int
        experiment_group_id: int
        scans_sidecar: bytes
        scan_lengths: _containers.RepeatedScalarFieldContainer[int]
        mid_quality_file_sha256: bytes
        mid_quality_file_enc_sha256: bytes
        view_once: bool
        thumbnail_direct_path: str
        thumbnail_sha256: bytes
        thumbnail_enc_sha256: bytes
        static_url: str
        image_source_type: Message.ImageMessage.ImageSourceType
        accessibility_label: str
        def __init__(self, url: _Optional[str] = ..., mimetype: _Optional[str] = ..., caption: _Optional[str] = ..., file_sha256: _Optional[bytes] = ..., file_length: _Optional[int] = ..., height: _Optional[int] = ..., width: _Optional[int] = ..., media_key: _Optional[bytes] = ..., file_enc_sha256: _Optional[bytes] = ..., direct_path: _Optional[str] = ..., media_key_timestamp: _Optional[int] = ..., jpeg_thumbnail: _Optional[bytes] = ..., context_info: _Optional[_Union[ContextInfo, _Mapping]] = ..., first_scan_sidecar: _Optional[bytes] = ..., first_scan_length: _Optional[int] = ..., experiment_group_id: _Optional[int] = ..., scans_sidecar: _Optional[bytes] = ..., scan_lengths: _Optional[_Iterable[int]] = ..., mid_quality_file_sha256: _Optional[bytes] = ..., mid_quality_file_enc_sha256: _Optional[bytes] = ..., view_once: _Optional[bool] = ..., thumbnail_direct_path: _Optional[str] = ..., thumbnail_sha256: _Optional[bytes] = ..., thumbnail_enc_sha256: _Optional[bytes] = ..., static_url: _Optional[str] = ..., image_source_type: _Optional[_Union[Message.ImageMessage.ImageSourceType, str]] = ..., accessibility_label: _Optional[str] = ...) -> None: ...
    class ContactMessage(_message.Message):
        __slots__ = ("display_name", "vcard", "context_info")
        DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
        VCARD_FIELD_NUMBER: _ClassVar[int]
        CONTEXT_INFO_FIELD_NUMBER: _ClassVar[int]
        display_name: str
        vcard: str
        context_info: ContextInfo
        def __init__(self, display_name: _Optional[str] = ..., vcard: _Optional[str] = ..., context_info: _Optional[_Union[ContextInfo, _Mapping]] = ...) -> None: ...
    class LocationMessage(_message.Message):
        __slots__ = ("degrees_latitude", "degrees_longitude", "name", "address", "url", "is_live", "accuracy_in_meters", "speed_in_mps", "degrees_clockwise_from_magnetic_north", "comment", "jpeg_thumbnail", "context_info")
        DEGREES_LATITUDE_FIELD_NUMBER: _ClassVar[int]
        DEGREES_LONGITUDE_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        ADDRESS_FIELD_NUMBER: _ClassVar[int]
        URL_FIELD_NUMBER: _ClassVar[int]
        IS_LIVE_FIELD_NUMBER: _ClassVar[int]
        ACCURACY_IN_METERS_FIELD_NUMBER: _ClassVar[int]
        SPEED_IN_MPS_FIELD_NUMBER: _ClassVar[int]
        DEGREES_CLOCKWISE_FROM_MAGNETIC_NORTH_FIELD_NUMBER: _ClassVar[int]
        COMMENT_FIELD_NUMBER: _ClassVar[int]
        JPEG_THUMBNAIL_FIELD_NUMBER: _ClassVar[int]
        CONTEXT_INFO_FIELD_NUMBER: _ClassVar[int]
        degrees_latitude: float
        degrees_longitude: float
        name: str
        address: str
        url: str
        is_live: bool
        accuracy_in_meters: int
        speed_in_mps: float
        degrees_clockwise_from_magnetic_north: int
        comment: str
        jpeg_thumbnail: bytes
        context_info: ContextInfo
        def __init__(self, degrees_latitude: _Optional[float] = ..., degrees_longitude: _Optional[float] = ..., name: _Optional[str] = ..., address: _Optional[str] = ..., url: _Optional[str] = ..., is_live: _Optional[bool] = ..., accuracy_in_meters: _Optional[int] = ..., speed_in_mps: _Optional[float] = ..., degrees_clockwise_from_magnetic_north: _Optional[int] = ..., comment: _Optional[str] = ..., jpeg_thumbnail: _Optional[bytes] = ..., context_info: _Optional[_Union[ContextInfo, _Mapping]] = ...) -> None: ...
    class ContactsArrayMessage(_message.Message):
        __slots__ = ("display_name", "contacts", "context_info")
        DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
        CONTACTS_FIELD_NUMBER: _ClassVar[int]
        CONTEXT_INFO_FIELD_NUMBER: _ClassVar[int]
        display_name: str
        contacts: _containers.RepeatedCompositeFieldContainer[Message.ContactMessage]
        context_info: ContextInfo
        def __init__(self, display_name: _Optional[str] = ..., contacts: _Optional[_Iterable[_Union[Message.ContactMessage, _Mapping]]] = ..., context_info: _Optional[_Union[ContextInfo, _Mapping]] = ...) -> None: ...
    class LiveLocationMessage(_message.Message):
        __slots__ = ("degrees_latitude", "degrees_longitude", "accuracy_in_meters", "speed_in_mps", "degrees_clockwise_from_magnetic_north", "caption", "sequence_number", "time_offset", "jpeg_thumbnail", "context_info")
        DEGREES_LATITUDE_FIELD_NUMBER: _ClassVar[int]
        DEGREES_LONGITUDE_FIELD_NUMBER: _ClassVar[int]
        ACCURACY_IN_METERS_FIELD_NUMBER: _ClassVar[int]
        SPEED_IN_MPS_FIELD_NUMBER: _ClassVar[int]
        DEGREES_CLOCKWISE_FROM_MAGNETIC_NORTH_FIELD_NUMBER: _ClassVar[int]
        CAPTION_FIELD_NUMBER: _ClassVar[int]
        SEQUENCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
        TIME_OFFSET_FIELD_NUMBER: _ClassVar[int]
        JPEG_THUMBNAIL_FIELD_NUMBER: _ClassVar[int]
        CONTEXT_INFO_FIELD_NUMBER: _ClassVar[int]
        degrees_latitude: float
        degrees_longitude: float
        accuracy_in_meters: int
        speed_in_mps: float
        degrees_clockwise_from_magnetic_north: int
        caption: str
        sequence_number: int
        time_offset: int
        jpeg_thumbnail: bytes
        context_info: ContextInfo
        def __init__(self, degrees_latitude: _Optional[float] = ..., degrees_longitude: _Optional[float] = ..., accuracy_in_meters: _Optional[int] = ..., speed_in_mps: _Optional[float] = ..., degrees_clockwise_from_magnetic_north: _Optional[int] = ..., caption: _Optional[str] = ..., sequence_number: _Optional[int] = ..., time_offset: _Optional[int] = ..., jpeg_thumbnail: _Optional[bytes] = ..., context_info: _Optional[_Union[ContextInfo, _Mapping]] = ...) -> None: ...
    class ExtendedTextMessage(_message.Message):
        __slots__ = ("text", "matched_text", "description", "title", "text_argb", "background_argb", "font", "preview_type", "jpeg_thumbnail", "context_info", "do_not_play_inline", "thumbnail_direct_path", "thumbnail_sha256", "thumbnail_enc_sha256", "media_key", "media_key_timestamp", "thumbnail_height", "thumbnail_width", "invite_link_group_type", "invite_link_parent_group_subject_v2", "invite_link_parent_group_thumbnail_v2", "invite_link_group_type_v2", "view_once", "video_height", "video_width")
        class FontType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            SYSTEM: _ClassVar[Message.ExtendedTextMessage.FontType]
            SYSTEM_TEXT: _ClassVar[Message.ExtendedTextMessage.FontType]
            FB_SCRIPT: _ClassVar[Message.ExtendedTextMessage.FontType]
            SYSTEM_BOLD: _ClassVar[Message.ExtendedTextMessage.FontType]
            MORNINGBREEZE_REGULAR: _ClassVar[Message.ExtendedTextMessage.FontType]
            CALISTOGA_REGULAR: _ClassVar[Message.ExtendedTextMessage.FontType]
            EXO2_EXTRABOLD: _ClassVar[Message.ExtendedTextMessage.FontType]
            COURIERPRIME_BOLD: _ClassVar[Message.ExtendedTextMessage.FontType]
        SYSTEM: Message.ExtendedTextMessage.FontType
        SYSTEM_TEXT: Message.ExtendedTextMessage.FontType
        FB_SCRIPT: Message.ExtendedTextMessage.FontType
        SYSTEM_BOLD: Message.ExtendedTextMessage.FontType
        MORNINGBREEZE_REGULAR: Message.ExtendedTextMessage.FontType
        CALISTOGA_REGULAR: Message.ExtendedTextMessage.FontType
        EXO2_EXTRABOLD: Message.ExtendedTextMessage.FontType
        COURIERPRIME_BOLD: Message.ExtendedTextMessage.FontType
        class PreviewType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            NONE: _ClassVar[Message.ExtendedTextMessage.PreviewType]
            VIDEO: _ClassVar[Message.ExtendedTextMessage.PreviewType]
            PLACEHOLDER: _ClassVar[Message.ExtendedTextMessage.PreviewType]
            IMAGE: _ClassVar[Message.ExtendedTextMessage.PreviewType]
            PAYMENT_LINKS: _ClassVar[Message.ExtendedTextMessage.PreviewType]
            PROFILE: _ClassVar[Message.ExtendedTextMessage.PreviewType]
        NONE: Message.ExtendedTextMessage.PreviewType
        VIDEO: Message.ExtendedTextMessage.PreviewType
        PLACEHOLDER: Message.ExtendedTextMessage.PreviewType
        IMAGE: Message.ExtendedTextMessage.PreviewType
        PAYMENT_LINKS: Message.ExtendedTextMessage.PreviewType
        PROFILE: Message.ExtendedTextMessage.PreviewType
        class InviteLinkGroupType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            DEFAULT: _ClassVar[Message.ExtendedTextMessage.InviteLinkGroupType]
            PARENT: _ClassVar[Message.ExtendedTextMessage.InviteLinkGroupType]
            SUB: _ClassVar[Message.ExtendedTextMessage.InviteLinkGroupType]
            DEFAULT_SUB: _ClassVar[Message.ExtendedTextMessage.InviteLinkGroupType]
        DEFAULT: Message.ExtendedTextMessage.InviteLinkGroupType
        PARENT: Message.ExtendedTextMessage.InviteLinkGroupType
        SUB: Message.ExtendedTextMessage.InviteLinkGroupType
        DEFAULT_SUB: Message.ExtendedTextMessage.InviteLinkGroupType
        TEXT_FIELD_NUMBER: _ClassVar[int]
        MATCHED_TEXT_FIELD_NUMBER: _ClassVar[int]
        DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
        TITLE_FIELD_NUMBER: _ClassVar[int]
        TEXT_ARGB_FIELD_NUMBER: _ClassVar[int]
        BACKGROUND_ARGB_FIELD_NUMBER: _ClassVar[int]
        FONT_FIELD_NUMBER: _ClassVar[int]
        PREVIEW_TYPE_FIELD_NUMBER: _ClassVar[int]
        JPEG_THUMBNAIL_FIELD_NUMBER: _ClassVar[int]
        CONTEXT_INFO_FIELD_NUMBER: _ClassVar[int]
        DO_NOT_PLAY_INLINE_FIELD_NUMBER: _ClassVar[int]
        THUMBNAIL_DIRECT_PATH_FIELD_NUMBER: _ClassVar[int]
        THUMBNAIL_SHA256_FIELD_NUMBER: _ClassVar[int]
        THUMBNAIL_ENC_SHA256_FIELD_NUMBER: _ClassVar[int]
        MEDIA_KEY_FIELD_NUMBER: _ClassVar[int]
        MEDIA_KEY_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
        THUMBNAIL_HEIGHT_FIELD_NUMBER: _ClassVar[int]
        THUMBNAIL_WIDTH_FIELD_NUMBER: _ClassVar[int]
        INVITE_LINK_GROUP_TYPE_FIELD_NUMBER: _ClassVar[int]
        INVITE_LINK_PARENT_GROUP_SUBJECT_V2_FIELD_NUMBER: _ClassVar[int]
        INVITE_LINK_PARENT_GROUP_THUMBNAIL_V2_FIELD_NUMBER: _ClassVar[int]
        INVITE_LINK_GROUP_TYPE_V2_FIELD_NUMBER: _ClassVar[int]
        VIEW_ONCE_FIELD_NUMBER: _ClassVar[int]
        VIDEO_HEIGHT_FIELD_NUMBER: _ClassVar[int]
        VIDEO_WIDTH_FIELD_NUMBER: _ClassVar[int]
        text: str
        matched_text: str
        description: str
        title: str
        text_argb: int
        background_argb: int
        font: Message.ExtendedTextMessage.FontType
        preview_type: Message.ExtendedTextMessage.PreviewType
        jpeg_thumbnail: bytes
        context_info: ContextInfo
        do_not_play_inline: bool
        thumbnail_direct_path: str
        thumbnail_sha256: bytes
        thumbnail_enc_sha256: bytes
        media_key: bytes
        media_key_timestamp: int
        thumbnail_height: int
        thumbnail_width: int
        invite_link_group_type: Message.ExtendedTextMessage.InviteLinkGroupType
        invite_link_parent_group_subject_v2: str
        invite_link_parent_group_thumbnail_v2: bytes
        invite_link_group_type_v2: Message.ExtendedTextMessage.InviteLinkGroupType
        view_once: bool
        video_height: int
        video_width: int
        def __init__(self, text: _Optional[str] = ..., matched_text: _Optional[str] = ..., description: _Optional[str] = ..., title: _Optional[str] = ..., text_argb: _Optional[int] = ..., background_argb: _Optional[int] = ..., font: _Optional[_Union[Message.ExtendedTextMessage.FontType, str]] = ..., preview_type: _Optional[_Union[Message.ExtendedTextMessage.PreviewType, str]] = ..., jpeg_thumbnail: _Optional[bytes] = ..., context_info: _Optional[_Union[ContextInfo, _Mapping]] = ..., do_not_play_inline: _Optional[bool] = ..., thumbnail_direct_path: _Optional[str] = ..., thumbnail_sha256: _Optional[bytes] = ..., thumbnail_enc_sha256: _Optional[bytes] = ..., media_key: _Optional[bytes] = ..., media_key_timestamp: _Optional[int] = ..., thumbnail_height: _Optional[int] = ..., thumbnail_width: _Optional[int] = ..., invite_link_group_type: _Optional[_Union[Message.ExtendedTextMessage.InviteLinkGroupType, str]] = ..., invite_link_parent_group_subject_v2: _Optional[str] = ..., invite_link_parent_group_thumbnail_v2: _Optional[bytes] = ..., invite_link_group_type_v2: _Optional[_Union[Message.ExtendedTextMessage.InviteLinkGroupType, str]] = ..., view_once: _Optional[bool] = ..., video_height: _Optional[int] = ..., video_width: _Optional[int] = ...) -> None: ...
    class DocumentMessage(_message.Message):
        __slots__ = ("url", "mimetype", "title", "file_sha256", "file_length", "page_count", "media_key", "file_name", "file_enc_sha256", "direct_path", "media_key_timestamp", "contact_vcard", "thumbnail_direct_path", "thumbnail_sha256", "thumbnail_enc_sha256", "jpeg_thumbnail", "context_info", "thumbnail_height", "thumbnail_width", "caption", "accessibility_label")
        URL_FIELD_NUMBER: _ClassVar[int]
        MIMETYPE_FIELD_NUMBER: _ClassVar[int]
        TITLE_FIELD_NUMBER: _ClassVar[int]
        FILE_SHA256_FIELD_NUMBER: _ClassVar[int]
        FILE_LENGTH_FIELD_NUMBER: _ClassVar[int]
        PAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
        MEDIA_KEY_FIELD_NUMBER: _ClassVar[int]
        FILE_NAME_FIELD_NUMBER: _ClassVar[int]
        FILE_ENC_SHA256_FIELD_NUMBER: _ClassVar[int]
        DIRECT_PATH_FIELD_NUMBER: _ClassVar[int]
        MEDIA_KEY_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
        CONTACT_VCARD_FIELD_NUMBER: _ClassVar[int]
        THUMBNAIL_DIRECT_PATH_FIELD_NUMBER: _ClassVar[int]
        THUMBNAIL_SHA256_FIELD_NUMBER: _ClassVar[int]
        THUMBNAIL_ENC_SHA256_FIELD_NUMBER: _ClassVar[int]
        JPEG_THUMBNAIL_FIELD_NUMBER: _ClassVar[int]
        CONTEXT_INFO_FIELD_NUMBER: _ClassVar[int]
        THUMBNAIL_HEIGHT_FIELD_NUMBER: _ClassVar[int]
        THUMBNAIL_WIDTH_FIELD_NUMBER: _ClassVar[int]
        CAPTION_FIELD_NUMBER: _ClassVar[int]
        ACCESSIBILITY_LABEL_FIELD_NUMBER: _ClassVar[int]
        url: str
        mimetype: str
        title: str
        file_sha256: bytes
        file_length: int
        page_count: int
        media_key: bytes
        file_name: str
        file_enc_sha256: bytes
        direct_path: str
        media_key_timestamp: int
        contact_vcard: bool
        thumbnail_direct_path: str
        thumbnail_sha256: bytes
        thumbnail_enc_sha256: bytes
        jpeg_thumbnail: bytes
        context_info: ContextInfo
        thumbnail_height: int
        thumbnail_width: int
        caption: str
        accessibility_label: str
        def __init__(self, url: _Optional[str] = ..., mimetype: _Optional[str] = ..., title: _Optional[str] = ..., file_sha256: _Optional[bytes] = ..., file_length: _Optional[int] = ..., page_count: _Optional[int] = ..., media_key: _Optional[bytes] = ..., file_name: _Optional[str] = ..., file_enc_sha256: _Optional[bytes] = ..., direct_path: _Optional[str] = ..., media_key_timestamp: _Optional[int] = ..., contact_vcard: _Optional[bool] = ..., thumbnail_direct_path: _Optional[str] = ..., thumbnail_sha256: _Optional[bytes] = ..., thumbnail_enc_sha256: _Optional[bytes] = ..., jpeg_thumbnail: _Optional[bytes] = ..., context_info: _Optional[_Union[ContextInfo, _Mapping]] = ..., thumbnail_height: _Optional[int] = ..., thumbnail_width: _Optional[int] = ..., caption: _Optional[str] = ..., accessibility_label: _Optional[str] = ...) -> None: ...
    class AudioMessage(_message.Message):
        __slots__ = ("url", "mimetype", "file_sha256", "file_length", "seconds", "ptt", "media_key", "file_enc_sha256", "direct_path", "media_key_timestamp", "context_info", "streaming_sidecar", "waveform", "background_argb", "view_once", "accessibility_label")
        URL_FIELD_NUMBER: _ClassVar[int]
        MIMETYPE_FIELD_NUMBER: _ClassVar[int]
        FILE_SHA256_FIELD_NUMBER: _ClassVar[int]
        FILE_LENGTH_FIELD_NUMBER: _ClassVar[int]
        SECONDS_FIELD_NUMBER: _ClassVar[int]
        PTT_FIELD_NUMBER: _ClassVar[int]
        MEDIA_KEY_FIELD_NUMBER: _ClassVar[int]
        FILE_ENC_SHA256_FIELD_NUMBER: _ClassVar[int]
        DIRECT_PATH_FIELD_NUMBER: _ClassVar[int]
        MEDIA_KEY_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
        CONTEXT_INFO_FIELD_NUMBER: _ClassVar[int]
        STREAMING_SIDECAR_FIELD_NUMBER: _ClassVar[int]
        WAVEFORM_FIELD_NUMBER: _ClassVar[int]
        BACKGROUND_ARGB_FIELD_NUMBER: _ClassVar[int]
        VIEW_ONCE_FIELD_NUMBER: _ClassVar[int]
        ACCESSIBILITY_LABEL_FIELD_NUMBER: _ClassVar[int]
        url: str
        mimetype: str
        file_sha256: bytes
        file_length: int
        seconds: int
        ptt: bool
        media_key: bytes
        file_enc_sha256: bytes
        direct_path: str
        media_key_timestamp: int
        context_info: ContextInfo
        streaming_sidecar: bytes
        waveform: bytes
        background_argb: int
        view_once: bool
        accessibility_label: str
        def __init__(self, url: _Optional[str] = ..., mimetype: _Optional[str] = ..., file_sha256: _Optional[bytes] = ..., file_length: _Optional[int] = ..., seconds: _Optional[int] = ..., ptt: _Optional[bool] = ..., media_key: _Optional[bytes] = ..., file_enc_sha256: _Optional[bytes] = ..., direct_path: _Optional[str] = ..., media_key_timestamp: _Optional[int] = ..., context_info: _Optional[_Union[ContextInfo, _Mapping]] = ..., streaming_sidecar: _Optional[bytes] = ..., waveform: _Optional[bytes] = ..., background_argb: _Optional[int] = ..., view_once: _Optional[bool] = ..., accessibility_label: _Optional[str] = ...) -> None: ...
    class VideoMessage(_message.Message):
        __slots__ = ("url", "mimetype", "file_sha256", "file_length", "seconds", "media_key", "caption", "gif_playback", "height", "width", "file_enc_sha256", "direct_path", "media_key_timestamp", "jpeg_thumbnail", "context_info", "streaming_sidecar", "gif_attribution", "view_once", "thumbnail_direct_path", "thumbnail_sha256", "thumbnail_enc_sha256", "static_url", "accessibility_label", "external_share_full_video_duration_in_seconds")
        class Attribution(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            NONE: _ClassVar[Message.VideoMessage.Attribution]
            GIPHY: _ClassVar[Message.VideoMessage.Attribution]
            TENOR: _ClassVar[Message.VideoMessage.Attribution]
        NONE: Message.VideoMessage.Attribution
        GIPHY: Message.VideoMessage.Attribution
        TENOR: Message.VideoMessage.Attribution
        URL_FIELD_NUMBER: _ClassVar[int]
        MIMETYPE_FIELD_NUMBER: _ClassVar[int]
        FILE_SHA256_FIELD_NUMBER: _ClassVar[int]
        FILE_LENGTH_FIELD_NUMBER: _ClassVar[int]
        SECONDS_FIELD_NUMBER: _ClassVar[int]
        MEDIA_KEY_FIELD_NUMBER: _ClassVar[int]
        CAPTION_FIELD_NUMBER: _ClassVar[int]
        GIF_PLAYBACK_FIELD_NUMBER: _ClassVar[int]
        HEIGHT_FIELD_NUMBER: _ClassVar[int]
        WIDTH_FIELD_NUMBER: _ClassVar[int]
        FILE_ENC_SHA256_FIELD_NUMBER: _ClassVar[int]
        DIRECT_PATH_FIELD_NUMBER: _ClassVar[int]
        MEDIA_KEY_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
        JPEG_THUMBNAIL_FIELD_NUMBER: _ClassVar[int]
        CONTEXT_INFO_FIELD_NUMBER: _ClassVar[int]
        STREAMING_SIDECAR_FIELD_NUMBER: _ClassVar[int]
        GIF_ATTRIBUTION_FIELD_NUMBER: _ClassVar[int]
        VIEW_ONCE_FIELD_NUMBER: _ClassVar[int]
        THUMBNAIL_DIRECT_PATH_FIELD_NUMBER: _ClassVar[int]
        THUMBNAIL_SHA256_FIELD_NUMBER: _ClassVar[int]
        THUMBNAIL_ENC_SHA256_FIELD_NUMBER: _ClassVar[int]
        STATIC_URL_FIELD_NUMBER: _ClassVar[int]
        ACCESSIBILITY_LABEL_FIELD_NUMBER: _ClassVar[int]
        EXTERNAL_SHARE_FULL_VIDEO_DURATION_IN_SECONDS_FIELD_NUMBER: _ClassVar[int]
        url: str
        mimetype: str
        file_sha256: bytes
        file_length: int
        seconds: int
        media_key: bytes
        caption: str
        gif_playback: bool
        height: int
        width: int
        file_enc_sha256: bytes
        direct_path: str
        media_key_timestamp: int
        jpeg_thumbnail: bytes
        context_info: ContextInfo
        streaming_sidecar: bytes
        gif_attribution: Message.VideoMessage.Attribution
        view_once: bool
        thumbnail_direct_path: str
        thumbnail_sha256: bytes
        thumbnail_enc_sha256: bytes
        static_url: str
        accessibility_label: str
        external_share_full_video_duration_in_seconds: int
        def __init__(self, url: _Optional[str] = ..., mimetype: _Optional[str] = ..., file_sha256: _Optional[bytes] = ..., file_length: _Optional[int] = ..., seconds: _Optional[int] = ..., media_key: _Optional[bytes] = ..., caption: _Optional[str] = ..., gif_playback: _Optional[bool] = ..., height: _Optional[int] = ..., width: _Optional[int] = ..., file_enc_sha256: _Optional[bytes] = ..., direct_path: _Optional[str] = ..., media_key_timestamp: _Optional[int] = ..., jpeg_thumbnail: _Optional[bytes] = ..., context_info: _Optional[_Union[ContextInfo, _Mapping]] = ..., streaming_sidecar: _Optional[bytes] = ..., gif_attribution: _Optional[_Union[Message.VideoMessage.Attribution, str]] = ..., view_once: _Optional[bool] = ..., thumbnail_direct_path: _Optional[str] = ..., thumbnail_sha256: _Optional[bytes] = ..., thumbnail_enc_sha256: _Optional[bytes] = ..., static_url: _Optional[str] = ..., accessibility_label: _Optional[str] = ..., external_share_full_video_duration_in_seconds: _Optional[int] = ...) -> None: ...
    class StickerMessage(_message.Message):
        __slots__ = ("url", "file_sha256", "file_enc_sha256", "media_key", "mimetype", "height", "width", "direct_path", "file_length", "media_key_timestamp", "first_frame_length", "first_frame_sidecar", "is_animated", "png_thumbnail", "context_info", "sticker_sent_ts", "is_avatar", "is_ai_sticker", "is_lottie", "accessibility_label")
        URL_FIELD_NUMBER: _ClassVar[int]
        FILE_SHA256_FIELD_NUMBER: _ClassVar[int]
        FILE_ENC_SHA256_FIELD_NUMBER: _ClassVar[int]
        MEDIA_KEY_FIELD_NUMBER: _ClassVar[int]
        MIMETYPE_FIELD_NUMBER: _ClassVar[int]
        HEIGHT_FIELD_NUMBER: _ClassVar[int]
        WIDTH_FIELD_NUMBER: _ClassVar[int]
        DIRECT_PATH_FIELD_NUMBER: _ClassVar[int]
        FILE_LENGTH_FIELD_NUMBER: _ClassVar[int]
        MEDIA_KEY_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
        FIRST_FRAME_LENGTH_FIELD_NUMBER: _ClassVar[int]
        FIRST_FRAME_SIDECAR_FIELD_NUMBER: _ClassVar[int]
        IS_ANIMATED_FIELD_NUMBER: _ClassVar[int]
        PNG_THUMBNAIL_FIELD_NUMBER: _ClassVar[int]
        CONTEXT_INFO_FIELD_NUMBER: _ClassVar[int]
        STICKER_SENT_TS_FIELD_NUMBER: _ClassVar[int]
        IS_AVATAR_FIELD_NUMBER: _ClassVar[int]
        IS_AI_STICKER_FIELD_NUMBER: _ClassVar[int]
        IS_LOTTIE_FIELD_NUMBER: _ClassVar[int]
        ACCESSIBILITY_LABEL_FIELD_NUMBER: _ClassVar[int]
        url: str
        file_sha256: bytes
        file_enc_sha256: bytes
        media_key: bytes
        mimetype: str
        height: int
        width: int
        direct_path: str
        file_length: int
        media_key_timestamp: int
        first_frame_length: int
        first_frame_sidecar: bytes
        is_animated: bool
        png_thumbnail: bytes
        context_info: ContextInfo
        sticker_sent_ts: int
        is_avatar: bool
        is_ai_sticker: bool
        is_lottie: bool
        accessibility_label: str
        def __init__(self, url: _Optional[str] = ..., file_sha256: _Optional[bytes] = ..., file_enc_sha256: _Optional[bytes] = ..., media_key: _Optional[bytes] = ..., mimetype: _Optional[str] = ..., height: _Optional[int] = ..., width: _Optional[int] = ..., direct_path: _Optional[str] = ..., file_length: _Optional[int] = ..., media_key_timestamp: _Optional[int] = ..., first_frame_length: _Optional[int] = ..., first_frame_sidecar: _Optional[bytes] = ..., is_animated: _Optional[bool] = ..., png_thumbnail: _Optional[bytes] = ..., context_info: _Optional[_Union[ContextInfo, _Mapping]] = ..., sticker_sent_ts: _Optional[int] = ..., is_avatar: _Optional[bool] = ..., is_ai_sticker: _Optional[bool] = ..., is_lottie: _Optional[bool] = ..., accessibility_label: _Optional[str] = ...) -> None: ...
    class ReactionMessage(_message.Message):
        __slots__ = ("key", "text", "grouping_key", "sender_timestamp_ms")
        KEY_FIELD_NUMBER: _ClassVar[int]
        TEXT_FIELD_NUMBER: _ClassVar[int]
        GROUPING_KEY_FIELD_NUMBER: _ClassVar[int]
        SENDER_TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
        key: MessageKey
        text: str
        grouping_key: str
        sender_timestamp_ms: int
        def __init__(self, key: _Optional[_Union[MessageKey, _Mapping]] = ..., text: _Optional[str] = ..., grouping_key: _Optional[str] = ..., sender_timestamp_ms: _Optional[int] = ...) -> None: ...
    class PollCreationMessage(_message.Message):
        __slots__ = ("enc_key", "name", "options", "selectable_options_count", "context_info", "poll_type", "correct_answer")
        class PollType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            POLL: _ClassVar[Message.PollCreationMessage.PollType]
            QUIZ: _ClassVar[Message.PollCreationMessage.PollType]
        POLL: Message.PollCreationMessage.PollType
        QUIZ: Message.PollCreationMessage.PollType
        class Option(_message.Message):
            __slots__ = ("option_name", "option_hash")
            OPTION_NAME_FIELD_NUMBER: _ClassVar[int]
            OPTION_HASH_FIELD_NUMBER: _ClassVar[int]
            option_name: str
            option_hash: str
            def __init__(self, option_name: _Optional[str] = ..., option_hash: _Optional[str] = ...) -> None: ...
        ENC_KEY_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        OPTIONS_FIELD_NUMBER: _ClassVar[int]
        SELECTABLE_OPTIONS_COUNT_FIELD_NUMBER: _ClassVar[int]
        CONTEXT_INFO_FIELD_NUMBER: _ClassVar[int]
        POLL_TYPE_FIELD_NUMBER: _ClassVar[int]
        CORRECT_ANSWER_FIELD_NUMBER: _ClassVar[int]
        enc_key: bytes
        name: str
        options: _containers.RepeatedCompositeFieldContainer[Message.PollCreationMessage.Option]
        selectable_options_count: int
        context_info: ContextInfo
        poll_type: Message.PollCreationMessage.PollType
        correct_answer: Message.PollCreationMessage.Option
        def __init__(self, enc_key: _Optional[bytes] = ..., name: _Optional[str] = ..., options: _Optional[_Iterable[_Union[Message.PollCreationMessage.Option, _Mapping]]] = ..., selectable_options_count: _Optional[int] = ..., context_info: _Optional[_Union[ContextInfo, _Mapping]] = ..., poll_type: _Optional[_Union[Message.PollCreationMessage.PollType, str]] = ..., correct_answer: _Optional[_Union[Message.PollCreationMessage.Option, _Mapping]] = ...) -> None: ...
    class DeviceSentMessage(_message.Message):
        __slots__ = ("destination_jid", "message", "phash")
        DESTINATION_JID_FIELD_NUMBER: _ClassVar[int]
        MESSAGE_FIELD_NUMBER: _ClassVar[int]
        PHASH_FIELD_NUMBER: _ClassVar[int]
        destination_jid: str
        message: Message
        phash: str
        def __init__(self, destination_jid: _Optional[str] = ..., message: _Optional[_Union[Message, _Mapping]] = ..., phash: _Optional[str] = ...) -> None: ...
    class HistorySyncNotification(_message.Message):
        __slots__ = ("file_sha256", "file_length", "media_key", "file_enc_sha256", "direct_path", "sync_type", "chunk_order", "original_message_id", "progress", "oldest_msg_in_chunk_timestamp_sec", "initial_hist_bootstrap_inline_payload", "peer_data_request_session_id", "enc_handle")
        class HistorySyncType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            INITIAL_BOOTSTRAP: _ClassVar[Message.HistorySyncNotification.HistorySyncType]
            INITIAL_STATUS_V3: _ClassVar[Message.HistorySyncNotification.HistorySyncType]
            FULL: _ClassVar[Message.HistorySyncNotification.HistorySyncType]
            RECENT: _ClassVar[Message.HistorySyncNotification.HistorySyncType]
            PUSH_NAME: _ClassVar[Message.HistorySyncNotification.HistorySyncType]
            NON_BLOCKING_DATA: _ClassVar[Message.HistorySyncNotification.HistorySyncType]
            ON_DEMAND: _ClassVar[Message.HistorySyncNotification.HistorySyncType]
            NO_HISTORY: _ClassVar[Message.HistorySyncNotification.HistorySyncType]
        INITIAL_BOOTSTRAP: Message.HistorySyncNotification.HistorySyncType
        INITIAL_STATUS_V3: Message.HistorySyncNotification.HistorySyncType
        FULL: Message.HistorySyncNotification.HistorySyncType
        RECENT: Message.HistorySyncNotification.HistorySyncType
        PUSH_NAME: Message.HistorySyncNotification.HistorySyncType
        NON_BLOCKING_DATA: Message.HistorySyncNotification.HistorySyncType
        ON_DEMAND: Message.HistorySyncNotification.HistorySyncType
        NO_HISTORY: Message.HistorySyncNotification.HistorySyncType
        FILE_SHA256_FIELD_NUMBER: _ClassVar[int]
        FILE_LENGTH_FIELD_NUMBER: _ClassVar[int]
        MEDIA_KEY_FIELD_NUMBER: _ClassVar[int]
        FILE_ENC_SHA256_FIELD_NUMBER: _ClassVar[int]
        DIRECT_PATH_FIELD_NUMBER: _ClassVar[int]
        SYNC_TYPE_FIELD_NUMBER: _ClassVar[int]
        CHUNK_ORDER_FIELD_NUMBER: _ClassVar[int]
        ORIGINAL_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
        PROGRESS_FIELD_NUMBER: _ClassVar[int]
        OLDEST_MSG_IN_CHUNK_TIMESTAMP_SEC_FIELD_NUMBER: _ClassVar[int]
        INITIAL_HIST_BOOTSTRAP_INLINE_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
        PEER_DATA_REQUEST_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
        ENC_HANDLE_FIELD_NUMBER: _ClassVar[int]
        file_sha256: bytes
        file_length: int
        media_key: bytes
        file_enc_sha256: bytes
        direct_path: str
        sync_type: Message.HistorySyncNotification.HistorySyncType
        chunk_order: int
        original_message_id: str
        progress: int
        oldest_msg_in_chunk_timestamp_sec: int
        initial_hist_bootstrap_inline_payload: bytes
        peer_data_request_session_id: str
        enc_handle: str
        def __init__(self, file_sha256: _Optional[bytes] = ..., file_length: _Optional[int] = ..., media_key: _Optional[bytes] = ..., file_enc_sha256: _Optional[bytes] = ..., direct_path: _Optional[str] = ..., sync_type: _Optional[_Union[Message.HistorySyncNotification.HistorySyncType, str]] = ..., chunk_order: _Optional[int] = ..., original_message_id: _Optional[str] = ..., progress: _Optional[int] = ..., oldest_msg_in_chunk_timestamp_sec: _Optional[int] = ..., initial_hist_bootstrap_inline_payload: _Optional[bytes] = ..., peer_data_request_session_id: _Optional[str] = ..., enc_handle: _Optional[str] = ...) -> None: ...
    class AppStateSyncKeyId(_message.Message):
        __slots__ = ("key_id",)
        KEY_ID_FIELD_NUMBER: _ClassVar[int]
        key_id: bytes
        def __init__(self, key_id: _Optional[bytes] = ...) -> None: ...
    class AppStateSyncKeyFingerprint(_message.Message):
        __slots__ = ("raw_id", "current_index", "device_indexes")
        RAW_ID_FIELD_NUMBER: _ClassVar[int]
        CURRENT_INDEX_FIELD_NUMBER: _ClassVar[int]
        DEVICE_INDEXES_FIELD_NUMBER: _ClassVar[int]
        raw_id: int
        current_index: int
        device_indexes: _containers.RepeatedScalarFieldContainer[int]
        def __init__(self, raw_id: _Optional[int] = ..., current_index: _Optional[int] = ..., device_indexes: _Optional[_Iterable[int]] = ...) -> None: ...
    class AppStateSyncKeyData(_message.Message):
        __slots__ = ("key_data", "fingerprint", "timestamp")
        KEY_DATA_FIELD_NUMBER: _ClassVar[int]
        FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
        TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
        key_data: bytes
        fingerprint: Message.AppStateSyncKeyFingerprint
        timestamp: int
        def __init__(self, key_data: _Optional[bytes] = ..., fingerprint: _Optional[_Union[Message.AppStateSyncKeyFingerprint, _Mapping]] = ..., timestamp: _Optional[int] = ...) -> None: ...
    class AppStateSyncKey(_message.Message):
        __slots__ = ("key_id", "key_data")
        KEY_ID_FIELD_NUMBER: _ClassVar[int]
        KEY_DATA_FIELD_NUMBER: _ClassVar[int]
        key_id: Message.AppStateSyncKeyId
        key_data: Message.AppStateSyncKeyData
        def __init__(self, key_id: _Optional[_Union[Message.AppStateSyncKeyId, _Mapping]] = ..., key_data: _Optional[_Union[Message.AppStateSyncKeyData, _Mapping]] = ...) -> None: ...
    class AppStateSyncKeyShare(_message.Message):
        __slots__ = ("keys",)
        KEYS_FIELD_NUMBER: _ClassVar[int]
        keys: _containers.RepeatedCompositeFieldContainer[Message.AppStateSyncKey]
        def __init__(self, keys: _Optional[_Iterable[_Union[Message.AppStateSyncKey, _Mapping]]] = ...) -> None: ...
    class ProtocolMessage(_message.Message):
        __slots__ = ("key", "type", "ephemeral_expiration", "ephemeral_setting_timestamp", "history_sync_notification", "app_state_sync_key_share", "disappearing_mode", "edited_message", "timestamp_ms", "invoker_jid")
        class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            REVOKE: _ClassVar[Message.ProtocolMessage.Type]
            EPHEMERAL_SETTING: _ClassVar[Message.ProtocolMessage.Type]
            EPHEMERAL_SYNC_RESPONSE: _ClassVar[Message.ProtocolMessage.Type]
            HISTORY_SYNC_NOTIFICATION: _ClassVar[Message.ProtocolMessage.Type]
            APP_STATE_SYNC_KEY_SHARE: _ClassVar[Message.ProtocolMessage.Type]
            APP_STATE_SYNC_KEY_REQUEST: _ClassVar[Message.ProtocolMessage.Type]
            MSG_FANOUT_BACKFILL_REQUEST: _ClassVar[Message.ProtocolMessage.Type]
            INITIAL_SECURITY_NOTIFICATION_SETTING_SYNC: _ClassVar[Message.ProtocolMessage.Type]
            APP_STATE_FATAL_EXCEPTION_NOTIFICATION: _ClassVar[Message.ProtocolMessage.Type]
            SHARE_PHONE_NUMBER: _ClassVar[Message.ProtocolMessage.Type]
            MESSAGE_EDIT: _ClassVar[Message.ProtocolMessage.Type]
            PEER_DATA_OPERATION_REQUEST_MESSAGE: _ClassVar[Message.ProtocolMessage.Type]
            PEER_DATA_OPERATION_REQUEST_RESPONSE_MESSAGE: _ClassVar[Message.ProtocolMessage.Type]
            REQUEST_WELCOME_MESSAGE: _ClassVar[Message.ProtocolMessage.Type]
            BOT_FEEDBACK_MESSAGE: _ClassVar[Message.ProtocolMessage.Type]
            MEDIA_NOTIFY_MESSAGE: _ClassVar[Message.ProtocolMessage.Type]
            CLOUD_API_THREAD_CONTROL_NOTIFICATION: _ClassVar[Message.ProtocolMessage.Type]
            LID_MIGRATION_MAPPING_SYNC: _ClassVar[Message.ProtocolMessage.Type]
            REMINDER_MESSAGE: _ClassVar[Message.ProtocolMessage.Type]
            BOT_MEMU_ONBOARDING_MESSAGE: _ClassVar[Message.ProtocolMessage.Type]
            STATUS_MENTION_MESSAGE: _ClassVar[Message.ProtocolMessage.Type]
            STOP_GENERATION_MESSAGE: _ClassVar[Message.ProtocolMessage.Type]
            LIMIT_SHARING: _ClassVar[Message.ProtocolMessage.Type]
            AI_PSI_METADATA: _ClassVar[Message.ProtocolMessage.Type]
            AI_QUERY_FANOUT: _ClassVar[Message.ProtocolMessage.Type]
            GROUP_MEMBER_LABEL_CHANGE: _ClassVar[Message.ProtocolMessage.Type]
        REVOKE: Message.ProtocolMessage.Type
        EPHEMERAL_SETTING: Message.ProtocolMessage.Type
        EPHEMERAL_SYNC_RESPONSE: Message.ProtocolMessage.Type
        HISTORY_SYNC_NOTIFICATION: Message.ProtocolMessage.Type
        APP_STATE_SYNC_KEY_SHARE: Message.ProtocolMessage.Type
        APP_STATE_SYNC_KEY_REQUEST: Message.ProtocolMessage.Type
        MSG_FANOUT_BACKFILL_REQUEST: Message.ProtocolMessage.Type
        INITIAL_SECURITY_NOTIFICATION_SETTING_SYNC: Message.ProtocolMessage.Type
        APP_STATE_FATAL_EXCEPTION_NOTIFICATION: Message.ProtocolMessage.Type
        SHARE_PHONE_NUMBER: Message.ProtocolMessage.Type
        MESSAGE_EDIT: Message.ProtocolMessage.Type
        PEER_DATA_OPERATION_REQUEST_MESSAGE: Message.ProtocolMessage.Type
        PEER_DATA_OPERATION_REQUEST_RESPONSE_MESSAGE: Message.ProtocolMessage.Type
        REQUEST_WELCOME_MESSAGE: Message.ProtocolMessage.Type
        BOT_FEEDBACK_MESSAGE: Message.ProtocolMessage.Type
        MEDIA_NOTIFY_MESSAGE: Message.ProtocolMessage.Type
        CLOUD_API_THREAD_CONTROL_NOTIFICATION: Message.ProtocolMessage.Type
        LID_MIGRATION_MAPPING_SYNC: Message.ProtocolMessage.Type
        REMINDER_MESSAGE: Message.ProtocolMessage.Type
        BOT_MEMU_ONBOARDING_MESSAGE: Message.ProtocolMessage.Type
        STATUS_MENTION_MESSAGE: Message.ProtocolMessage.Type
        STOP_GENERATION_MESSAGE: Message.ProtocolMessage.Type
        LIMIT_SHARING: Message.ProtocolMessage.Type
        AI_PSI_METADATA: Message.ProtocolMessage.Type
        AI_QUERY_FANOUT: Message.ProtocolMessage.Type
        GROUP_MEMBER_LABEL_CHANGE: Message.ProtocolMessage.Type
        KEY_FIELD_NUMBER: _ClassVar[int]
        TYPE_FIELD_NUMBER: _ClassVar[int]
        EPHEMERAL_EXPIRATION_FIELD_NUMBER: _ClassVar[int]
        EPHEMERAL_SETTING_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
        HISTORY_SYNC_NOTIFICATION_FIELD_NUMBER: _ClassVar[int]
        APP_STATE_SYNC_KEY_SHARE_FIELD_NUMBER: _ClassVar[int]
        DISAPPEARING_MODE_FIELD_NUMBER: _ClassVar[int]
        EDITED_MESSAGE_FIELD_NUMBER: _ClassVar[int]
        TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
        INVOKER_JID_FIELD_NUMBER: _ClassVar[int]
        key: MessageKey
        type: Message.ProtocolMessage.Type
        ephemeral_expiration: int
        ephemeral_setting_timestamp: int
        history_sync_notification: Message.HistorySyncNotification
        app_state_sync_key_share: Message.AppStateSyncKeyShare
        disappearing_mode: DisappearingMode
        edited_message: Message
        timestamp_ms: int
        invoker_jid: str
        def __init__(self, key: _Optional[_Union[MessageKey, _Mapping]] = ..., type: _Optional[_Union[Message.ProtocolMessage.Type, str]] = ..., ephemeral_expiration: _Optional[int] = ..., ephemeral_setting_timestamp: _Optional[int] = ..., history_sync_notification: _Optional[_Union[Message.HistorySyncNotification, _Mapping]] = ..., app_state_sync_key_share: _Optional[_Union[Message.AppStateSyncKeyShare, _Mapping]] = ..., disappearing_mode: _Optional[_Union[DisappearingMode, _Mapping]] = ..., edited_message: _Optional[_Union[Message, _Mapping]] = ..., timestamp_ms: _Optional[int] = ..., invoker_jid: _Optional[str] = ...) -> None: ...
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    SENDER_KEY_DISTRIBUTION_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CONTACT_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LOCATION_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    EXTENDED_TEXT_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    VIDEO_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_ARRAY_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FAST_RATCHET_KEY_SENDER_KEY_DISTRIBUTION_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LIVE_LOCATION_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STICKER_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_SENT_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_CONTEXT_INFO_FIELD_NUMBER: _ClassVar[int]
    VIEW_ONCE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REACTION_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    POLL_CREATION_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_WITH_CAPTION_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    VIEW_ONCE_MESSAGE_V2_FIELD_NUMBER: _ClassVar[int]
    EDITED_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    VIEW_ONCE_MESSAGE_V2_EXTENSION_FIELD_NUMBER: _ClassVar[int]
    POLL_CREATION_MESSAGE_V2_FIELD_NUMBER: _ClassVar[int]
    POLL_CREATION_MESSAGE_V3_FIELD_NUMBER: _ClassVar[int]
    PTV_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    BOT_INVOKE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LOTTIE_STICKER_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ASSOCIATED_CHILD_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    GROUP_STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    conversation: str
    sender_key_distribution_message: Message.SenderKeyDistributionMessage
    image_message: Message.ImageMessage
    contact_message: Message.ContactMessage
    location_message: Message.LocationMessage
    extended_text_message: Message.ExtendedTextMessage
    document_message: Message.DocumentMessage
    audio_message: Message.AudioMessage
    video_message: Message.VideoMessage
    protocol_message: Message.ProtocolMessage
    contacts_array_message: Message.ContactsArrayMessage
    fast_ratchet_key_sender_key_distribution_message: Message.SenderKeyDistributionMessage
    live_location_message: Message.LiveLocationMessage
    sticker_message: Message.StickerMessage
    device_sent_message: Message.DeviceSentMessage
    message_context_info: MessageContextInfo
    view_once_message: Message.FutureProofMessage
    ephemeral_message: Message.FutureProofMessage
    reaction_message: Message.ReactionMessage
    poll_creation_message: Message.PollCreationMessage
    document_with_caption_message: Message.FutureProofMessage
    view_once_message_v2: Message.FutureProofMessage
    edited_message: Message.FutureProofMessage
    view_once_message_v2_extension: Message.FutureProofMessage
    poll_creation_message_v2: Message.PollCreationMessage
    poll_creation_message_v3: Message.PollCreationMessage
    ptv_message: Message.VideoMessage
    bot_invoke_message: Message.FutureProofMessage
    lottie_sticker_message: Message.FutureProofMessage
    associated_child_message: Message.FutureProofMessage
    group_status_message: Message.FutureProofMessage
    def __init__(self, conversation: _Optional[str] = ..., sender_key_distribution_message: _Optional[_Union[Message.SenderKeyDistributionMessage, _Mapping]] = ..., image_message: _Optional[_Union[Message.ImageMessage, _Mapping]] = ..., contact_message: _Optional[_Union[Message.ContactMessage, _Mapping]] = ..., location_message: _Optional[_Union[Message.LocationMessage, _Mapping]] = ..., extended_text_message: _Optional[_Union[Message.ExtendedTextMessage, _Mapping]] = ..., document_message: _Optional[_Union[Message.DocumentMessage, _Mapping]] = ..., audio_message: _Optional[_Union[Message.AudioMessage, _Mapping]] = ..., video_message: _Optional[_Union[Message.VideoMessage, _Mapping]] = ..., protocol_message: _Optional[_Union[Message.ProtocolMessage, _Mapping]] = ..., contacts_array_message: _Optional[_Union[Message.ContactsArrayMessage, _Mapping]] = ..., fast_ratchet_key_sender_key_distribution_message: _Optional[_Union[Message.SenderKeyDistributionMessage, _Mapping]] = ..., live_location_message: _Optional[_Union[Message.LiveLocationMessage, _Mapping]] = ..., sticker_message: _Optional[_Union[Message.StickerMessage, _Mapping]] = ..., device_sent_message: _Optional[_Union[Message.DeviceSentMessage, _Mapping]] = ..., message_context_info: _Optional[_Union[MessageContextInfo, _Mapping]] = ..., view_once_message: _Optional[_Union[Message.FutureProofMessage, _Mapping]] = ..., ephemeral_message: _Optional[_Union[Message.FutureProofMessage, _Mapping]] = ..., reaction_message: _Optional[_Union[Message.ReactionMessage, _Mapping]] = ..., poll_creation_message: _Optional[_Union[Message.PollCreationMessage, _Mapping]] = ..., document_with_caption_message: _Optional[_Union[Message.FutureProofMessage, _Mapping]] = ..., view_once_message_v2: _Optional[_Union[Message.FutureProofMessage, _Mapping]] = ..., edited_message: _Optional[_Union[Message.FutureProofMessage, _Mapping]] = ..., view_once_message_v2_extension: _Optional[_Union[Message.FutureProofMessage, _Mapping]] = ..., poll_creation_message_v2: _Optional[_Union[Message.PollCreationMessage, _Mapping]] = ..., poll_creation_message_v3: _Optional[_Union[Message.PollCreationMessage, _Mapping]] = ..., ptv_message: _Optional[_Union[Message.VideoMessage, _Mapping]] = ..., bot_invoke_message: _Optional[_Union[Message.FutureProofMessage, _Mapping]] = ..., lottie_sticker_message: _Optional[_Union[Message.FutureProofMessage, _Mapping]] = ..., associated_child_message: _Optional[_Union[Message.FutureProofMessage, _Mapping]] = ..., group_status_message: _Optional[_Union[Message.FutureProofMessage, _Mapping]] = ...) -> None: ...
