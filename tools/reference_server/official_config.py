"""The official server's flags and how they become a MetadataStoreServerConfig.

This mirrors ``ml_metadata/metadata_store/metadata_store_server_main.cc``
(identical in 1.14.0, 1.15.0 and 1.16.0): the same flag names, defaults and
checks, and the same choice of connection source. Each function names the
upstream function it stands for. Where upstream ends the process we raise
``Exit`` with what upstream does:

- ``LOG(ERROR)`` then ``return -1`` from ``main``: exit status 255;
- ``CHECK`` failures: glog prints ``Check failed: ...`` and aborts (SIGABRT).
"""

import re
from typing import Dict, Optional, Tuple

from google.protobuf import text_format

from flags import Flag
from ml_metadata.proto import metadata_store_pb2

# What upstream's main() returns on a bad flag: -1, seen by the caller as 255.
EXIT_ERROR = 255
# A failed CHECK aborts the process.
ABORT = "abort"


class Exit(Exception):
    """Ends the process before it listens: `status` is EXIT_ERROR or ABORT."""

    def __init__(self, status, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def check_failed(condition: str, message: str) -> Exit:
    return Exit(ABORT, f"Check failed: {condition} {message}")


SOURCE_TYPES = ("default", "config_file", "mysql", "postgresql")

OFFICIAL_FLAGS = [
    Flag("grpc_port", "int32", 8080, "Port to listen on for gRPC API. (default 8080)"),
    Flag("grpc_channel_arguments", "string", "",
         "A comma separated list of arguments to be passed to the grpc server. "
         "(e.g. grpc.max_connection_age_ms=2000)"),
    Flag("metadata_source_config_type", "string", "default",
         "How to connect: default (config file, else mysql flags, else an "
         "in-memory database), config_file, mysql or postgresql."),
    Flag("metadata_store_server_config_file", "string", "",
         "If non-empty, read an ascii MetadataStoreServerConfig protobuf from "
         "this file (connection, migration options and ssl_config)."),
    Flag("metadata_store_connection_retries", "int32", 5,
         "The max number of retries when connecting to the given metadata source"),
    Flag("mysql_config_host", "string", "", "The mysql hostname to use."),
    Flag("mysql_config_port", "int32", 0, "The mysql port to use."),
    Flag("mysql_config_database", "string", "", "The mysql database to use."),
    Flag("mysql_config_user", "string", "", "The mysql user name to use (Optional parameter)"),
    Flag("mysql_config_password", "string", "", "The mysql user password to use (Optional parameter)"),
    Flag("postgres_config_host", "string", "", "Name of host to connect to."),
    Flag("postgres_config_hostaddr", "string", "", "Numeric IP address of host to connect to."),
    Flag("postgres_config_port", "string", "", "Port number (or socket file name extension)."),
    Flag("postgres_config_user", "string", "", "PostgreSQL user name to connect as."),
    Flag("postgres_config_password", "string", "", "Password, if the server demands one."),
    Flag("postgres_config_passfile", "string", "", "The file used to store passwords."),
    Flag("postgres_config_dbname", "string", "", "The database name."),
    Flag("postgres_config_skip_db_creation", "bool", False,
         "True if skipping database instance creation during initialization."),
    Flag("postgres_config_sslmode", "string", "", "PostgreSQL sslmode (disable, allow, verify-ca, ...)."),
    Flag("postgres_config_sslcert", "string", "", "File name of the client SSL certificate."),
    Flag("postgres_config_sslkey", "string", "", "File name of the client certificate's key."),
    Flag("postgres_config_sslpassword", "string", "", "Password of the key in sslkey."),
    Flag("postgres_config_sslrootcert", "string", "", "File of SSL certificate authority certificate(s)."),
    Flag("enable_database_upgrade", "bool", False,
         "Upgrade the database schema at start-up (mysql and postgresql flags only)."),
    Flag("downgrade_db_schema_version", "int64", -1,
         "Downgrade the database schema to this version at start-up "
         "(mysql and postgresql flags only)."),
]


def parse_server_config_file(filename: str) -> Tuple[Optional[metadata_store_pb2.MetadataStoreServerConfig], Optional[str]]:
    """ParseMetadataStoreServerConfigOrDie: the parsed file, or None when the
    name is empty or the file cannot be opened or parsed (upstream returns
    false then, whatever the reason), with why, for our messages."""
    config = metadata_store_pb2.MetadataStoreServerConfig()
    if not filename:
        return None, "no config file was given"
    try:
        with open(filename, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as err:
        return None, f"cannot read {filename}: {err}"
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as err:
        return None, f"{filename} is not a text-format MetadataStoreServerConfig: {err}"
    return config, None


def _migration_flags(values: Dict[str, object], config) -> None:
    """The migration part shared by the mysql and postgresql flag parsers."""
    upgrade = values["enable_database_upgrade"]
    downgrade = values["downgrade_db_schema_version"]
    if upgrade and downgrade >= 0:
        raise check_failed(
            "!enable_database_upgrade || downgrade_db_schema_version < 0",
            "Both --enable_database_upgraded=true and downgrade_db_schema_version "
            ">= 0 cannot be set together. Only one of the flags needs to be set")
    if upgrade:
        config.migration_options.enable_upgrade_migration = True
    if downgrade >= 0:
        config.migration_options.downgrade_to_schema_version = downgrade


def parse_mysql_flags(values: Dict[str, object], config) -> bool:
    """ParseMySQLFlagsBasedServerConfigOrDie."""
    host, port, database = (values["mysql_config_host"], values["mysql_config_port"],
                            values["mysql_config_database"])
    if not host and not database and port == 0:
        return False
    if not (host and database and port > 0):
        raise check_failed(
            "!host.empty() && !database.empty() && port > 0",
            "To use mysql store, all of --mysql_config_host, --mysql_config_port, "
            "--mysql_config database needs to be provided")
    mysql = config.connection_config.mysql
    mysql.host = host
    mysql.port = port
    mysql.database = database
    mysql.user = values["mysql_config_user"]
    mysql.password = values["mysql_config_password"]
    _migration_flags(values, config)
    return True


def check_postgresql_flags(values: Dict[str, object]) -> Optional[str]:
    """CheckPostgreSQLConfig: the first problem (upstream logs it), or None."""
    if bool(values["postgres_config_host"]) == bool(values["postgres_config_hostaddr"]):
        return "exactly one of postgres_config_host or postgres_config_hostaddr must be specified"
    if not values["postgres_config_port"]:
        return "postgres_config_port must not be empty"
    if not values["postgres_config_dbname"]:
        return "postgres_config_dbname must not be empty"
    if not values["postgres_config_user"]:
        return "postgres_config_user parameter must not be empty"
    return None


def parse_postgresql_flags(values: Dict[str, object], config, log) -> bool:
    """ParsePostgreSQLFlagsBasedServerConfigOrDie."""
    problem = check_postgresql_flags(values)
    if problem:
        log(f"error: {problem}")
        return False
    pg = config.connection_config.postgresql
    for name in ("host", "hostaddr", "port", "user", "password", "passfile", "dbname"):
        value = values[f"postgres_config_{name}"]
        if value:
            setattr(pg, name, value)
    if values["postgres_config_skip_db_creation"]:
        pg.skip_db_creation = True
    for name in ("sslmode", "sslkey", "sslcert", "sslpassword", "sslrootcert"):
        value = values[f"postgres_config_{name}"]
        if value:
            setattr(pg.ssloption, name, value)
    _migration_flags(values, config)
    return True


def build_server_config(values: Dict[str, object], log) -> metadata_store_pb2.MetadataStoreServerConfig:
    """main() up to the store creation: checks the port and the source type,
    then builds the config with the Build*ConnectionConfig function the
    source type names. `log` prints a line to stderr."""
    if values["grpc_port"] <= 0:
        raise Exit(EXIT_ERROR, f"grpc_port is invalid: {values['grpc_port']}")
    source = values["metadata_source_config_type"]
    if source not in SOURCE_TYPES:
        raise Exit(EXIT_ERROR,
                   "metadata_source_config_type is invalid: metadata_source_config_type "
                   "is not valid, provide value in one of the followings: default, "
                   "config_file, mysql, postgresql.")
    config = metadata_store_pb2.MetadataStoreServerConfig()
    failure = "Unable to construct server config using config file."
    if source == "default":
        # BuildDefaultConnectionConfig: the file, else the mysql flags, else
        # an in-memory database (upstream says only that no config was given;
        # we also say why the file was not used).
        from_file, why = parse_server_config_file(values["metadata_store_server_config_file"])
        if from_file is not None:
            return from_file
        if not parse_mysql_flags(values, config):
            log("warning: The connection_config is not given. Using in memory fake "
                f"database, any metadata will not be persistent ({why})")
            config.connection_config.fake_database.SetInParent()
        return config
    if source == "config_file":
        # BuildFileBasedConnectionConfig
        from_file, why = parse_server_config_file(values["metadata_store_server_config_file"])
        if from_file is None:
            log(f"error: {failure} ({why})")
            raise Exit(EXIT_ERROR, "Unable to construct server config based on arguments. "
                       f"Error message: {failure}")
        return from_file
    if source == "mysql":
        # BuildMySQLConnectionConfig (upstream reuses the config-file message)
        if not parse_mysql_flags(values, config):
            log(f"error: {failure}")
            raise Exit(EXIT_ERROR, "Unable to construct server config based on arguments. "
                       f"Error message: {failure}")
        return config
    # BuildPostgreSQLConnectionConfig
    if not parse_postgresql_flags(values, config, log):
        failure = "Unable to construct server config using postgresql flags."
        log(f"error: {failure}")
        raise Exit(EXIT_ERROR, "Unable to construct server config based on arguments. "
                   f"Error message: {failure}")
    return config


def parse_channel_arguments(text: str):
    """AddGrpcChannelArgs: "k=v,k=v" -> [(k, v)], a value that parses as an
    int64 (absl::SimpleAtoi) passed as an int, anything else as a string.
    ServerBuilder::AddChannelArgument takes the int64 as a C int, so it is
    narrowed to 32 bits the same way (two's complement).

    Upstream indexes the second part of every item without checking that
    there is one, so an item without "=" is undefined behaviour there (in
    practice a crash); here it is a clear error before listening."""
    out = []
    for item in (part for part in text.split(",") if part):
        key_val = [part for part in item.split("=") if part]
        if len(key_val) < 2:
            raise Exit(EXIT_ERROR, f"grpc_channel_arguments: '{item}' is not key=value "
                       "(the official server has undefined behaviour here)")
        key, value = key_val[0], key_val[1]
        out.append((key, _simple_atoi(value)))
    return out


_SIMPLE_ATOI = re.compile(r"^[ \t\n\v\f\r]*[+-]?[0-9]+[ \t\n\v\f\r]*$")


def _simple_atoi(value: str):
    """absl::SimpleAtoi into int64: surrounding whitespace allowed, decimal."""
    if _SIMPLE_ATOI.match(value):
        number = int(value)
        if -(2 ** 63) <= number < 2 ** 63:
            return (number + 2 ** 31) % 2 ** 32 - 2 ** 31
    return value


def ssl_server_credentials(ssl_config, grpc):
    """BuildSslServerCredentials: the server key and certificate (PEM text
    inside the config), custom_ca as the client roots when set, and client
    certificates required and verified when client_verify is true."""
    if not ssl_config.server_key or not ssl_config.server_cert:
        raise Exit(EXIT_ERROR, "ssl_config needs server_key and server_cert (PEM text); "
                   "the official server cannot start without them either")
    if ssl_config.client_verify and not ssl_config.custom_ca:
        raise Exit(EXIT_ERROR, "ssl_config.client_verify needs custom_ca (the PEM of the CA "
                   "that signs client certificates): grpcio cannot verify clients without it")
    return grpc.ssl_server_credentials(
        [(ssl_config.server_key.encode(), ssl_config.server_cert.encode())],
        root_certificates=ssl_config.custom_ca.encode() if ssl_config.custom_ca else None,
        require_client_auth=bool(ssl_config.client_verify),
    )
