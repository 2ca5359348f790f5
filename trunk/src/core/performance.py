"""Tuning constants for the hot paths (SRS's srs_core_performance.hpp, in our terms)."""

# Merged write: a source tick sends a batch once it holds this many messages or mw_latency has passed.
MW_MIN_MSGS = 8
# Most messages encoded into one send per player per tick: a batch this long is sent at once.
MW_MAX_MSGS = 128
# Default merged-write sleep, ms (vhost play.mw_latency).
MW_SLEEP_MS = 350
# Default merged-read sleep for publishers, ms (vhost publish.mr_latency).
MR_SLEEP_MS = 350
# Default outgoing RTMP chunk size.
CHUNK_SIZE = 60000
# Read buffer for one RTMP connection.
RECV_BUFFER_SIZE = 128 * 1024
# A GOP cache is dropped when this many audio messages arrive without video (pure audio stream).
PURE_AUDIO_GUESS_COUNT = 115
# Largest RTMP message we accept (SRS rejects absurd sizes to stop memory blow-up).
MAX_MESSAGE_SIZE = 16 * 1024 * 1024
