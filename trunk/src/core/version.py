"""Version and identity strings, as SRS reports them in connect replies, HTTP headers and the API."""

VERSION_MAJOR = 3
VERSION_MINOR = 0
VERSION_REVISION = 1
VERSION = f"{VERSION_MAJOR}.{VERSION_MINOR}.{VERSION_REVISION}"
CODE_NAME = "PySRS"
KEY = "SRS"
SIGNATURE = f"{KEY}/{VERSION}({CODE_NAME})"  # Server: header, srs_server field
SERVER = SIGNATURE
PRIMARY = "srs-python developers"
AUTHORS = "srs-python developers"
LICENSE = "MIT"
URL = "https://github.com/ossrs/srs"
WEB = "http://ossrs.net"
EMAIL = "srs-python@localhost"
COPYRIGHT = "Copyright (c) 2026 srs-python developers"
# SRS reports the FMS version it imitates in connect _result.
FMS_VERSION = "FMS/3,5,3,888"
