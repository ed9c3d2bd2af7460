"""go_proto_library, loaded by ml_metadata.bzl; never built by the remote-only wheel."""

def go_proto_library(**kwargs):
    _ignore = [kwargs]
