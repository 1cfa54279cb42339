"""An opt-in TCP listener for the embedded PostgreSQL, for BI tools that cannot use a unix socket (JDBC).

The embedded server listens on its unix socket only, with ``trust``: fine for the pipeline's own processes, but a
BI tool needs TCP and its password must be checked. With ``BATCHSCORE_EMBEDDED_TCP_PORT`` set, the server also
listens on 127.0.0.1 at that port (0: a free one, chosen once and kept in ``$BATCHSCORE_HOME/embedded_tcp_port``),
and every TCP connection authenticates with SCRAM-SHA-256: the BI role logs in with ``BATCHSCORE_BI_PASSWORD``,
roles without a password (the pipeline's superuser) cannot log in over TCP at all.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

HBA_MARK = "# batchscore: TCP connections authenticate with SCRAM (the unix socket stays trust)"
HBA_LINES = (HBA_MARK, "host all all 127.0.0.1/32 scram-sha-256", "host all all ::1/128 scram-sha-256")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def chosen_port(home: Path, wanted: int) -> int:
    """``wanted``, or for 0 the port chosen before (kept in the home), else a free one now (then kept)."""
    if wanted:
        return wanted
    kept = home / "embedded_tcp_port"
    if kept.is_file() and kept.read_text().strip().isdigit():
        return int(kept.read_text().strip())
    port = free_port()
    kept.write_text(str(port))
    return port


def ensure_scram_for_tcp(pgdata: Path) -> bool:
    """Put the SCRAM lines first in ``pg_hba.conf`` (first match wins); True when the file changed."""
    hba = pgdata / "pg_hba.conf"
    text = hba.read_text()
    if HBA_MARK in text:
        return False
    hba.write_text("\n".join(HBA_LINES) + "\n" + text)
    return True


def listens_on(info: Any, port: int) -> bool:
    """Whether a running postmaster (pgserver's PostmasterInfo) listens on 127.0.0.1 at ``port``."""
    return bool(info is not None and info.port == port and (info.hostname or "") in ("127.0.0.1", "localhost"))


def restart_with_tcp(pgdata: Path, socket_dir: Path, port: int, pg_ctl: Any, log: Path) -> None:
    """Restart the server in ``pgdata`` listening on its socket and on 127.0.0.1:``port``."""
    if port_in_use(port):
        raise ConfigError(
            f"BATCHSCORE_EMBEDDED_TCP_PORT {port} is in use by another program: choose another port "
            "(or 0 for a free one)"
        )
    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    pg_ctl(
        ["-w", "-o", "-h 127.0.0.1", "-o", f"-p {port}", "-o", f"-k {socket_dir}", "-l", str(log), "start"],
        pgdata=pgdata,
        user=user,
        timeout=30,
    )
