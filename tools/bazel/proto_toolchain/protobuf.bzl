"""The two protobuf macros that ml_metadata.bzl loads, for a Python-only build."""

def cc_proto_library(name, **kwargs):
    """C++ protos are not built by the remote-only wheel."""
    _ignore = [name, kwargs]

def py_proto_library(
        name,
        srcs = [],
        deps = [],
        use_grpc_plugin = False,
        visibility = None,
        testonly = 0,
        **kwargs):
    """Generates <proto>_pb2.py (and <proto>_pb2_grpc.py) next to each source.

    `name + "_protos"` collects the sources of this library and of its deps, so
    that protoc sees every imported file inside the sandbox.
    """
    _ignore = [kwargs]
    stems = [src[:-len(".proto")] for src in srcs]
    outs = [stem + "_pb2.py" for stem in stems]
    if use_grpc_plugin:
        outs += [stem + "_pb2_grpc.py" for stem in stems]

    native.filegroup(
        name = name + "_protos",
        srcs = srcs + [dep + "_protos" for dep in deps],
        testonly = testonly,
        visibility = visibility,
    )

    grpc_out = ["--grpc_python_out=$(GENDIR)"] if use_grpc_plugin else []
    native.genrule(
        name = name,
        srcs = srcs + [name + "_protos"],
        outs = outs,
        tools = ["@com_google_protobuf//:protoc"],
        cmd = " ".join(
            ["$(location @com_google_protobuf//:protoc)", "--proto_path=.", "--python_out=$(GENDIR)"] +
            grpc_out +
            ["$(location %s)" % src for src in srcs],
        ),
        testonly = testonly,
        visibility = visibility,
    )
