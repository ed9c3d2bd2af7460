"""The status code of a failed store creation, from its message.

The official extension's ``CreateMetadataStore`` turns a failed
``absl::Status`` into a Python RuntimeError carrying the message only. The
official server needs the code twice: its start-up loop retries only ABORTED
(``metadata_store_server_main.cc``), and a call whose store cannot connect
returns that status (``ConnectMetadataStore`` in
``metadata_store_service_impl.cc``). So we recover the code from the
message, with the fixed message texts that upstream's store builds for each
status on this path (file and function beside each pattern). A message that
matches none is INTERNAL, the code of every connection failure upstream.
"""

import re

# absl::StatusCode numbers (the same as gRPC's).
OK = 0
CANCELLED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
NOT_FOUND = 5
ALREADY_EXISTS = 6
FAILED_PRECONDITION = 9
ABORTED = 10
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14
DATA_LOSS = 15

_NAMES = {
    OK: "OK", CANCELLED: "CANCELLED", UNKNOWN: "UNKNOWN", INVALID_ARGUMENT: "INVALID_ARGUMENT",
    NOT_FOUND: "NOT_FOUND", ALREADY_EXISTS: "ALREADY_EXISTS",
    FAILED_PRECONDITION: "FAILED_PRECONDITION", ABORTED: "ABORTED",
    UNIMPLEMENTED: "UNIMPLEMENTED", INTERNAL: "INTERNAL", UNAVAILABLE: "UNAVAILABLE",
    DATA_LOSS: "DATA_LOSS",
}

# (pattern, code), first match wins. Sources are upstream's files at 1.14.0
# (unchanged in 1.15.0 and 1.16.0 for these messages). Most patterns are
# anchored at the start; the two ABORTED markers are searched anywhere,
# because wrappers such as "Upgrade query failed: <sql>" or "Creating
# database X in ConnectImpl" put text before them and keep the inner code.
CREATION_MESSAGES = [
    # metadata_store.cc MetadataStore::Create: every successful downgrade.
    (r"^Downgrade migration was performed\. ", CANCELLED),
    # query_config_executor.cc / postgresql_query_executor.cc, schema checks
    # (it quotes INTERNAL and NOT_FOUND texts, so it comes first).
    (r"^There are a subset of tables in MLMD instance\. ", ABORTED),
    # query_config_executor.cc GetSchemaVersion.
    (r"^In the given db, MLMDEnv table exists but no schema_version can be found\. ", ABORTED),
    (r"^In the given db, MLMDEnv table exists but schema_version cannot be resolved ", DATA_LOSS),
    (r"^In the given db, there (is no|are multiple) MLMDEnv versions? exist", DATA_LOSS),
    # rdbms_metadata_access_object.cc InitMetadataSourceIfNotExists.
    (r"^The database cannot be initialized with the schema_version in the current library\. ", DATA_LOSS),
    # query_config_executor.cc / postgresql_query_executor.cc CheckIfDbIsEmpty paths.
    (r"^it looks an empty db is given\.$", NOT_FOUND),
    # query_config_executor.cc / postgresql_query_executor.cc DowngradeMetadataSource.
    (r"^MLMD cannot be downgraded to schema_version: ", INVALID_ARGUMENT),
    (r"^Empty database is given\. Downgrade operation is not needed\.$", INVALID_ARGUMENT),
    # rdbms_metadata_access_object.cc UpgradeMetadataSourceIfOutOfDate, DowngradeMetadataSource.
    (r"^MLMD database version -?\d+ is (greater than|older than) library version \d+\. ", FAILED_PRECONDITION),
    # metadata_store_factory.cc CreateMetadataStore.
    (r"^Unset$", INVALID_ARGUMENT),
    (r"^(Unknown database type\.|MySQL is not supported in Windows yet|Unknown Metadata source type\.)$", UNIMPLEMENTED),
    (r"^Metadata source type is not specified\.$", INVALID_ARGUMENT),
    # The extension's own parse failure (not an absl status).
    (r"^Could not parse proto\.?$", INVALID_ARGUMENT),
    # metadata_store.cc UpsertTypes (the simple types).
    (r"^Type already exists with different properties: ", ALREADY_EXISTS),
    # sqlite_metadata_source.cc RunStatement, mysql_metadata_source.cc
    # (server errors 1213 and 1205), searched anywhere.
    (r"Concurrent writes aborted after max number of retries\.$", ABORTED),
    (r"mysql_query aborted: errno: ", ABORTED),
]

_COMPILED = [(re.compile(pattern, re.S), code) for pattern, code in CREATION_MESSAGES]


def code_of_creation_error(message: str) -> int:
    """The absl code upstream gave `message`; INTERNAL for everything else
    on this path (connection failures of every backend, query errors)."""
    for pattern, code in _COMPILED:
        if pattern.search(message):
            return code
    return INTERNAL


def name_of(code: int) -> str:
    return _NAMES.get(code, str(code))
