"""Typed errors carrying SRS's numeric codes (srs_kernel_error.hpp, 2.0 numbering).

Every error raised by the server is an ``SrsError`` with ``code``; subclasses add a builtin
base where one fits, so ``except ValueError`` still works for callers that do not know us.
``peer`` tells whether the remote side caused it (bad input) or we did (resource, bug).
"""
from __future__ import annotations

# --- system 1xxx
ERROR_SUCCESS = 0
ERROR_SOCKET_CREATE = 1000
ERROR_SOCKET_SETREUSE = 1001
ERROR_SOCKET_BIND = 1002
ERROR_SOCKET_LISTEN = 1003
ERROR_SOCKET_CLOSED = 1004
ERROR_SOCKET_GET_PEER_NAME = 1005
ERROR_SOCKET_GET_PEER_IP = 1006
ERROR_SOCKET_READ = 1007
ERROR_SOCKET_READ_FULLY = 1008
ERROR_SOCKET_WRITE = 1009
ERROR_SOCKET_WAIT = 1010
ERROR_SOCKET_TIMEOUT = 1011
ERROR_SOCKET_CONNECT = 1012
ERROR_SYSTEM_PACKET_INVALID = 1019
ERROR_SYSTEM_CLIENT_INVALID = 1020
ERROR_SYSTEM_ASSERT_FAILED = 1021
ERROR_READER_BUFFER_OVERFLOW = 1022
ERROR_SYSTEM_CONFIG_INVALID = 1023
ERROR_SYSTEM_CONFIG_DIRECTIVE = 1024
ERROR_SYSTEM_CONFIG_BLOCK_START = 1025
ERROR_SYSTEM_CONFIG_BLOCK_END = 1026
ERROR_SYSTEM_CONFIG_EOF = 1027
ERROR_SYSTEM_STREAM_BUSY = 1028
ERROR_SYSTEM_IP_INVALID = 1029
ERROR_SYSTEM_FORWARD_LOOP = 1030
ERROR_SYSTEM_WAITPID = 1031
ERROR_SYSTEM_BANDWIDTH_KEY = 1032
ERROR_SYSTEM_BANDWIDTH_DENIED = 1033
ERROR_SYSTEM_PID_ACQUIRE = 1034
ERROR_SYSTEM_PID_ALREADY_RUNNING = 1035
ERROR_SYSTEM_PID_LOCK = 1036
ERROR_SYSTEM_PID_TRUNCATE_FILE = 1037
ERROR_SYSTEM_PID_WRITE_FILE = 1038
ERROR_SYSTEM_FILE_OPENE = 1042
ERROR_SYSTEM_FILE_WRITE = 1045
ERROR_SYSTEM_FILE_EOF = 1046
ERROR_SYSTEM_FILE_RENAME = 1047
ERROR_SYSTEM_IO_INVALID = 1050
ERROR_SYSTEM_SECURITY = 1052
ERROR_SYSTEM_SECURITY_DENY = 1053
ERROR_SYSTEM_SECURITY_ALLOW = 1054
ERROR_SYSTEM_CREATE_DIR = 1057
ERROR_SYSTEM_KILL = 1058
ERROR_SYSTEM_CONFIG_PERSISTENCE = 1059
ERROR_SYSTEM_CONFIG_RAW = 1060
ERROR_SYSTEM_CONFIG_RAW_DISABLED = 1061
ERROR_SYSTEM_CONFIG_RAW_NOT_ALLOWED = 1062
ERROR_SYSTEM_CONFIG_RAW_PARAMS = 1063
# Ours (issue 18): a file path built from a template leaves its configured root (app.file_root).
ERROR_SYSTEM_PATH_OUTSIDE_ROOT = 1090

# --- RTMP 2xxx
ERROR_RTMP_PLAIN_REQUIRED = 2000
ERROR_RTMP_CHUNK_START = 2001
ERROR_RTMP_MSG_INVALID_SIZE = 2002
ERROR_RTMP_AMF0_DECODE = 2003
ERROR_RTMP_AMF0_INVALID = 2004
ERROR_RTMP_REQ_CONNECT = 2005
ERROR_RTMP_REQ_TCURL = 2006
ERROR_RTMP_MESSAGE_DECODE = 2007
ERROR_RTMP_MESSAGE_ENCODE = 2008
ERROR_RTMP_AMF0_ENCODE = 2009
ERROR_RTMP_CHUNK_SIZE = 2010
ERROR_RTMP_TRY_SIMPLE_HS = 2011
ERROR_RTMP_CH_SCHEMA = 2012
ERROR_RTMP_PACKET_SIZE = 2013
ERROR_RTMP_VHOST_NOT_FOUND = 2014
ERROR_RTMP_ACCESS_DENIED = 2015
ERROR_RTMP_HANDSHAKE = 2016
ERROR_RTMP_NO_REQUEST = 2017
ERROR_RTMP_HS_SSL_REQUIRE = 2018
ERROR_RTMP_DURATION_EXCEED = 2019
ERROR_RTMP_EDGE_PLAY_STATE = 2020
ERROR_RTMP_EDGE_PUBLISH_STATE = 2021
ERROR_RTMP_EDGE_PROXY_PULL = 2022
ERROR_RTMP_EDGE_RELOAD = 2023
ERROR_RTMP_AGGREGATE = 2024
ERROR_RTMP_BWTC_DATA = 2025
# H15 (casters): RTSP/RTP codes as srs_kernel_error.hpp numbers them (2042..2047).
ERROR_RTSP_TOKEN_NOT_NORMAL = 2042
ERROR_RTSP_REQUEST_HEADER_EOF = 2043
ERROR_RTP_HEADER_CORRUPT = 2044
ERROR_RTP_TYPE96_CORRUPT = 2045
ERROR_RTP_TYPE97_CORRUPT = 2046
ERROR_RTSP_AUDIO_CONFIG = 2047
ERROR_RTMP_STREAM_NOT_FOUND = 2048
ERROR_RTMP_CLIENT_NOT_FOUND = 2049
ERROR_RTMP_STREAM_NAME_EMPTY = 2051  # SRS 3+: an empty stream name
# Not an SRS code (SRS does not check names): a client-chosen vhost/app/stream/param that could escape
# its directory or break a log line (protocol/names.py); the next free number after SRS 6's 2056.
ERROR_RTMP_STREAM_NAME_INVALID = 2057

# --- application 3xxx
ERROR_HLS_METADATA = 3000
ERROR_HLS_DECODE_ERROR = 3001
ERROR_HLS_CREATE_DIR = 3002
ERROR_HLS_OPEN_FAILED = 3003
ERROR_HLS_WRITE_FAILED = 3004
ERROR_HLS_AAC_FRAME_LENGTH = 3005
ERROR_HLS_AVC_SAMPLE_SIZE = 3006
ERROR_HTTP_PARSE_URI = 3007
ERROR_HTTP_DATA_INVALID = 3008
ERROR_HTTP_PARSE_HEADER = 3009
ERROR_HTTP_HANDLER_MATCH_URL = 3010
ERROR_HTTP_HANDLER_INVALID = 3011
ERROR_HTTP_REMUX_SEQUENCE_HEADER = 3013
ERROR_ENCODER_VCODEC = 3015
ERROR_ENCODER_OUTPUT = 3016
ERROR_ENCODER_ACODEC = 3021
ERROR_ENCODER_FORK = 3029
ERROR_ENCODER_LOOP = 3030
ERROR_AAC_REQUIRED_ADTS = 3046
ERROR_AAC_ADTS_HEADER = 3047
ERROR_AAC_DATA_INVALID = 3048
ERROR_HLS_TRY_MP3 = 3049
ERROR_HTTP_DVR_DISABLED = 3050
ERROR_HTTP_DVR_REQUEST = 3051
ERROR_HTTP_JSON_REQUIRED = 3052
ERROR_HTTP_DVR_CREATE_REQUEST = 3053
ERROR_HTTP_DVR_NO_TAEGET = 3054
ERROR_ADTS_ID_NOT_AAC = 3055
ERROR_STREAM_CASTER_ENGINE = 3057
ERROR_STREAM_CASTER_PORT = 3058
ERROR_STREAM_CASTER_TS_HEADER = 3059
ERROR_STREAM_CASTER_TS_SYNC_BYTE = 3060
ERROR_STREAM_CASTER_TS_AF = 3061
ERROR_STREAM_CASTER_TS_CRC32 = 3062
ERROR_STREAM_CASTER_TS_PSI = 3063
ERROR_STREAM_CASTER_TS_PAT = 3064
ERROR_STREAM_CASTER_TS_PMT = 3065
ERROR_STREAM_CASTER_TS_PSE = 3066
ERROR_STREAM_CASTER_TS_ES = 3067
ERROR_STREAM_CASTER_FLV_TAG = 3087
ERROR_HTTP_RESPONSE_EOF = 3088
ERROR_HTTP_INVALID_CHUNK_HEADER = 3089
ERROR_AVC_NALU_UEV = 3090
ERROR_AAC_BYTES_INVALID = 3091
ERROR_HTTP_REQUEST_EOF = 3092
ERROR_HTTP_STATUS_INVALID = 4001
ERROR_RESPONSE_CODE = 4002
ERROR_RESPONSE_DATA = 4003

# --- control codes (not failures): the RTMP session loops on them
ERROR_CONTROL_RTMP_CLOSE = 4999  # the client closed the stream; back to identify
ERROR_CONTROL_REPUBLISH = 5000   # FMLE unpublished; may publish again on the same connection
# H14: SRS 3 origin cluster: the player was sent an RTMP 302 to the coworker that has the stream
ERROR_CONTROL_REDIRECT = 2997


class SrsError(Exception):
    """Base of every error we raise. ``code`` is SRS's numeric code."""

    code: int = ERROR_SYSTEM_ASSERT_FAILED
    peer: bool = False  # True when the remote side is at fault (bad bytes, refused request)

    def __init__(self, message: str = "", code: int | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"code={self.code} {super().__str__()}"


class PeerError(SrsError):
    """The peer sent something we reject; closes only that connection."""

    peer = True
    code = ERROR_SYSTEM_PACKET_INVALID


class ConfigError(SrsError, ValueError):
    """A config file that does not parse or check; ``file`` and ``line`` say where."""

    code = ERROR_SYSTEM_CONFIG_INVALID

    def __init__(self, message: str, file: str = "", line: int = 0, code: int | None = None):
        self.file = file
        self.line = line
        where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        super().__init__(where + message, code)


class RtmpError(PeerError):
    code = ERROR_RTMP_MESSAGE_DECODE


class HandshakeError(RtmpError):
    code = ERROR_RTMP_HANDSHAKE


class ChunkError(RtmpError, ValueError):
    code = ERROR_RTMP_CHUNK_START


class Amf0DecodeError(RtmpError, ValueError):
    code = ERROR_RTMP_AMF0_DECODE


class Amf0EncodeError(SrsError, TypeError):
    code = ERROR_RTMP_AMF0_ENCODE


class RequestError(RtmpError):
    """tcUrl/app/stream that cannot be used (missing, empty stream name...)."""

    code = ERROR_RTMP_REQ_TCURL


class AccessDenied(PeerError):
    """Refused by policy: security rules, refer, hooks, disabled vhost."""

    code = ERROR_RTMP_ACCESS_DENIED


class StreamBusy(SrsError):
    code = ERROR_SYSTEM_STREAM_BUSY


class CodecError(PeerError, ValueError):
    """Media bytes that do not parse as the codec they claim to be."""

    code = ERROR_HLS_DECODE_ERROR


class HttpError(PeerError):
    code = ERROR_HTTP_DATA_INVALID

    def __init__(self, message: str = "", status: int = 400, code: int | None = None):
        self.status = status
        super().__init__(message, code)


class RtspError(PeerError):
    """H15 (casters): a bad RTSP request/SDP/transport; ``status`` is the RTSP answer (400...)."""

    code = ERROR_RTSP_TOKEN_NOT_NORMAL

    def __init__(self, message: str = "", status: int = 400, code: int | None = None):
        self.status = status
        super().__init__(message, code)


class ControlSignal(SrsError):
    """Not a failure: a flow-control outcome that unwinds the session loop (close/republish)."""
