"""The team stack on 127.0.0.1: PostgreSQL and an MLflow server with basic auth.

One folder (``.team/`` in the project, git-ignored) holds everything the stack is made of:
the PostgreSQL cluster (databases ``mlflow`` for runs and the registry, ``mlflow_auth`` for
users and permissions, both reachable only by the server's database user, and ``optuna``
for studies, owned by the ``optuna`` role whose password the team shares), the served
artifacts, the basic-auth configuration, the secrets (mode 0600) and one pid file per
process. ``stop`` ends exactly the processes those pid files name.

PostgreSQL refuses to run as root: when started by root, the cluster belongs to an
unprivileged system user (``BEHAVIORLAB_PG_USER``, default ``postgres``, the user Debian's
postgresql package creates) and its commands run through ``runuser``.
"""

import argparse
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from behaviorlab.errors import BehaviorlabError

DB_USER = "behaviorlab"
OPTUNA_USER = "optuna"
PRIVATE_DATABASES = ("mlflow", "mlflow_auth")
ADMIN_USER = "admin"
ADMIN_PASSWORD_ENV = "BEHAVIORLAB_ADMIN_PASSWORD"
PG_USER_ENV = "BEHAVIORLAB_PG_USER"
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
SBIN = ("/usr/sbin", "/sbin")
START_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
AUTH_CACHE_SECONDS = 60


class TeamServerError(BehaviorlabError):
    """The stack could not start or stop (not the user's data): exit status 1."""

    exit_status = 1


@dataclass(frozen=True)
class Stack:
    """Where one team stack lives and listens."""

    folder: Path
    port: int = 5050
    pg_port: int = 5433
    workers: int = 2
    host: str = "127.0.0.1"

    @property
    def pg_dir(self) -> Path:
        return self.folder / "postgres"

    @property
    def data_dir(self) -> Path:
        return self.pg_dir / "data"

    @property
    def mlflow_pid(self) -> Path:
        return self.folder / "mlflow.pid"

    @property
    def tracking_uri(self) -> str:
        return f"http://{self.host}:{self.port}"

    def database_url(self, database: str) -> str:
        """A SQLAlchemy URL of one of the server's own databases, with its password."""
        password = read_secret(self.folder / "db_password")
        return f"postgresql+psycopg2://{DB_USER}:{password}@{self.host}:{self.pg_port}/{database}"

    @property
    def optuna_url(self) -> str:
        """The Optuna storage URL without its password (libpq reads ``PGPASSWORD``), so a
        run's logged config never holds a secret."""
        return f"postgresql+psycopg2://{OPTUNA_USER}@{self.host}:{self.pg_port}/{OPTUNA_USER}"


def find_pg_bin() -> Path | None:
    """The newest PostgreSQL server binaries under /usr/lib/postgresql; None when absent."""
    found = [Path(path) for path in glob.glob(PG_BIN_GLOB) if Path(path, "initdb").exists()]
    return max(found, key=lambda path: int(path.parent.name)) if found else None


def read_secret(path: Path) -> str:
    """A secret the stack wrote on its first start."""
    if not path.exists():
        raise TeamServerError(f"{path} is missing: start the stack first (make server)")
    return path.read_text().strip()


def ensure_secret(path: Path, env_var: str | None = None) -> str:
    """The secret in ``env_var`` or ``path``; a new random one (saved, mode 0600) otherwise."""
    if env_var and os.environ.get(env_var):
        return os.environ[env_var]
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(24)
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    return value


def cluster_owner() -> pwd.struct_passwd | None:
    """The unprivileged user that owns the cluster when root starts it; None otherwise."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get(PG_USER_ENV, "postgres")
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise TeamServerError(
            f"PostgreSQL cannot run as root and there is no user {name!r} to run it: create "
            f"one (useradd --system {name}) or set {PG_USER_ENV}"
        ) from None


def as_owner(command: list[str]) -> list[str]:
    """``command`` run as the cluster's owner."""
    owner = cluster_owner()
    return [find_runuser(), "-u", owner.pw_name, "--", *command] if owner else command


def find_runuser() -> str:
    """util-linux's ``runuser``: on the PATH, or in the sbin folders a user's PATH may
    leave out."""
    found = shutil.which("runuser", path=os.pathsep.join([os.environ.get("PATH", ""), *SBIN]))
    if found is None:
        raise TeamServerError(
            "runuser (util-linux) is needed to run PostgreSQL as its own user and was not "
            f"found on the PATH or in {', '.join(SBIN)}"
        )
    return found


def run_checked(command: list[str], what: str) -> None:
    """Run a command; a failure stops with its output on one line."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = " ".join((done.stderr or done.stdout).split())[-1500:]
        raise TeamServerError(f"{what} failed (exit {done.returncode}): {output}")


def init_cluster(stack: Stack, pg_bin: Path) -> None:
    """Create the cluster once, owned by the unprivileged user, password-only on TCP."""
    if (stack.data_dir / "PG_VERSION").exists():
        return
    stack.pg_dir.mkdir(parents=True, exist_ok=True)
    password_file = stack.pg_dir / "initdb_password"
    password_file.write_text(ensure_secret(stack.folder / "db_password") + "\n")
    owner = cluster_owner()
    if owner:
        for path in (stack.pg_dir, password_file):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    try:
        run_checked(
            as_owner(
                [
                    str(pg_bin / "initdb"),
                    "-D",
                    str(stack.data_dir),
                    "-U",
                    DB_USER,
                    f"--pwfile={password_file}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                ]
            ),
            f"initdb (as {owner.pw_name if owner else 'this user'}; every folder above "
            f"{stack.pg_dir} must be searchable by that user)",
        )
    finally:
        password_file.unlink(missing_ok=True)


def start_postgres(stack: Stack, pg_bin: Path) -> None:
    """Start the cluster on 127.0.0.1 only (no Unix socket) and wait until it accepts."""
    options = f"-c listen_addresses={stack.host} -p {stack.pg_port} -c unix_socket_directories=''"
    run_checked(
        as_owner(
            [
                str(pg_bin / "pg_ctl"),
                "start",
                "-D",
                str(stack.data_dir),
                "-l",
                str(stack.pg_dir / "postgres.log"),
                "-o",
                options,
                "-w",
                "-t",
                str(int(START_TIMEOUT)),
            ]
        ),
        f"PostgreSQL start (see {stack.pg_dir / 'postgres.log'})",
    )


def create_databases(stack: Stack) -> None:
    """Create what does not exist yet: the server's databases, closed to other roles, and
    the ``optuna`` role with its own database."""
    import psycopg2
    from psycopg2 import sql

    connection = psycopg2.connect(
        host=stack.host,
        port=stack.pg_port,
        user=DB_USER,
        password=read_secret(stack.folder / "db_password"),
        dbname="postgres",
    )
    connection.autocommit = True
    optuna_password = ensure_secret(stack.folder / "optuna_password")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolname FROM pg_roles WHERE rolname = %s", (OPTUNA_USER,))
            if cursor.fetchone() is None:
                cursor.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(OPTUNA_USER)),
                    (optuna_password,),
                )
            cursor.execute("SELECT datname FROM pg_database")
            existing = {row[0] for row in cursor.fetchall()}
            for database in PRIVATE_DATABASES:
                if database not in existing:
                    name = sql.Identifier(database)
                    cursor.execute(sql.SQL("CREATE DATABASE {}").format(name))
                    cursor.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(name))
            if OPTUNA_USER not in existing:
                cursor.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(OPTUNA_USER), sql.Identifier(OPTUNA_USER)
                    )
                )
    finally:
        connection.close()


def prepare_optuna_storage(stack: Stack) -> None:
    """Create Optuna's tables once, as the ``optuna`` role: workers starting together on a
    fresh PostgreSQL storage would otherwise race to create them (SQLite storages have a
    lock file for that, a server has none)."""
    import optuna

    password = read_secret(stack.folder / "optuna_password")
    storage = optuna.storages.RDBStorage(
        stack.optuna_url, engine_kwargs={"connect_args": {"password": password}}
    )
    storage.engine.dispose()


def write_auth_config(stack: Stack) -> Path:
    """basic-auth's settings: READ for whoever holds no grant, users kept in PostgreSQL.

    A verified password is remembered for ``AUTH_CACHE_SECONDS`` in each worker: checking
    one costs ~0.1 s of CPU (scrypt) and a training makes hundreds of requests (one per
    artifact file). A password changed through the API takes effect at once on the worker
    that changed it and within that window on the others.
    """
    path = stack.folder / "basic_auth.ini"
    path.touch(mode=0o600)
    path.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {stack.database_url('mlflow_auth')}\n"
        f"admin_username = {ADMIN_USER}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "grant_default_workspace_access = false\n"
        f"auth_cache_ttl_seconds = {AUTH_CACHE_SECONDS}\n"
    )
    return path


def pid_alive(pid_file: Path) -> int | None:
    """The pid a pid file names when that process still runs; None otherwise.

    A server this process started and that has exited is reaped here: until then it is a
    zombie, which ``kill(pid, 0)`` still finds.
    """
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().strip())
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def start_mlflow(stack: Stack) -> subprocess.Popen:
    """``mlflow server --app-name basic-auth`` in its own process group, artifacts served."""
    artifacts = stack.folder / "artifacts"
    artifacts.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "MLFLOW_AUTH_CONFIG_PATH": str(write_auth_config(stack)),
        "MLFLOW_AUTH_ADMIN_PASSWORD": ensure_secret(
            stack.folder / "admin_password", ADMIN_PASSWORD_ENV
        ),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": ensure_secret(stack.folder / "flask_secret"),
        # No GenAI job runner (a job runner and seven huey consumers, each a Python process
        # importing MLflow): nothing here uses it, and a two-core host starts far faster.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        env.pop(key, None)
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [
        str(mlflow),
        "server",
        "--app-name",
        "basic-auth",
        "--host",
        stack.host,
        "--port",
        str(stack.port),
        "--workers",
        str(stack.workers),
        "--uvicorn-opts",
        "--timeout-graceful-shutdown 5",  # stop does not wait on idle client connections
        "--backend-store-uri",
        stack.database_url("mlflow"),
        "--serve-artifacts",
        "--artifacts-destination",
        str(artifacts),
    ]
    with open(stack.folder / "mlflow.log", "ab") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    stack.mlflow_pid.write_text(f"{process.pid}\n")
    return process


def wait_for_mlflow(stack: Stack, process: subprocess.Popen) -> None:
    """Poll the server until it answers; stop with its log's tail if it dies first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (stack.folder / "mlflow.log").read_text(errors="replace")[-1500:]
            raise TeamServerError(f"mlflow server exited ({process.returncode}): {tail}")
        try:
            with urllib.request.urlopen(f"{stack.tracking_uri}/health", timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.5)
    raise TeamServerError(f"mlflow server not answering on {stack.tracking_uri} after 120 s")


def write_env_file(stack: Stack) -> Path:
    """Shell lines that point the apps at this stack (mode 0600: it holds the Optuna
    role's password)."""
    path = stack.folder / "env"
    path.touch(mode=0o600)
    path.write_text(
        f"export MLFLOW_TRACKING_URI={stack.tracking_uri}\n"
        f"export BEHAVIORLAB_OPTUNA_STORAGE={stack.optuna_url}\n"
        f"export PGPASSWORD={read_secret(stack.folder / 'optuna_password')}\n"
    )
    return path


def start(stack: Stack) -> Path:
    """Start PostgreSQL and the MLflow server (each only if not running); return the env file."""
    pg_bin = find_pg_bin()
    if pg_bin is None:
        raise TeamServerError(
            f"no PostgreSQL server binaries under {PG_BIN_GLOB} (apt-get install postgresql-15)"
        )
    stack.folder.mkdir(parents=True, exist_ok=True)
    ensure_secret(stack.folder / "db_password")
    init_cluster(stack, pg_bin)
    if not (stack.data_dir / "postmaster.pid").exists():
        start_postgres(stack, pg_bin)
    create_databases(stack)
    prepare_optuna_storage(stack)
    if pid_alive(stack.mlflow_pid) is None:
        wait_for_mlflow(stack, start_mlflow(stack))
    return write_env_file(stack)


def stop_process_group(pid_file: Path) -> None:
    """SIGTERM the process group a pid file names (the server and its workers), then SIGKILL."""
    pid = pid_alive(pid_file)
    if pid is not None:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while pid_alive(pid_file) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid_file) is not None:
            os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def stop(stack: Stack) -> None:
    """Stop the MLflow server, then PostgreSQL (fast shutdown: sessions end, data kept)."""
    stop_process_group(stack.mlflow_pid)
    pg_bin = find_pg_bin()
    if pg_bin and (stack.data_dir / "postmaster.pid").exists():
        run_checked(
            as_owner([str(pg_bin / "pg_ctl"), "stop", "-D", str(stack.data_dir), "-m", "fast"]),
            "PostgreSQL stop",
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--folder", type=Path, default=Path(".team"))
    parser.add_argument("--port", type=int, default=Stack.port, help="MLflow server port")
    parser.add_argument("--pg-port", type=int, default=Stack.pg_port, help="PostgreSQL port")
    parser.add_argument("--workers", type=int, default=Stack.workers, help="MLflow workers")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """``python -m behaviorlab.team.server start|stop``: what ``make server`` runs."""
    args = parse_args(argv)
    stack = Stack(args.folder.resolve(), args.port, args.pg_port, args.workers)
    try:
        if args.action == "stop":
            stop(stack)
            print(f"team stack in {stack.folder} stopped")
            return
        env_file = start(stack)
    except TeamServerError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(error.exit_status)
    print(f"MLflow with basic auth on {stack.tracking_uri}, PostgreSQL on port {stack.pg_port}")
    print(f"admin password: {stack.folder / 'admin_password'} (or ${ADMIN_PASSWORD_ENV})")
    print(f"point the apps at it: source {env_file}")


if __name__ == "__main__":
    main()
