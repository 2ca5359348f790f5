"""Process and system figures for the HTTP API (SRS's srs_app_utility.cpp samplers).

On Linux the figures come from /proc as SRS reads them (/proc/self/stat, /proc/stat, /proc/meminfo,
/proc/uptime, /proc/net/sockstat) so field names and units match SRS's API; psutil fills in
network and disk counters and stands in where /proc is missing. CPU and I/O rates need two
samples: a ``SystemStats`` keeps the previous one and refreshes it at most once a second, so a
burst of API requests does not turn every rate into 0.
"""
from __future__ import annotations

import ipaddress
import os
import resource
import time

import psutil

# /proc/self/stat fields by man-page name, in order (SRS's SrsProcSelfStat).
SELF_STAT_FIELDS = (
    "pid", "comm", "state", "ppid", "pgrp", "session", "tty_nr", "tpgid", "flags", "minflt", "cminflt",
    "majflt", "cmajflt", "utime", "stime", "cutime", "cstime", "priority", "nice", "num_threads",
    "itrealvalue", "starttime", "vsize", "rss", "rsslim", "startcode", "endcode", "startstack", "kstkesp",
    "kstkeip", "signal", "blocked", "sigignore", "sigcatch", "wchan", "nswap", "cnswap", "exit_signal",
    "processor", "rt_priority", "policy", "delayacct_blkio_ticks", "guest_time", "cguest_time")
SYSTEM_STAT_FIELDS = ("user", "nice", "sys", "idle", "iowait", "irq", "softirq", "steal", "guest")
RUSAGE_FIELDS = ("ru_maxrss", "ru_ixrss", "ru_idrss", "ru_isrss", "ru_minflt", "ru_majflt", "ru_nswap",
                 "ru_inblock", "ru_oublock", "ru_msgsnd", "ru_msgrcv", "ru_nsignals", "ru_nvcsw", "ru_nivcsw")
MIN_SAMPLE_INTERVAL_S = 1.0
USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _now_ms() -> int:
    return int(time.time() * 1000)


def read_self_stat() -> dict | None:
    text = _read("/proc/self/stat")
    if not text:
        return None
    # comm is in parentheses and may itself contain spaces or parentheses
    head, _, rest = text.rpartition(")")
    pid, _, comm = head.partition(" (")
    values = [pid, comm] + rest.split()
    out: dict = {}
    for name, value in zip(SELF_STAT_FIELDS, values):
        out[name] = value if name in ("comm", "state") else int(value)
    for name in SELF_STAT_FIELDS[len(values):]:
        out[name] = 0
    return out


def read_system_stat() -> dict | None:
    text = _read("/proc/stat")
    if not text:
        times = psutil.cpu_times()
        hz = USER_HZ
        return {"user": int(times.user * hz), "nice": int(getattr(times, "nice", 0) * hz),
                "sys": int(times.system * hz), "idle": int(times.idle * hz),
                "iowait": int(getattr(times, "iowait", 0) * hz), "irq": int(getattr(times, "irq", 0) * hz),
                "softirq": int(getattr(times, "softirq", 0) * hz), "steal": int(getattr(times, "steal", 0) * hz),
                "guest": int(getattr(times, "guest", 0) * hz)}
    for line in text.splitlines():
        if line.startswith("cpu "):
            values = [int(v) for v in line.split()[1:]]
            values += [0] * (len(SYSTEM_STAT_FIELDS) - len(values))
            return dict(zip(SYSTEM_STAT_FIELDS, values))
    return None


def read_meminfo() -> dict:
    text = _read("/proc/meminfo")
    raw: dict = {}
    if text:
        for line in text.splitlines():
            name, _, value = line.partition(":")
            parts = value.split()
            if parts and parts[0].isdigit():
                raw[name.strip()] = int(parts[0])  # kB
    else:
        vm, sw = psutil.virtual_memory(), psutil.swap_memory()
        raw = {"MemTotal": vm.total // 1024, "MemFree": vm.free // 1024,
               "Buffers": getattr(vm, "buffers", 0) // 1024, "Cached": getattr(vm, "cached", 0) // 1024,
               "SwapTotal": sw.total // 1024, "SwapFree": sw.free // 1024}
    m = {k: raw.get(k, 0) for k in ("MemTotal", "MemFree", "Buffers", "Cached", "SwapTotal", "SwapFree")}
    m["MemActive"] = m["MemTotal"] - m["MemFree"]
    m["RealInUse"] = m["MemActive"] - m["Buffers"] - m["Cached"]
    m["NotInUse"] = m["MemTotal"] - m["RealInUse"]
    m["percent_ram"] = m["RealInUse"] / m["MemTotal"] if m["MemTotal"] else 0.0
    m["percent_swap"] = (m["SwapTotal"] - m["SwapFree"]) / m["SwapTotal"] if m["SwapTotal"] else 0.0
    return m


def read_sockstat() -> dict:
    """TCP/UDP socket counts for the whole system (SRS's SrsNetworkRtmpServer conn_sys*)."""
    out = {"conn_sys": 0, "conn_sys_et": 0, "conn_sys_tw": 0, "conn_sys_udp": 0}
    text = _read("/proc/net/sockstat") or ""
    for line in text.splitlines():
        parts = line.split()
        fields = dict(zip(parts[1::2], parts[2::2]))
        if parts and parts[0] == "TCP:":
            out["conn_sys"] = int(fields.get("alloc", 0))
            out["conn_sys_et"] = int(fields.get("inuse", 0))
            out["conn_sys_tw"] = int(fields.get("tw", 0))
        elif parts and parts[0] == "UDP:":
            out["conn_sys_udp"] = int(fields.get("inuse", 0))
    return out


def _internet_nics() -> set[str]:
    """Interfaces with a public (global) IPv4 address; the others count as intranet, like SRS."""
    nics = set()
    try:
        for name, addrs in psutil.net_if_addrs().items():
            for a in addrs:
                try:
                    if a.family.name == "AF_INET" and ipaddress.ip_address(a.address).is_global:
                        nics.add(name)
                except ValueError:
                    continue
    except OSError:
        pass
    return nics


class SystemStats:
    """Keeps the previous samples so CPU percentages and disk rates can be computed."""

    def __init__(self):
        self._sample_s = 0.0
        self._self: dict | None = None
        self._sys: dict | None = None
        self._disk = None
        self.self_percent = 0.0
        self.sys_percent = 0.0
        self.disk_read_kbps = 0
        self.disk_write_kbps = 0
        self.disk_busy = 0.0
        self.sample()

    def sample(self) -> None:
        """Refresh the rates if the last sample is old enough."""
        now_s = time.monotonic()
        if self._self is not None and now_s - self._sample_s < MIN_SAMPLE_INTERVAL_S:
            return
        elapsed = now_s - self._sample_s
        cur_self, cur_sys = read_self_stat(), read_system_stat()
        if self._self is not None and cur_self is not None and elapsed > 0:
            ticks = (cur_self["utime"] + cur_self["stime"]) - (self._self["utime"] + self._self["stime"])
            self.self_percent = ticks / USER_HZ / elapsed
        if self._sys is not None and cur_sys is not None:
            total = sum(cur_sys.values()) - sum(self._sys.values())
            if total > 0:
                self.sys_percent = 1 - (cur_sys["idle"] - self._sys["idle"]) / total
        try:
            disk = psutil.disk_io_counters()
        except (OSError, RuntimeError):
            disk = None
        if disk is not None and self._disk is not None and elapsed > 0:
            self.disk_read_kbps = int((disk.read_bytes - self._disk.read_bytes) / 1024 / elapsed)
            self.disk_write_kbps = int((disk.write_bytes - self._disk.write_bytes) / 1024 / elapsed)
            busy_ms = getattr(disk, "busy_time", 0) - getattr(self._disk, "busy_time", 0)
            self.disk_busy = min(1.0, busy_ms / 1000.0 / elapsed)
        self._self, self._sys, self._disk, self._sample_s = cur_self, cur_sys, disk, now_s

    # --- the data objects of each endpoint
    def rusage(self) -> dict:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        out = {"ok": True, "sample_time": _now_ms(), "ru_utime": int(ru.ru_utime), "ru_stime": int(ru.ru_stime)}
        for name in RUSAGE_FIELDS:
            out[name] = int(getattr(ru, name))
        return out

    def self_proc_stats(self) -> dict:
        self.sample()
        stat = read_self_stat()
        if stat is None:  # not Linux: the figures psutil has
            proc = psutil.Process()
            times = proc.cpu_times()
            stat = {name: 0 for name in SELF_STAT_FIELDS}
            stat.update({"pid": proc.pid, "comm": proc.name(), "state": "R", "ppid": proc.ppid(),
                         "utime": int(times.user * USER_HZ), "stime": int(times.system * USER_HZ),
                         "num_threads": proc.num_threads(), "rss": proc.memory_info().rss // 4096,
                         "vsize": proc.memory_info().vms})
        return {"ok": True, "sample_time": _now_ms(), "percent": self.self_percent, **stat}

    def system_proc_stats(self) -> dict:
        self.sample()
        stat = read_system_stat() or {name: 0 for name in SYSTEM_STAT_FIELDS}
        return {"ok": True, "sample_time": _now_ms(), "percent": self.sys_percent, **stat}

    def meminfos(self) -> dict:
        return {"ok": True, "sample_time": _now_ms(), **read_meminfo()}

    def summaries(self, now_ms: int, start_time_ms: int, pid: int, argv: str, cwd: str,
                  srs_recv_bytes: int, srs_send_bytes: int, conn_srs: int, version: str) -> dict:
        """The ``data`` of /api/v1/summaries (also the heartbeat's ``summaries``)."""
        self.sample()
        ru = resource.getrusage(resource.RUSAGE_SELF)
        mem = read_meminfo()
        uptime_text = (_read("/proc/uptime") or "").split()
        if len(uptime_text) >= 2:
            os_uptime, os_idle = float(uptime_text[0]), float(uptime_text[1])
        else:
            os_uptime, os_idle = time.time() - psutil.boot_time(), 0.0
        try:
            load = os.getloadavg()
        except OSError:
            load = (0.0, 0.0, 0.0)
        internet = _internet_nics()
        nr = ns = nri = nsi = 0
        try:
            nics = psutil.net_io_counters(pernic=True)
        except OSError:
            nics = {}
        for name, c in nics.items():
            if name in internet and name != "lo":
                nr, ns = nr + c.bytes_recv, ns + c.bytes_sent
            else:
                nri, nsi = nri + c.bytes_recv, nsi + c.bytes_sent
        sock = read_sockstat()
        stat = read_self_stat() or {}
        return {
            "ok": True, "now_ms": now_ms,
            "self": {
                "version": version, "pid": pid, "ppid": stat.get("ppid", os.getppid()), "argv": argv, "cwd": cwd,
                "mem_kbyte": int(ru.ru_maxrss),
                "mem_percent": ru.ru_maxrss / mem["MemTotal"] if mem["MemTotal"] else 0.0,
                "cpu_percent": self.self_percent,
                "srs_uptime": int(max(0, now_ms - start_time_ms) / 1000),
            },
            "system": {
                "cpu_percent": self.sys_percent, "disk_read_KBps": self.disk_read_kbps,
                "disk_write_KBps": self.disk_write_kbps, "disk_busy_percent": self.disk_busy,
                "mem_ram_kbyte": mem["MemTotal"], "mem_ram_percent": mem["percent_ram"],
                "mem_swap_kbyte": mem["SwapTotal"], "mem_swap_percent": mem["percent_swap"],
                "cpus": psutil.cpu_count() or 1, "cpus_online": len(os.sched_getaffinity(0))
                if hasattr(os, "sched_getaffinity") else (psutil.cpu_count() or 1),
                "uptime": os_uptime, "ilde_time": os_idle,  # SRS's spelling
                "load_1m": load[0], "load_5m": load[1], "load_15m": load[2],
                "net_sample_time": now_ms, "net_recv_bytes": nr, "net_send_bytes": ns,
                "net_recvi_bytes": nri, "net_sendi_bytes": nsi,
                "srs_sample_time": now_ms, "srs_recv_bytes": srs_recv_bytes, "srs_send_bytes": srs_send_bytes,
                "conn_sys": sock["conn_sys"], "conn_sys_et": sock["conn_sys_et"], "conn_sys_tw": sock["conn_sys_tw"],
                "conn_sys_udp": sock["conn_sys_udp"], "conn_srs": conn_srs,
            },
        }

    def process_figures(self) -> dict:
        """For /metrics: cpu seconds, rss bytes, open fds, threads, start time."""
        proc = psutil.Process()
        times = proc.cpu_times()
        out = {"cpu_seconds": times.user + times.system, "rss_bytes": proc.memory_info().rss,
               "threads": proc.num_threads(), "start_time_s": proc.create_time()}
        try:
            out["open_fds"] = proc.num_fds()
        except (AttributeError, OSError):
            out["open_fds"] = 0
        return out
