"""The table's vhost rows: cluster, play, publish, the features, transcode/ingest engines.

Order is the view's field order (VhostConfig and its sub-views). ``alias`` is the 2.0 flat spelling
that schema.transform moves into the 3.0 block. ``reload`` names SRS's on_reload_vhost_* event; a
block's rows share the block's event. The special events: ``vhost`` (enabled: added/removed),
``mode`` (origin <-> edge refuses the reload), ``ingest`` (diffed per ingest id). ``env=False``:
SRS 5 reads no SRS_* variable for it (forward, cluster, security, refer, transcode, ingest, exec,
bandcheck); the others are SRS_VHOST_<BLOCK>_<NAME> for every vhost.
"""
from __future__ import annotations

from srs.app.config.row import (ANY, CHUNK, COUNT, FLAG, FPS, MS_FLOAT, PERIOD, POSITIVE, RATIO, SECONDS, STR,
                                STRS, TIME_JITTER, Choice, Number, Ref, Row, block, prefixed)
from srs.app.config.rows_global import DEFAULT_HTML_DIR
from srs.core.performance import CHUNK_SIZE, MR_SLEEP_MS, MW_SLEEP_MS

# one ffmpeg output, under both transcode and ingest
_ENGINE = (
    block("engine", field="engines", many=True, args=(0, 1)),
    Row("engine.enabled", FLAG, False),
    Row("engine.iformat", STR, "flv"),
    Row("engine.vfilter", ANY, ()),
    Row("engine.vcodec", Choice("libx264", "copy", "vn"), ""),
    Row("engine.vbitrate", COUNT, 0),
    Row("engine.vfps", FPS, 0.0),
    Row("engine.vwidth", COUNT, 0),
    Row("engine.vheight", COUNT, 0),
    Row("engine.vthreads", COUNT, 1),
    Row("engine.vprofile", STR, ""),
    Row("engine.vpreset", STR, ""),
    Row("engine.vparams", ANY, ()),
    Row("engine.acodec", Choice("libfdk_aac", "aac", "libaacplus", "libmp3lame", "copy", "an"), ""),
    Row("engine.abitrate", COUNT, 0),
    Row("engine.asample_rate", COUNT, 0),
    Row("engine.achannels", COUNT, 0),
    Row("engine.aparams", ANY, ()),
    Row("engine.oformat", STR, "flv"),
    Row("engine.output", STR, ""),
    Row("engine.perfile", ANY, ()),
)

VHOST_ROWS = (
    block("vhost", field="vhosts", many=True, args=(1, 1), custom=True),  # VhostConfig needs the global chunk_size
    Row("vhost.enabled", FLAG, True, reload="vhost", env=False),
    Row("vhost.chunk_size", CHUNK, CHUNK_SIZE, custom=True, reload="chunk_size", source="chunk_size"),  # global's
    block("vhost.cluster", flat=True, env=False),
    Row("vhost.cluster.mode", Choice("local", "remote"), "local", alias="mode", reload="mode"),
    Row("vhost.cluster.origin", STRS, (), custom=True, alias="origin", reload="cluster"),  # (host, port) pairs
    Row("vhost.cluster.token_traverse", FLAG, False, alias="token_traverse", reload="cluster"),
    Row("vhost.cluster.vhost", STR, "[vhost]", field="edge_vhost", alias="vhost", reload="cluster"),
    Row("vhost.cluster.debug_srs_upnode", FLAG, True, alias="debug_srs_upnode", reload="cluster"),
    Row("vhost.cluster.origin_cluster", FLAG, False, reload="cluster"),
    Row("vhost.cluster.coworkers", STRS, (), reload="cluster"),
    block("vhost.play", flat=True),
    Row("vhost.play.gop_cache", FLAG, True, alias="gop_cache", reload="gop_cache", source="gop_cache"),
    # SRS 5: the gop cache holds at most this many messages (0: no bound); more clears it (a long or no GOP
    # would otherwise grow it without bound)
    Row("vhost.play.gop_cache_max_frames", COUNT, 2500, reload="gop_cache", source="gop_cache_max_frames"),
    Row("vhost.play.queue_length", SECONDS, 30.0, alias="queue_length", reload="queue_length",
        source="queue_length_s"),
    Row("vhost.play.time_jitter", TIME_JITTER, "full", alias="time_jitter", reload="time_jitter",
        source="time_jitter"),
    Row("vhost.play.mix_correct", FLAG, False, alias="mix_correct", reload="mix_correct", source="mix_correct"),
    Row("vhost.play.atc", FLAG, False, alias="atc", reload="atc", source="atc"),
    # H17: metadata bravo_atc="true" switches atc on
    Row("vhost.play.atc_auto", FLAG, False, alias="atc_auto", reload="play", source="atc_auto"),
    Row("vhost.play.mw_latency", COUNT, MW_SLEEP_MS, alias="mw_latency", reload="mw_latency",
        source="mw_latency_ms"),
    Row("vhost.play.send_min_interval", MS_FLOAT, 0.0, alias="send_min_interval", reload="send_min_interval",
        source="send_min_interval_ms"),
    Row("vhost.play.reduce_sequence_header", FLAG, False, alias="reduce_sequence_header", reload="play",
        source="reduce_sequence_header"),
    block("vhost.publish", flat=True),
    Row("vhost.publish.mr", FLAG, False, field="mr_enabled", alias="mr.enabled", reload="mr"),
    Row("vhost.publish.mr_latency", COUNT, MR_SLEEP_MS, alias="mr.latency", reload="mr"),
    Row("vhost.publish.firstpkt_timeout", COUNT, 20000, field="publish_1stpkt_timeout",
        alias="publish_1stpkt_timeout", reload="publish"),
    Row("vhost.publish.normal_timeout", COUNT, 5000, field="publish_normal_timeout", alias="publish_normal_timeout",
        reload="publish"),
    Row("vhost.publish.parse_sps", FLAG, True, reload="publish"),
    # SRS 5: disconnect a publisher nobody has played for this many seconds (0: never); app/live/idle.py
    Row("vhost.publish.kickoff_for_idle", SECONDS, 0.0, reload="publish"),
    Row("vhost.min_latency", FLAG, False, reload="min_latency", source="min_latency"),
    Row("vhost.tcp_nodelay", FLAG, False, reload="tcp_nodelay"),
    Row("vhost.in_ack_size", COUNT, 0, reload="ack_size"),
    Row("vhost.out_ack_size", COUNT, 2500000, reload="ack_size"),

    # the view's refer is None unless enabled; 2.0's refer/refer_publish/refer_play turn it on
    block("vhost.refer", default=None, custom=True, reload="refer", env=False),
    Row("vhost.refer.enabled", FLAG, False),
    Row("vhost.refer.all", STRS, (), alias="refer"),
    Row("vhost.refer.publish", STRS, (), alias="refer_publish"),
    Row("vhost.refer.play", STRS, (), alias="refer_play"),
    # the view holds the (host, port) of each destination while enabled; 2.0's flat forward turns it on
    block("vhost.forward", default=(), field="forward_destinations", custom=True, reload="forward", env=False),
    Row("vhost.forward.enabled", FLAG, False),
    Row("vhost.forward.destination", STRS, (), alias="forward"),
    # SRS 5's dynamic forward: POST on_forward to this URL at each publish, forward to the urls it answers
    # (the view's forward_destinations.backend, "" unless enabled; app/cluster/forward.py)
    Row("vhost.forward.backend", STR, ""),
    block("vhost.security", reload="security", env=False),
    Row("vhost.security.enabled", FLAG, False),
    # allow|deny publish|play all|ip|cidr, in file order: ((action, method, target), ...)
    Row("vhost.security.allow", STRS, (), field="rules", custom=True),
    Row("vhost.security.deny", STRS, (), field="rules", custom=True),

    block("vhost.hls", reload="hls"),
    Row("vhost.hls.enabled", FLAG, False),
    Row("vhost.hls.hls_fragment", PERIOD, 10.0),
    Row("vhost.hls.hls_td_ratio", RATIO, 1.5),
    Row("vhost.hls.hls_aof_ratio", RATIO, 2.0),
    Row("vhost.hls.hls_window", SECONDS, 60.0),
    Row("vhost.hls.hls_on_error", Choice("ignore", "disconnect", "continue"), "continue"),
    Row("vhost.hls.hls_path", STR, DEFAULT_HTML_DIR),
    Row("vhost.hls.hls_m3u8_file", STR, "[app]/[stream].m3u8"),
    Row("vhost.hls.hls_ts_file", STR, "[app]/[stream]-[seq].ts"),
    # HLS in fMP4 (CMAF): SRS's spelling (PR #4159); the init is <hls_fmp4_file, [seq] -> init<n>>.mp4
    Row("vhost.hls.hls_use_fmp4", FLAG, False),
    Row("vhost.hls.hls_fmp4_file", STR, "[app]/[stream]-[seq].m4s"),
    # LL-HLS (ours: no SRS release names it): partial segments of hls_part seconds on the fMP4 path,
    # blocking reload and delta updates (app/hls/ll.py)
    Row("vhost.hls.hls_ll", FLAG, False),
    Row("vhost.hls.hls_part", Number(False, 0.05, 10.0), 0.333),
    Row("vhost.hls.hls_ts_floor", FLAG, False),
    Row("vhost.hls.hls_entry_prefix", STR, ""),
    Row("vhost.hls.hls_acodec", Choice("aac", "mp3", "an"), "aac"),
    Row("vhost.hls.hls_vcodec", Choice("h264", "vn"), "h264"),
    Row("vhost.hls.hls_cleanup", FLAG, True),
    Row("vhost.hls.hls_dispose", SECONDS, 0.0),
    Row("vhost.hls.hls_nb_notify", COUNT, 64),
    # SRS 5: an HLS player is a session (client, on_play/on_stop) via ?hls_ctx= (app/hls/ctx.py), on by
    # default as in SRS 5: a first .m3u8 request is answered with a one-variant master naming the session
    Row("vhost.hls.hls_ctx", FLAG, True),
    Row("vhost.hls.hls_ts_ctx", FLAG, True),
    Row("vhost.hls.hls_wait_keyframe", FLAG, True),
    Row("vhost.hls.hls_keys", FLAG, False),
    Row("vhost.hls.hls_fragments_per_key", POSITIVE, 5),
    Row("vhost.hls.hls_key_file", STR, "[app]/[stream]-[seq].key"),
    Row("vhost.hls.hls_key_file_path", STR, Ref("hls_path")),
    Row("vhost.hls.hls_key_url", STR, ""),
    Row("vhost.hls.hls_dts_directly", FLAG, True),
    Row("vhost.hls.hls_storage", STR, ignored="removed"),
    Row("vhost.hls.hls_mount", STR, ignored="removed"),

    block("vhost.hds", reload="hds"),
    Row("vhost.hds.enabled", FLAG, False),
    Row("vhost.hds.hds_fragment", PERIOD, 10.0),
    Row("vhost.hds.hds_window", SECONDS, 60.0),
    Row("vhost.hds.hds_path", STR, DEFAULT_HTML_DIR),

    block("vhost.dvr", reload="dvr"),
    Row("vhost.dvr.enabled", FLAG, False),
    Row("vhost.dvr.dvr_plan", Choice("session", "segment", "append"), "session", field="plan"),
    Row("vhost.dvr.dvr_path", STR, DEFAULT_HTML_DIR + "/[app]/[stream].[timestamp].flv", field="path"),
    Row("vhost.dvr.dvr_duration", SECONDS, 30.0, field="duration"),
    Row("vhost.dvr.dvr_wait_keyframe", FLAG, True, field="wait_keyframe"),
    Row("vhost.dvr.time_jitter", TIME_JITTER, "full"),
    Row("vhost.dvr.dvr_apply", STRS, ("all",), field="apply"),

    # callback URLs per event (tuples, possibly empty); they apply only when enabled
    block("vhost.http_hooks", reload="http_hooks"),
    Row("vhost.http_hooks.enabled", FLAG, False),
    Row("vhost.http_hooks.on_connect", STRS, ()),
    Row("vhost.http_hooks.on_close", STRS, ()),
    Row("vhost.http_hooks.on_publish", STRS, ()),
    Row("vhost.http_hooks.on_unpublish", STRS, ()),
    Row("vhost.http_hooks.on_play", STRS, ()),
    Row("vhost.http_hooks.on_stop", STRS, ()),
    Row("vhost.http_hooks.on_dvr", STRS, ()),
    Row("vhost.http_hooks.on_hls", STRS, ()),
    Row("vhost.http_hooks.on_hls_notify", STRS, ()),

    block("vhost.exec", reload="exec", env=False),
    Row("vhost.exec.enabled", FLAG, False),
    Row("vhost.exec.publish", STRS, (), custom=True),  # one argv tuple per `publish` directive

    block("vhost.dash", reload="dash"),
    Row("vhost.dash.enabled", FLAG, False),
    # SRS 5's code defaults (its conf comments still say SRS 4's 30 s / 150 s)
    Row("vhost.dash.dash_fragment", PERIOD, 10.0),
    Row("vhost.dash.dash_update_period", PERIOD, 5.0),
    Row("vhost.dash.dash_timeshift", SECONDS, 300.0),   # read, unused: the 5.0+ MPD's depth follows the window
    Row("vhost.dash.dash_path", STR, DEFAULT_HTML_DIR),
    Row("vhost.dash.dash_mpd_file", STR, "[app]/[stream].mpd"),
    Row("vhost.dash.dash_window_size", POSITIVE, 5),
    Row("vhost.dash.dash_cleanup", FLAG, True),
    Row("vhost.dash.dash_dispose", SECONDS, 0.0),

    block("vhost.http_static", alias="http", reload="http_static"),
    Row("vhost.http_static.enabled", FLAG, False),
    Row("vhost.http_static.mount", STR, "[vhost]/"),
    Row("vhost.http_static.dir", STR, DEFAULT_HTML_DIR),

    block("vhost.http_remux", reload="http_remux"),
    Row("vhost.http_remux.enabled", FLAG, False),
    Row("vhost.http_remux.fast_cache", SECONDS, 0.0),
    Row("vhost.http_remux.mount", STR, "[vhost]/[app]/[stream].flv"),
    Row("vhost.http_remux.hstrs", FLAG, True),
    # SRS 5: the FLV header's audio/video flags; guess_has_av sets them from what the stream has (its
    # sequence headers and gop cache) when the player comes (app/http/stream.py flv_av_flags)
    Row("vhost.http_remux.has_audio", FLAG, True),
    Row("vhost.http_remux.has_video", FLAG, True),
    Row("vhost.http_remux.guess_has_av", FLAG, True),
    # SRS 5: an FLV player gets no tags of a track its header did not announce
    Row("vhost.http_remux.drop_if_not_match", FLAG, True),

    block("vhost.bandcheck", reload="bandcheck", env=False),
    Row("vhost.bandcheck.enabled", FLAG, False),
    Row("vhost.bandcheck.key", STR, ""),
    Row("vhost.bandcheck.interval", SECONDS, 30.0),
    Row("vhost.bandcheck.limit_kbps", COUNT, 1000),

    block("vhost.transcode", field="transcodes", many=True, args=(0, 1), reload="transcode", env=False),
    Row("vhost.transcode.enabled", FLAG, False),
    Row("vhost.transcode.ffmpeg", STR, ""),
) + prefixed("vhost.transcode", _ENGINE) + (
    # SRS takes `ingest {` without an id (demo.conf, ingest.rtsp.conf): its id is then ""
    block("vhost.ingest", field="ingests", many=True, args=(0, 1), reload="ingest", env=False),
    Row("vhost.ingest.enabled", FLAG, False),
    block("vhost.ingest.input", flat=True),
    Row("vhost.ingest.input.type", Choice("file", "stream"), "file", field="input_type"),
    Row("vhost.ingest.input.url", STR, "", field="input_url"),
    Row("vhost.ingest.ffmpeg", STR, ""),
) + prefixed("vhost.ingest", _ENGINE)
