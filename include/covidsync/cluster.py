"""``make cluster`` / ``make cluster-stop``: a real multi-process Airflow deployment on the CeleryExecutor.

Started from the project's own environment (``.venv``, :func:`covidsync.airflow_env.environ`), on one
machine, the same processes the compose file runs in containers:

* Airflow's metadata database: PostgreSQL, a database ``airflow`` of its own on the warehouse's server
  (the embedded one by default), or ``COVIDSYNC_AIRFLOW_DB_URL``; also the Celery result backend;
* Redis as the Celery broker (``redis-server``, Debian's package ``redis-server``), on 127.0.0.1
  ``COVIDSYNC_REDIS_PORT`` (default 6379);
* ``airflow scheduler``, ``airflow dag-processor``, ``airflow triggerer``, ``airflow api-server`` (UI and
  API on ``COVIDSYNC_AIRFLOW_PORT``, default 8080);
* ``COVIDSYNC_CLUSTER_WORKERS`` (default 2) ``airflow celery worker`` processes, each with its own task
  log folder and its own log server (Airflow's, bound to a loopback address of its own, 127.0.0.2, .3, ...,
  which is also the worker's host name), so the UI fetches a task's log from the worker that ran it.

The executor settings, queues and pools come from ``deploy/cluster.env``, the file ``docker-compose.yml``
reads too (:func:`shared_settings`). Every process runs in a session of its own; its pid is kept in
``<cluster home>/run/<name>.pid`` and ``stop`` ends each by that pid (SIGTERM, then SIGKILL of its process
group after a grace period), so nothing is left behind. Process output: ``<cluster home>/proc-logs/``.

Run as ``python -m covidsync.cluster start|stop|status|restart <name>|pools|env``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from covidsync import settings
from covidsync.errors import CovidsyncError

POOL_WAREHOUSE = "covidsync_warehouse"
POOL_LONG = "covidsync_long"
QUEUE_DEFAULT = "default"
QUEUE_LONG = "long"
# Tasks that run long and must not wait behind a national day's files: their own queue and pool.
LONG_TASKS = frozenset(
    {
        ("build_health_status", "build_status"),
        ("publish_shared_datasets", "publish"),
    }
)
LONG_PRIORITY = 100
METADATA_DATABASE = "airflow"
WORKER_LOOPBACK_BASE = 2  # worker N serves its logs on 127.0.0.(N+1)
STOP_GRACE_SECONDS = 20


class ClusterError(CovidsyncError):
    pass


# --- the one source of truth: deploy/cluster.env --------------------------------------------------------
def shared_settings_file() -> Path:
    return settings.home() / "deploy" / "cluster.env"


def shared_settings(path: Path | None = None) -> dict[str, str]:
    """The KEY=VALUE lines of ``deploy/cluster.env`` (comments and blank lines skipped)."""
    path = path or shared_settings_file()
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ClusterError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        values[key.strip()] = value.strip()
    return values


def worker_queues(values: dict[str, str] | None = None) -> list[str]:
    values = values if values is not None else shared_settings()
    return [q for q in values["COVIDSYNC_WORKER_QUEUES"].split(",") if q]


def assignment(dag_id: str, task_id: str, mapped: bool) -> dict:
    """Queue, pool and priority of a task on the Celery cluster (applied by ``covidsync.cluster_policy``).

    * the status build and the publish: queue ``long``, pool ``covidsync_long``, high priority;
    * the mapped per-file tasks of the ingest DAGs: pool ``covidsync_warehouse`` (sized from the warehouse's
      ``max_connections``), queue ``default``;
    * everything else: Airflow's defaults (queue ``default``, pool ``default_pool``).
    """
    if (dag_id, task_id) in LONG_TASKS:
        return {"queue": QUEUE_LONG, "pool": POOL_LONG, "priority_weight": LONG_PRIORITY}
    if mapped and dag_id.startswith("ingest_"):
        return {"queue": QUEUE_DEFAULT, "pool": POOL_WAREHOUSE}
    return {}


def warehouse_pool_slots(max_connections: int, superuser_reserved: int, values: dict[str, str]) -> int:
    reserved = int(values["COVIDSYNC_POOL_WAREHOUSE_RESERVED_CONNECTIONS"])
    per_task = int(values["COVIDSYNC_POOL_WAREHOUSE_CONNECTIONS_PER_TASK"])
    return max(1, (max_connections - superuser_reserved - reserved) // per_task)


def pools(warehouse_url: str, values: dict[str, str] | None = None) -> dict[str, dict]:
    """The pools, with the warehouse pool sized from the warehouse's ``max_connections``."""
    from covidsync import db

    values = values if values is not None else shared_settings()
    conn = db.connect(warehouse_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select current_setting('max_connections')::int,"
                " current_setting('superuser_reserved_connections')::int"
            )
            max_connections, reserved = cur.fetchone()
    finally:
        conn.close()
    slots = warehouse_pool_slots(max_connections, reserved, values)
    return {
        POOL_WAREHOUSE: {
            "slots": slots,
            "description": f"per-file ingest tasks; sized from the warehouse's max_connections={max_connections}",
            "include_deferred": False,
        },
        POOL_LONG: {
            "slots": int(values["COVIDSYNC_POOL_LONG_SLOTS"]),
            "description": "long tasks (status build, publish), never taken by per-file tasks",
            "include_deferred": False,
        },
    }


def hostname() -> str:
    """Airflow's ``[core] hostname_callable`` on the cluster: the worker's own loopback address."""
    return os.environ.get("COVIDSYNC_CLUSTER_HOSTNAME") or socket.getfqdn()


# --- where things are ----------------------------------------------------------------------------------
def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name) or str(default)
    try:
        return int(value)
    except ValueError as exc:
        raise ClusterError(f"{name} must be a number, not {value!r}") from exc


@dataclass
class Layout:
    home: Path
    api_port: int
    redis_port: int
    log_port: int
    workers: int
    concurrency: int | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def default(cls) -> Layout:
        home = os.environ.get("COVIDSYNC_CLUSTER_HOME")
        from covidsync import airflow_env

        api_port = (
            airflow_env.port()
            if hasattr(airflow_env, "port")
            else _int_env("COVIDSYNC_AIRFLOW_PORT", _int_env("AIRFLOW__API__PORT", 8080))
        )
        return cls(
            home=Path(home).resolve() if home else settings.airflow_home() / "cluster",
            api_port=api_port,
            redis_port=_int_env("COVIDSYNC_REDIS_PORT", 6379),
            log_port=_int_env("COVIDSYNC_WORKER_LOG_PORT", 8793),
            workers=_int_env("COVIDSYNC_CLUSTER_WORKERS", 2),
        )

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def proc_logs(self) -> Path:
        return self.home / "proc-logs"

    def pidfile(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def worker_log_folder(self, n: int) -> Path:
        return self.home / "workers" / f"worker-{n}" / "logs"

    def worker_address(self, n: int) -> str:
        return f"127.0.0.{n + WORKER_LOOPBACK_BASE - 1}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def broker_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"


def _secrets(layout: Layout) -> dict[str, str]:
    """Keys every process must share (signing of task and log-server tokens, connection encryption)."""
    path = layout.home / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    from cryptography.fernet import Fernet

    values = {
        "fernet_key": Fernet.generate_key().decode(),
        "jwt_secret": secrets.token_urlsafe(32),
        "api_secret_key": secrets.token_urlsafe(32),
    }
    layout.home.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(values, out)
    return values


def metadata_url(warehouse_url: str) -> str:
    """Airflow's metadata database: ``COVIDSYNC_AIRFLOW_DB_URL``, else a database ``airflow`` created on the
    warehouse's server (the embedded one by default)."""
    from sqlalchemy.engine import make_url

    configured = os.environ.get("COVIDSYNC_AIRFLOW_DB_URL")
    if configured:
        url = make_url(configured)
    else:
        from covidsync.warehouse import ensure_database

        base = make_url(warehouse_url)
        ensure_database(
            base.set(database="postgres").render_as_string(hide_password=False), METADATA_DATABASE
        )
        url = base.set(database=METADATA_DATABASE)
    return url.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def environ(layout: Layout, warehouse_url: str, meta_url: str) -> dict[str, str]:
    """The environment shared by every process of the cluster (a worker adds its own few variables)."""
    from covidsync import airflow_env

    keys = _secrets(layout)
    base = dict(os.environ)
    shared = shared_settings()
    for key, value in shared.items():
        base.setdefault(key, value)
    result_backend = "db+" + meta_url.replace("postgresql+psycopg2://", "postgresql://", 1)
    cluster = {
        "AIRFLOW_HOME": str(layout.home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta_url,
        "AIRFLOW__CELERY__BROKER_URL": layout.broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
        "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": keys["api_secret_key"],
        "AIRFLOW__API__PORT": str(layout.api_port),
        "COVIDSYNC_AIRFLOW_PORT": str(layout.api_port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{layout.api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{layout.api_url}/execution/",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "covidsync.cluster.hostname",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(layout.home / "logs"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(layout.log_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(layout.log_port + 1),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "COVIDSYNC_CLUSTER_HOSTNAME": "127.0.0.1",
    }
    for key, value in cluster.items():
        base.setdefault(key, value)
    # these must be the cluster's even when a caller's shell exported its own (e.g. `make airflow`'s)
    for key in ("AIRFLOW_HOME", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL"):
        base[key] = cluster[key]
    scripts = str(Path(sys.executable).parent)
    if scripts not in base.get("PATH", "").split(os.pathsep):
        base["PATH"] = scripts + os.pathsep + base.get("PATH", "")
    base.update(layout.extra_env)
    return airflow_env.environ(warehouse_url, base=base)


# --- processes -----------------------------------------------------------------------------------------
def _airflow() -> str:
    candidate = Path(sys.executable).with_name("airflow")
    return str(candidate) if candidate.exists() else "airflow"


def redis_server() -> str:
    for candidate in (os.environ.get("COVIDSYNC_REDIS_SERVER"), "redis-server", "/usr/bin/redis-server"):
        if not candidate:
            continue
        if os.path.isabs(candidate) and os.access(candidate, os.X_OK):
            return candidate
        found = __import__("shutil").which(candidate)
        if found:
            return found
    raise ClusterError(
        "redis-server is not installed: `apt-get install redis-server` (Debian/Ubuntu), "
        "`brew install redis` (macOS), or set COVIDSYNC_REDIS_SERVER to its path"
    )


@dataclass
class Component:
    name: str
    argv: list[str]
    env: dict[str, str]
    ready: str  # "port:<host>:<port>", "log:<text>"


def components(layout: Layout, env: dict[str, str]) -> list[Component]:
    queues = env.get("COVIDSYNC_WORKER_QUEUES") or ",".join(worker_queues())
    (layout.home / "redis").mkdir(parents=True, exist_ok=True)
    result = [
        Component(
            "redis",
            [
                redis_server(),
                "--port",
                str(layout.redis_port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(layout.home / "redis"),
                "--save",
                "",
                # the queued task messages survive a restart of the broker (written each second)
                "--appendonly",
                "yes",
            ],
            env,
            f"port:127.0.0.1:{layout.redis_port}",
        ),
        Component("scheduler", [_airflow(), "scheduler"], env, "log:"),
        Component("dag-processor", [_airflow(), "dag-processor"], env, "log:"),
        Component("triggerer", [_airflow(), "triggerer"], env, "log:"),
        Component(
            "api-server",
            [
                _airflow(),
                "api-server",
                "--port",
                str(layout.api_port),
                "--host",
                "127.0.0.1",
                "--workers",
                "1",
            ],
            env,
            f"port:127.0.0.1:{layout.api_port}",
        ),
    ]
    for n in range(1, layout.workers + 1):
        address = layout.worker_address(n)
        folder = layout.worker_log_folder(n)
        folder.mkdir(parents=True, exist_ok=True)
        worker_env = dict(
            env,
            COVIDSYNC_CLUSTER_HOSTNAME=address,
            AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(folder),
        )
        concurrency = layout.concurrency or int(env.get("AIRFLOW__CELERY__WORKER_CONCURRENCY", "4"))
        result.append(
            Component(
                f"worker-{n}",
                [
                    _airflow(),
                    "celery",
                    "worker",
                    "--celery-hostname",
                    f"worker-{n}@%h",
                    "--queues",
                    queues,
                    "--concurrency",
                    str(concurrency),
                    "--skip-serve-logs",
                ],
                worker_env,
                f"log:worker-{n}@",
            )
        )
        # Airflow's own log server for this worker's folder, on the worker's address (the UI asks
        # http://<task's hostname>:<worker_log_server_port>/log/...).
        result.append(
            Component(
                f"worker-{n}-logs",
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "airflow.utils.serve_logs.log_server:get_app",
                    "--host",
                    address,
                    "--port",
                    str(layout.log_port),
                    "--no-access-log",
                ],
                worker_env,
                f"port:{address}:{layout.log_port}",
            )
        )
    return result


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _proc_start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _read_pid(path: Path) -> tuple[int, str | None] | None:
    try:
        data = json.loads(path.read_text())
        return int(data["pid"]), data.get("start")
    except (OSError, ValueError, KeyError):
        return None


def running_pid(layout: Layout, name: str) -> int | None:
    """The pid of the component ``name`` if the process we started is still alive (not a reused pid)."""
    found = _read_pid(layout.pidfile(name))
    if not found:
        return None
    pid, start = found
    now = _proc_start_time(pid)
    if now is None or (start is not None and now != start):
        return None
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/status").read_text().find("State:\tZ") >= 0:
            return None
    return pid


RESTART_DELAY_SECONDS = 5


def supervise(argv: list[str]) -> int:
    """Run ``argv``, and run it again whenever it exits, until this process gets SIGTERM/SIGINT (which it
    passes on): Compose's ``restart: always`` for ``make cluster``. A scheduler that exits because the
    metadata database went away comes back when the database does."""
    child: subprocess.Popen | None = None
    stopping = False

    def forward(signum, _frame):
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        child = subprocess.Popen(argv)
        code = child.wait()
        if stopping:
            return code
        print(
            f"covidsync.cluster: {' '.join(argv[1:3])} exited with {code}; restarting in {RESTART_DELAY_SECONDS} s",
            flush=True,
        )
        for _ in range(RESTART_DELAY_SECONDS * 10):
            if stopping:
                return code
            time.sleep(0.1)


def spawn(layout: Layout, comp: Component) -> int:
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    layout.proc_logs.mkdir(parents=True, exist_ok=True)
    log = layout.proc_logs / f"{comp.name}.log"
    with log.open("ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(comp.argv)}\n".encode())
        out.flush()
        argv = comp.argv
        if comp.name != "redis":  # restarted when it exits, like `restart: always` in compose
            argv = [sys.executable, "-m", "covidsync.cluster", "supervise", "--", *comp.argv]
        proc = subprocess.Popen(
            argv,
            env=comp.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=str(settings.home()),
            start_new_session=True,  # its own process group: stopped as one by its pid
        )
    layout.pidfile(comp.name).write_text(json.dumps({"pid": proc.pid, "start": _proc_start_time(proc.pid)}))
    return proc.pid


def _log_offset(layout: Layout, name: str) -> int:
    path = layout.proc_logs / f"{name}.log"
    return path.stat().st_size if path.exists() else 0


def wait_ready(layout: Layout, comp: Component, offset: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    kind, _, arg = comp.ready.partition(":")
    log = layout.proc_logs / f"{comp.name}.log"
    while True:
        if running_pid(layout, comp.name) is None:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise ClusterError(f"{comp.name} exited while starting; its output ({log}):\n{tail}")
        if kind == "port":
            host, _, port = arg.rpartition(":")
            if _port_open(host, int(port)):
                return
        elif kind == "log":
            if not arg:
                return
            with log.open("rb") as f:
                f.seek(offset)
                text = f.read().decode(errors="replace")
            if arg in text and " ready." in text:
                return
        if time.monotonic() > deadline:
            raise ClusterError(f"{comp.name} did not become ready within {timeout:.0f} s; see {log}")
        time.sleep(0.5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_component(
    layout: Layout, name: str, sig: int = signal.SIGTERM, grace: float = STOP_GRACE_SECONDS
) -> bool:
    """Stop the component by its pid: ``sig`` to the process, then SIGKILL to its group after ``grace``."""
    pidfile = layout.pidfile(name)
    pid = running_pid(layout, name)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _group_alive(pid):
        _reap(pid)
        time.sleep(0.2)
    if _group_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _group_alive(pid):
            _reap(pid)
            time.sleep(0.1)
    _reap(pid)
    pidfile.unlink(missing_ok=True)
    return True


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``: Airflow puts each task runner in a process group of its own, so the
    worker's group alone does not reach them."""
    import psutil

    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _any_alive(pids: list[int]) -> bool:
    import psutil

    for pid in pids:
        with contextlib.suppress(psutil.Error):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return True
    return False


def kill_component(layout: Layout, name: str) -> int:
    """SIGKILL the component and every process below it at once (a machine lost); returns its pid."""
    pid = running_pid(layout, name)
    if pid is None:
        raise ClusterError(f"{name} is not running")
    tree = [pid, *descendants(pid)]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    _kill_all(tree)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (_group_alive(pid) or _any_alive(tree)):
        _reap(pid)
        time.sleep(0.1)
    _reap(pid)
    layout.pidfile(name).unlink(missing_ok=True)
    return pid


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


# --- the cluster as a whole ----------------------------------------------------------------------------
def init_metadata(env: dict[str, str], layout: Layout, pool_file: Path) -> None:
    """Migrate the metadata database and set the pools, in one Airflow process (``airflow db migrate`` and
    ``airflow pools import`` would start two)."""
    _run(
        env,
        layout,
        "init-metadata",
        [sys.executable, "-m", "covidsync.cluster", "init-metadata", str(pool_file)],
    )


def _run(env: dict[str, str], layout: Layout, name: str, argv: list[str]) -> None:
    layout.proc_logs.mkdir(parents=True, exist_ok=True)
    log = layout.proc_logs / f"{name}.log"
    with log.open("w") as out:
        code = subprocess.run(argv, env=env, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    if code != 0:
        raise ClusterError(f"`{' '.join(argv)}` failed; its output:\n{log.read_text()[-3000:]}")


def _init_metadata_here(pool_file: Path) -> None:
    """(in the subprocess, with the cluster's environment) migrate, then create or update the pools."""
    from airflow.utils import db as airflow_db

    airflow_db.upgradedb()
    set_pools(json.loads(pool_file.read_text()))


def set_pools(specs: dict[str, dict]) -> None:
    """Create or update the pools in Airflow's metadata database (this process's Airflow configuration)."""
    from airflow.models.pool import Pool

    for name, spec in specs.items():
        Pool.create_or_update_pool(
            name=name,
            slots=spec["slots"],
            description=spec["description"],
            include_deferred=spec["include_deferred"],
        )


def prepare(layout: Layout) -> tuple[dict[str, str], str]:
    """Warehouse up and migrated, metadata database migrated, pools set; returns (environment, warehouse URL)."""
    from covidsync import db, warehouse

    warehouse_url = warehouse.resolve_url(start=True)
    db.upgrade(warehouse_url)
    meta = metadata_url(warehouse_url)
    env = environ(layout, warehouse_url, meta)
    (layout.home / "logs").mkdir(parents=True, exist_ok=True)
    pool_file = layout.home / "pools.json"
    pool_file.write_text(json.dumps(pools(warehouse_url), indent=2))
    init_metadata(env, layout, pool_file)
    return env, warehouse_url


def start(layout: Layout | None = None, *, quiet: bool = False) -> dict:
    """Start every process; return when the API server reports all healthy and every worker is ready."""
    layout = layout or Layout.default()
    say = (lambda *_: None) if quiet else (lambda msg: print(msg, flush=True))
    running = [name for name in _known(layout) if running_pid(layout, name)]
    if running:
        raise ClusterError(
            f"the cluster is already running ({', '.join(running)}); `make cluster-stop` first"
        )
    for port, what in (
        (layout.api_port, "COVIDSYNC_AIRFLOW_PORT"),
        (layout.redis_port, "COVIDSYNC_REDIS_PORT"),
        (layout.log_port, "COVIDSYNC_WORKER_LOG_PORT"),
    ):
        if _port_open("127.0.0.1", port):
            raise ClusterError(f"port {port} is taken by another program; set {what} to a free port")
    began = time.monotonic()
    env, _ = prepare(layout)
    say(
        f"cluster: metadata database migrated, pools set ({layout.home / 'pools.json'}) in {time.monotonic() - began:.0f} s"
    )
    comps = components(layout, env)
    started = []
    try:
        offsets = {}
        for comp in comps:  # all at once: each Airflow process spends most of its start-up importing
            offsets[comp.name] = _log_offset(layout, comp.name)
            pid = spawn(layout, comp)
            started.append(comp.name)
            say(f"cluster: {comp.name} started (pid {pid})")
        for comp in comps:
            wait_ready(layout, comp, offsets[comp.name])
        wait_healthy(layout)
    except BaseException:
        stop(layout, quiet=True, grace=5)
        raise
    say(f"cluster: healthy {time.monotonic() - began:.0f} s after `start`")
    (layout.home / "cluster.json").write_text(
        json.dumps(
            {
                "api_url": layout.api_url,
                "broker_url": layout.broker_url,
                "workers": layout.workers,
                "components": [c.name for c in comps],
            }
        )
    )
    return {"api_url": layout.api_url, "components": [c.name for c in comps], "env": env}


def health(layout: Layout) -> dict:
    import requests

    response = requests.get(f"{layout.api_url}/api/v2/monitor/health", timeout=5)
    response.raise_for_status()
    return response.json()


def wait_healthy(layout: Layout, timeout: float = 180) -> dict:
    """Until the API server reports the metadata database, scheduler, DAG processor and triggerer healthy."""
    deadline = time.monotonic() + timeout
    last: dict | Exception = {}
    while time.monotonic() < deadline:
        try:
            last = health(layout)
            parts = ("metadatabase", "scheduler", "dag_processor", "triggerer")
            if all((last.get(p) or {}).get("status") == "healthy" for p in parts):
                return last
        except Exception as exc:  # noqa: BLE001 - not up yet; reported at the deadline
            last = exc
        time.sleep(1)
    raise ClusterError(f"the cluster did not report healthy within {timeout:.0f} s: {last}")


def _known(layout: Layout) -> list[str]:
    if not layout.run_dir.exists():
        return []
    return [p.stem for p in layout.run_dir.glob("*.pid")]


def stop(
    layout: Layout | None = None, *, quiet: bool = False, grace: float = STOP_GRACE_SECONDS
) -> list[str]:
    """Stop every process the cluster started, each by its own pid; return the ones that were running.

    SIGTERM to every recorded pid at once (workers finish or hand back their tasks: warm shutdown), then,
    after ``grace`` seconds, SIGKILL to the process group of any that is still there (its pid is the
    group's id: each was started in a session of its own), so no child outlives ``stop``.
    """
    layout = layout or Layout.default()
    pids = {name: running_pid(layout, name) for name in _known(layout)}
    for name, pid in pids.items():
        if pid is None:
            layout.pidfile(name).unlink(missing_ok=True)
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    live = {name: pid for name, pid in pids.items() if pid}
    trees = {name: descendants(pid) for name, pid in live.items()}
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and (
        any(_group_alive(pid) for pid in live.values()) or _any_alive([p for t in trees.values() for p in t])
    ):
        for pid in live.values():
            _reap(pid)
        time.sleep(0.2)
    for name, pid in live.items():
        trees[name] = sorted(set(trees[name]) | set(descendants(pid)))
        if _group_alive(pid) or _any_alive(trees[name]):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            _kill_all(trees[name])  # task runners live in process groups of their own
            if not quiet:
                print(f"cluster: {name} did not stop within {grace:.0f} s: killed", flush=True)
    everything = [p for tree in trees.values() for p in tree]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        any(_group_alive(pid) for pid in live.values()) or _any_alive(everything)
    ):
        for pid in live.values():
            _reap(pid)
        time.sleep(0.1)
    for name, pid in live.items():
        _reap(pid)
        layout.pidfile(name).unlink(missing_ok=True)
        if not quiet:
            print(f"cluster: {name} stopped (pid {pid})", flush=True)
    return sorted(live)


def cluster_environ(layout: Layout | None = None) -> dict[str, str]:
    """The environment of the running cluster's processes (for the airflow command, tests, the bench)."""
    from covidsync import warehouse

    layout = layout or Layout.default()
    url = warehouse.resolve_url(start=True)
    return environ(layout, url, metadata_url(url))


def restart_component(layout: Layout, name: str, env: dict[str, str]) -> int:
    stop_component(layout, name)
    comp = next(c for c in components(layout, env) if c.name == name)
    offset = _log_offset(layout, name)
    pid = spawn(layout, comp)
    wait_ready(layout, comp, offset)
    return pid


def status(layout: Layout | None = None) -> dict[str, int | None]:
    layout = layout or Layout.default()
    return {name: running_pid(layout, name) for name in sorted(_known(layout))}


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m covidsync.cluster", description=__doc__.split("\n")[0])
    parser.add_argument(
        "action",
        choices=[
            "start",
            "stop",
            "status",
            "restart",
            "pools",
            "env",
            "airflow",
            "init-metadata",
            "supervise",
        ],
    )
    parser.add_argument(
        "name", nargs="?", help="for restart: the component (redis, worker-1, scheduler, ...)"
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="for airflow: the airflow command's arguments")
    args = parser.parse_args(argv)
    layout = Layout.default()
    try:
        if args.action == "start":
            info = start(layout)
            password = ""
            pw_file = layout.home / "simple_auth_manager_passwords.json.generated"
            if pw_file.exists():
                password = f" (user admin, password in {pw_file})"
            print(
                f"cluster: running; UI and API on http://localhost:{layout.api_port}{password}\n"
                f"cluster: {layout.workers} Celery workers; process output in {layout.proc_logs}; "
                f"stop with `make cluster-stop`"
            )
            del info
        elif args.action == "stop":
            stopped = stop(layout)
            print("cluster: stopped" if stopped else "cluster: was not running")
        elif args.action == "status":
            states = status(layout)
            for name, pid in states.items():
                print(f"{name:<16} {'running, pid ' + str(pid) if pid else 'stopped'}")
            return 0 if states and all(states.values()) else 1
        elif args.action == "restart":
            if not args.name:
                parser.error("restart needs a component name")
            env = cluster_environ(layout)
            print(f"cluster: {args.name} restarted (pid {restart_component(layout, args.name, env)})")
        elif args.action == "pools":
            # the compose deployment's one-shot: size the pools from its warehouse, set them in Airflow
            from covidsync import warehouse

            specs = pools(warehouse.resolve_url(start=False))
            set_pools(specs)
            for name, spec in specs.items():
                print(f"pool {name}: {spec['slots']} slots ({spec['description']})")
        elif args.action == "supervise":
            rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
            return supervise(([args.name] if args.name and args.name != "--" else []) + rest)
        elif args.action == "init-metadata":
            _init_metadata_here(Path(args.name))
        elif args.action == "airflow":
            # `python -m covidsync.cluster airflow dags list`: the airflow command with the cluster's environment
            env = cluster_environ(layout)
            argv_ = [_airflow(), *([args.name] if args.name else []), *args.rest]
            os.execvpe(argv_[0], argv_, env)
        elif args.action == "env":
            for key, value in sorted(shared_settings().items()):
                print(f"{key}={value}")
    except CovidsyncError as exc:
        print(f"covidsync: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())


# --- the REST API of a running cluster (tests, the bench, operators' scripts) ---------------------------
class Api:
    """A few calls of Airflow 3's REST API (``/api/v2``) as the user ``admin``."""

    def __init__(self, layout: Layout | None = None, password: str | None = None):
        import requests

        self.layout = layout or Layout.default()
        self.base = self.layout.api_url
        self.session = requests.Session()
        if password is None:
            pw_file = self.layout.home / "simple_auth_manager_passwords.json.generated"
            password = json.loads(pw_file.read_text())["admin"]
        response = self.session.post(
            f"{self.base}/auth/token", json={"username": "admin", "password": password}, timeout=30
        )
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def _call(self, method: str, path: str, **kwargs):
        response = self.session.request(method, f"{self.base}/api/v2{path}", timeout=60, **kwargs)
        if response.status_code >= 400:
            raise ClusterError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def unpause(self, dag_id: str, paused: bool = False) -> None:
        self._call("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, logical_date: str, run_id: str | None = None) -> str:
        body = {"logical_date": logical_date, "conf": {}}
        if run_id:
            body["dag_run_id"] = run_id
        return self._call("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 600, poll: float = 2) -> str:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                state = self.run_state(dag_id, run_id)
            except (ClusterError, requests.RequestException):
                state = None  # the API server is briefly without its database: ask again
            if state in ("success", "failed"):
                return state
            time.sleep(poll)
        raise ClusterError(f"run {run_id} of {dag_id} did not finish within {timeout:.0f} s")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})[
            "task_instances"
        ]

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict]:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/tries"
        return self._call("GET", path)["task_instances"]

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """The task log as the UI shows it (the API server reads it from the worker's log server)."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        data = self._call(
            "GET",
            path,
            params={"map_index": map_index, "full_content": "true"},
            headers={"Accept": "application/json"},
        )
        content = data.get("content")
        if isinstance(content, list):
            return "\n".join(
                line.get("event", "") if isinstance(line, dict) else str(line) for line in content
            )
        return str(content)
