from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Caller(_message.Message):
    __slots__ = ("fixmedins_code", "msgid", "infno", "opter")
    FIXMEDINS_CODE_FIELD_NUMBER: _ClassVar[int]
    MSGID_FIELD_NUMBER: _ClassVar[int]
    INFNO_FIELD_NUMBER: _ClassVar[int]
    OPTER_FIELD_NUMBER: _ClassVar[int]
    fixmedins_code: str
    msgid: str
    infno: str
    opter: str
    def __init__(self, fixmedins_code: _Optional[str] = ..., msgid: _Optional[str] = ..., infno: _Optional[str] = ..., opter: _Optional[str] = ...) -> None: ...

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
