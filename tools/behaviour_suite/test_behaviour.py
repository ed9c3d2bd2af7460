"""Behaviour suite for the ml_metadata Python client over gRPC.

Every test talks to an MLMD server through
``MetadataStore(MetadataStoreClientConfig(...))`` only (one test also uses the
generated gRPC stub, for methods the client has no wrapper for), and uses only
client methods that exist in ml-metadata 1.14.0's Python API. All tests share one
server database, so every type name is made unique per test (``uniq``).
See conftest.py for the environment variables.
"""

import os
import re
import sys
import time

import grpc
import pytest
from google.protobuf import struct_pb2

from ml_metadata import errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb
from ml_metadata.proto import metadata_store_service_pb2 as svc_pb
from ml_metadata.proto import metadata_store_service_pb2_grpc as svc_grpc

from conftest import GRPC_LOG_LINE, free_port, make_client, run_child

# Where the server under test stores (verify --backend): the official store
# answers a few reads differently on MySQL and PostgreSQL, and the tests say
# exactly where, so a change of that behaviour fails them too.
BACKEND = os.environ.get("MLMD_BACKEND", "sqlite")

ListOptions = metadata_store.ListOptions
OrderByField = metadata_store.OrderByField
LineageOptions = pb.LineageSubgraphQueryOptions

ALL_PROPERTY_TYPES = {
    "p_int": pb.INT,
    "p_double": pb.DOUBLE,
    "p_string": pb.STRING,
    "p_struct": pb.STRUCT,
    "p_proto": pb.PROTO,
    "p_bool": pb.BOOLEAN,
}


def by_id(items):
    return sorted(items, key=lambda x: x.id)


def event_key(event):
    return (event.artifact_id, event.execution_id, event.type)


def stored(given, actual, type_name):
    """The node we expect back: `given` plus the fields the server fills."""
    assert actual.id > 0
    assert actual.create_time_since_epoch > 0
    assert actual.last_update_time_since_epoch >= actual.create_time_since_epoch
    expected = type(given)()
    expected.CopyFrom(given)
    expected.id = actual.id
    expected.type = type_name
    expected.create_time_since_epoch = actual.create_time_since_epoch
    expected.last_update_time_since_epoch = actual.last_update_time_since_epoch
    return expected


def struct(**fields):
    value = struct_pb2.Struct()
    value.update(fields)
    return value


# --------------------------------------------------------------------------
# Types


TYPE_KINDS = {
    "artifact": dict(
        cls=pb.ArtifactType, put="put_artifact_type", get="get_artifact_type",
        get_by_id="get_artifact_types_by_id", get_all="get_artifact_types",
        get_by_ext="get_artifact_types_by_external_ids"),
    "execution": dict(
        cls=pb.ExecutionType, put="put_execution_type",
        get="get_execution_type", get_by_id="get_execution_types_by_id",
        get_all="get_execution_types",
        get_by_ext="get_execution_types_by_external_ids"),
    "context": dict(
        cls=pb.ContextType, put="put_context_type", get="get_context_type",
        get_by_id="get_context_types_by_id", get_all="get_context_types",
        get_by_ext="get_context_types_by_external_ids"),
}


@pytest.fixture(params=sorted(TYPE_KINDS))
def kind(request, store):
    spec = TYPE_KINDS[request.param]

    class Kind:
        name = request.param
        cls = spec["cls"]
        put = getattr(store, spec["put"])
        get = getattr(store, spec["get"])
        get_by_id = getattr(store, spec["get_by_id"])
        get_all = getattr(store, spec["get_all"])
        get_by_ext = getattr(store, spec["get_by_ext"])

    return Kind


def test_type_put_and_get(kind, uniq):
    name = uniq(f"{kind.name}-type")
    given = kind.cls(name=name, description=f"{kind.name} type",
                     external_id=f"{name}-ext")
    for prop, ptype in ALL_PROPERTY_TYPES.items():
        given.properties[prop] = ptype
    type_id = kind.put(given)
    assert type_id > 0

    expected = kind.cls()
    expected.CopyFrom(given)
    expected.id = type_id

    def by_name(*args, **kwargs):
        got = kind.get(*args, **kwargs)
        if BACKEND == "mysql" and expected.external_id:
            # On MySQL the official store's read of a type by name leaves out
            # external_id; the reads by id and by external id return it.
            assert not got.external_id
            got.external_id = expected.external_id
        return got

    assert by_name(name) == expected
    assert kind.get_by_id([type_id]) == [expected]
    assert kind.get_by_id([type_id, 987654321]) == [expected]
    assert kind.get_by_ext([f"{name}-ext"]) == [expected]
    # The list-all read does not return external_id (MLMD store behaviour).
    listed = [t for t in kind.get_all() if t.name == name]
    assert len(listed) == 1
    expected_listed = kind.cls()
    expected_listed.CopyFrom(expected)
    expected_listed.ClearField("external_id")
    listed[0].ClearField("external_id")
    assert listed == [expected_listed]

    # Putting the same type again is idempotent.
    assert kind.put(given) == type_id

    # A version makes a separate type with the same name.
    versioned = kind.cls(name=name, version="v2")
    versioned.properties["only_in_v2"] = pb.STRING
    v2_id = kind.put(versioned)
    assert v2_id not in (0, type_id)
    expected_v2 = kind.cls()
    expected_v2.CopyFrom(versioned)
    expected_v2.id = v2_id
    assert kind.get(name, type_version="v2") == expected_v2
    assert by_name(name) == expected
    assert by_id(kind.get_by_id([v2_id, type_id])) == by_id([expected,
                                                             expected_v2])

    with pytest.raises(errors.NotFoundError) as raised:
        kind.get(f"{name}-missing")
    assert raised.value.error_code == errors.NOT_FOUND
    assert f"{name}-missing" in str(raised.value)
    with pytest.raises(errors.NotFoundError):
        kind.get(name, type_version="no-such-version")
    assert kind.get_by_id([987654321]) == []
    with pytest.raises(errors.NotFoundError):
        kind.get_by_ext([f"{name}-no-such-ext"])


def test_type_evolution(kind, uniq):
    name = uniq(f"{kind.name}-evolve")
    base = kind.cls(name=name)
    base.properties["a"] = pb.INT
    type_id = kind.put(base)

    wider = kind.cls(name=name)
    wider.properties["a"] = pb.INT
    wider.properties["b"] = pb.STRING
    with pytest.raises(errors.AlreadyExistsError) as raised:
        kind.put(wider)
    assert raised.value.error_code == errors.ALREADY_EXISTS
    assert dict(kind.get(name).properties) == {"a": pb.INT}

    assert kind.put(wider, can_add_fields=True) == type_id
    assert dict(kind.get(name).properties) == {"a": pb.INT, "b": pb.STRING}

    narrower = kind.cls(name=name)
    narrower.properties["a"] = pb.INT
    with pytest.raises(errors.AlreadyExistsError):
        kind.put(narrower)
    # Omitting is allowed with can_omit_fields, and keeps stored properties.
    assert kind.put(narrower, can_omit_fields=True) == type_id
    assert dict(kind.get(name).properties) == {"a": pb.INT, "b": pb.STRING}

    conflicting = kind.cls(name=name)
    conflicting.properties["a"] = pb.STRING
    with pytest.raises(errors.AlreadyExistsError):
        kind.put(conflicting, can_add_fields=True, can_omit_fields=True)
    assert dict(kind.get(name).properties) == {"a": pb.INT, "b": pb.STRING}


def test_type_invalid_arguments(kind, uniq):
    with pytest.raises(errors.InvalidArgumentError) as raised:
        kind.put(kind.cls())
    assert raised.value.error_code == errors.INVALID_ARGUMENT
    unknown = kind.cls(name=uniq(f"{kind.name}-unknown"))
    unknown.properties["p"] = pb.UNKNOWN
    with pytest.raises(errors.InvalidArgumentError):
        kind.put(unknown)


# --------------------------------------------------------------------------
# Instances


def test_artifacts_put_get_update(store, uniq):
    type_name = uniq("artifact-type")
    atype = pb.ArtifactType(name=type_name)
    for prop, ptype in ALL_PROPERTY_TYPES.items():
        atype.properties[prop] = ptype
    type_id = store.put_artifact_type(atype)

    first = pb.Artifact(type_id=type_id, name="first", uri=f"/{type_name}/1",
                        external_id=f"{type_name}-ext-1",
                        state=pb.Artifact.LIVE)
    first.properties["p_int"].int_value = 7
    first.properties["p_double"].double_value = 2.5
    first.properties["p_string"].string_value = "hello"
    first.properties["p_bool"].bool_value = True
    first.properties["p_struct"].struct_value.CopyFrom(
        struct(k="v", n=1.0, nested={"x": [1.0, "two"]}))
    first.custom_properties["c_int"].int_value = -3
    first.custom_properties["c_string"].string_value = "ünïcode ✓"
    first.custom_properties["c_bool"].bool_value = False
    second = pb.Artifact(type_id=type_id, uri=f"/{type_name}/2",
                         state=pb.Artifact.PENDING)

    ids = store.put_artifacts([first, second])
    assert len(ids) == 2 and ids[0] != ids[1]

    got = store.get_artifacts_by_id(ids)
    assert len(got) == 2
    got_first, got_second = by_id(got)
    assert got_first.id == ids[0] and got_second.id == ids[1]
    exp_first = stored(first, got_first, type_name)
    exp_second = stored(second, got_second, type_name)
    assert got_first == exp_first
    assert got_second == exp_second

    assert store.get_artifacts_by_id([ids[0], 987654321]) == [exp_first]
    assert store.get_artifacts_by_id([]) == []
    assert by_id(store.get_artifacts_by_type(type_name)) == [exp_first,
                                                             exp_second]
    assert store.get_artifacts_by_type(f"{type_name}-missing") == []
    assert store.get_artifacts_by_uri(f"/{type_name}/1") == [exp_first]
    assert store.get_artifacts_by_uri(f"/{type_name}/none") == []
    assert store.get_artifact_by_type_and_name(type_name, "first") == exp_first
    assert store.get_artifact_by_type_and_name(type_name, "nope") is None
    assert store.get_artifacts_by_external_ids(
        [f"{type_name}-ext-1"]) == [exp_first]

    arts, types = store.get_artifacts_and_types_by_artifact_ids(ids)
    assert by_id(arts) == [exp_first, exp_second]
    assert len(types) == 1
    assert types[0].id == type_id and types[0].name == type_name
    assert dict(types[0].properties) == ALL_PROPERTY_TYPES

    # Full update: the stored node becomes the given one.
    updated = pb.Artifact()
    updated.CopyFrom(exp_first)
    updated.ClearField("create_time_since_epoch")
    updated.ClearField("last_update_time_since_epoch")
    updated.ClearField("type")
    updated.state = pb.Artifact.DELETED
    updated.properties["p_int"].int_value = 8
    del updated.custom_properties["c_bool"]
    updated.custom_properties["c_double"].double_value = 0.125
    assert store.put_artifacts([updated]) == [ids[0]]
    [after] = store.get_artifacts_by_id([ids[0]])
    assert after.create_time_since_epoch == exp_first.create_time_since_epoch
    assert (after.last_update_time_since_epoch
            >= exp_first.last_update_time_since_epoch)
    assert after == stored(updated, after, type_name)

    # Masked update: only the masked property changes.
    masked = pb.Artifact(id=ids[0], type_id=type_id, uri="/ignored")
    masked.properties["p_int"].int_value = 9
    assert store.put_artifacts([masked], field_mask_paths=["properties.p_int"]
                               ) == [ids[0]]
    [after_mask] = store.get_artifacts_by_id([ids[0]])
    expected_mask = pb.Artifact()
    expected_mask.CopyFrom(after)
    expected_mask.properties["p_int"].int_value = 9
    expected_mask.last_update_time_since_epoch = (
        after_mask.last_update_time_since_epoch)
    assert after_mask == expected_mask

    # Errors on put.
    with pytest.raises(errors.AlreadyExistsError):
        store.put_artifacts([pb.Artifact(type_id=type_id, name="first")])
    with pytest.raises(errors.InvalidArgumentError):
        store.put_artifacts([pb.Artifact(
            type_id=type_id, properties={"undeclared": pb.Value(int_value=1)})])
    with pytest.raises(errors.InvalidArgumentError):
        store.put_artifacts([pb.Artifact(
            type_id=type_id, properties={"p_int": pb.Value(string_value="x")})])
    with pytest.raises(errors.NotFoundError):
        store.put_artifacts([pb.Artifact(type_id=987654321)])
    with pytest.raises(errors.InvalidArgumentError):
        store.put_artifacts([pb.Artifact(id=987654321, type_id=type_id)])


def put_two_and_read_back(store, noun, type_name, first, second):
    """Puts `first` (whose external_id is "<type_name>-ext-1") and `second`,
    nodes of type `type_name`, with put_<noun>s, and checks the reads by id,
    by type, by type and a missing name, and by external id; returns the ids
    and the two nodes as stored."""
    ids = getattr(store, f"put_{noun}s")([first, second])
    assert len(ids) == 2 and ids[0] != ids[1]

    got_first, got_second = by_id(getattr(store, f"get_{noun}s_by_id")(ids))
    exp_first = stored(first, got_first, type_name)
    exp_second = stored(second, got_second, type_name)
    assert (got_first, got_second) == (exp_first, exp_second)
    assert by_id(getattr(store, f"get_{noun}s_by_type")(type_name)) == [
        exp_first, exp_second]
    assert getattr(store, f"get_{noun}_by_type_and_name")(type_name,
                                                          "nope") is None
    assert getattr(store, f"get_{noun}s_by_external_ids")(
        [f"{type_name}-ext-1"]) == [exp_first]
    return ids, exp_first, exp_second


def test_executions_put_get_update(store, uniq):
    type_name = uniq("execution-type")
    etype = pb.ExecutionType(name=type_name)
    etype.properties["step"] = pb.INT
    type_id = store.put_execution_type(etype)

    first = pb.Execution(type_id=type_id, name="run-1",
                         external_id=f"{type_name}-ext-1",
                         last_known_state=pb.Execution.RUNNING)
    first.properties["step"].int_value = 1
    first.custom_properties["note"].string_value = "started"
    second = pb.Execution(type_id=type_id, last_known_state=pb.Execution.NEW)
    ids, exp_first, exp_second = put_two_and_read_back(
        store, "execution", type_name, first, second)
    assert store.get_execution_by_type_and_name(type_name, "run-1") == exp_first
    assert store.get_executions_by_id([987654321]) == []

    update = pb.Execution(id=ids[0], type_id=type_id, name="run-1",
                          external_id=f"{type_name}-ext-1",
                          last_known_state=pb.Execution.COMPLETE)
    update.properties["step"].int_value = 2
    assert store.put_executions([update]) == [ids[0]]
    [after] = store.get_executions_by_id([ids[0]])
    assert after == stored(update, after, type_name)
    assert after.create_time_since_epoch == exp_first.create_time_since_epoch

    with pytest.raises(errors.AlreadyExistsError):
        store.put_executions([pb.Execution(type_id=type_id, name="run-1")])


def test_contexts_put_get_update(store, uniq):
    type_name = uniq("context-type")
    ctype = pb.ContextType(name=type_name)
    ctype.properties["owner"] = pb.STRING
    type_id = store.put_context_type(ctype)

    first = pb.Context(type_id=type_id, name="ctx-1",
                       external_id=f"{type_name}-ext-1")
    first.properties["owner"].string_value = "alice"
    first.custom_properties["rank"].int_value = 1
    second = pb.Context(type_id=type_id, name="ctx-2")
    ids, exp_first, exp_second = put_two_and_read_back(
        store, "context", type_name, first, second)
    assert store.get_context_by_type_and_name(type_name, "ctx-2") == exp_second

    update = pb.Context(id=ids[1], type_id=type_id, name="ctx-2-renamed")
    update.properties["owner"].string_value = "bob"
    assert store.put_contexts([update]) == [ids[1]]
    [after] = store.get_contexts_by_id([ids[1]])
    assert after == stored(update, after, type_name)

    with pytest.raises(errors.InvalidArgumentError):
        store.put_contexts([pb.Context(type_id=type_id)])  # no name
    with pytest.raises(errors.AlreadyExistsError):
        store.put_contexts([pb.Context(type_id=type_id, name="ctx-1")])


# --------------------------------------------------------------------------
# Events, put_execution, attributions and associations


@pytest.fixture
def graph_types(store, uniq):
    """One artifact, execution and context type; returns (ids, names)."""
    names = (uniq("g-artifact"), uniq("g-execution"), uniq("g-context"))
    ids = (
        store.put_artifact_type(pb.ArtifactType(name=names[0])),
        store.put_execution_type(pb.ExecutionType(name=names[1])),
        store.put_context_type(pb.ContextType(name=names[2])),
    )
    return ids, names


def test_events(store, graph_types):
    (atype, etype, _), _ = graph_types
    a_in, a_out = store.put_artifacts([pb.Artifact(type_id=atype, uri="in"),
                                       pb.Artifact(type_id=atype, uri="out")])
    [execution] = store.put_executions([pb.Execution(type_id=etype)])

    ev_in = pb.Event(artifact_id=a_in, execution_id=execution,
                     type=pb.Event.INPUT, milliseconds_since_epoch=12345)
    ev_in.path.steps.add().key = "examples"
    ev_in.path.steps.add().index = 0
    ev_out = pb.Event(artifact_id=a_out, execution_id=execution,
                      type=pb.Event.OUTPUT)
    store.put_events([ev_in, ev_out])

    got = sorted(store.get_events_by_execution_ids([execution]), key=event_key)
    assert len(got) == 2
    assert got[0] == ev_in  # an explicit timestamp is kept
    assert got[1].milliseconds_since_epoch > 0  # a missing one is filled in
    expected_out = pb.Event()
    expected_out.CopyFrom(ev_out)
    expected_out.milliseconds_since_epoch = got[1].milliseconds_since_epoch
    assert got[1] == expected_out

    assert store.get_events_by_artifact_ids([a_in]) == [ev_in]
    assert store.get_events_by_artifact_ids([a_out]) == [expected_out]
    assert sorted(store.get_events_by_artifact_ids([a_in, a_out]),
                  key=event_key) == got
    assert store.get_events_by_execution_ids([987654321]) == []

    with pytest.raises(errors.AlreadyExistsError):
        store.put_events([ev_in])
    with pytest.raises(errors.InvalidArgumentError):
        store.put_events([pb.Event(artifact_id=987654321,
                                   execution_id=execution,
                                   type=pb.Event.INPUT)])


def test_put_execution(store, graph_types):
    (atype, etype, ctype), (aname, ename, cname) = graph_types
    [existing] = store.put_artifacts([pb.Artifact(type_id=atype, uri="data")])

    execution = pb.Execution(type_id=etype,
                             last_known_state=pb.Execution.RUNNING)
    new_artifact = pb.Artifact(type_id=atype, uri="model")
    out_event = pb.Event(type=pb.Event.OUTPUT)
    out_event.path.steps.add().key = "model"
    context = pb.Context(type_id=ctype, name="pipeline-run")
    eid, aids, cids = store.put_execution(
        execution,
        [(pb.Artifact(id=existing, type_id=atype, uri="data"),
          pb.Event(type=pb.Event.INPUT)),
         (new_artifact, out_event)],
        [context])
    assert eid > 0
    assert len(aids) == 2 and aids[0] == existing and aids[1] not in (0, existing)
    assert len(cids) == 1 and cids[0] > 0

    [got_exec] = store.get_executions_by_id([eid])
    assert got_exec == stored(execution, got_exec, ename)
    [got_model] = store.get_artifacts_by_id([aids[1]])
    assert got_model == stored(new_artifact, got_model, aname)

    events = sorted(store.get_events_by_execution_ids([eid]), key=event_key)
    assert [(e.artifact_id, e.execution_id, e.type) for e in events] == sorted(
        [(existing, eid, pb.Event.INPUT), (aids[1], eid, pb.Event.OUTPUT)])
    assert [e.path for e in events if e.type == pb.Event.OUTPUT] == [
        out_event.path]

    [got_ctx] = store.get_contexts_by_id(cids)
    assert got_ctx == stored(context, got_ctx, cname)
    assert store.get_contexts_by_execution(eid) == [got_ctx]
    assert store.get_contexts_by_artifact(existing) == [got_ctx]
    assert store.get_contexts_by_artifact(aids[1]) == [got_ctx]
    assert by_id(store.get_artifacts_by_context(cids[0])) == by_id(
        store.get_artifacts_by_id(aids))
    assert store.get_executions_by_context(cids[0]) == [got_exec]

    # A new context with a taken name fails unless reuse is asked for.
    again = pb.Execution(type_id=etype)
    with pytest.raises(errors.AlreadyExistsError):
        store.put_execution(again, [], [pb.Context(type_id=ctype,
                                                   name="pipeline-run")])
    eid2, aids2, cids2 = store.put_execution(
        again, [], [pb.Context(type_id=ctype, name="pipeline-run")],
        reuse_context_if_already_exist=True)
    assert eid2 not in (0, eid) and aids2 == [] and cids2 == cids
    assert [e.id for e in store.get_executions_by_context(cids[0])] == [eid2,
                                                                       eid]

    # Updating through put_execution keeps the id.
    done = pb.Execution(id=eid, type_id=etype,
                        last_known_state=pb.Execution.COMPLETE)
    assert store.put_execution(done, [], []) == (eid, [], [])
    [got_done] = store.get_executions_by_id([eid])
    assert got_done.last_known_state == pb.Execution.COMPLETE

    with pytest.raises(errors.InvalidArgumentError):
        # The event names another execution than the one being put.
        store.put_execution(
            pb.Execution(type_id=etype),
            [(pb.Artifact(id=existing, type_id=atype, uri="data"),
              pb.Event(execution_id=eid, type=pb.Event.INPUT))], [])


def test_attributions_and_associations(store, graph_types):
    (atype, etype, ctype), (_, _, cname) = graph_types
    a1, a2 = store.put_artifacts([pb.Artifact(type_id=atype, uri="a1"),
                                  pb.Artifact(type_id=atype, uri="a2")])
    e1, e2 = store.put_executions([pb.Execution(type_id=etype),
                                   pb.Execution(type_id=etype)])
    c1, c2 = store.put_contexts([pb.Context(type_id=ctype, name="c1"),
                                 pb.Context(type_id=ctype, name="c2")])
    attributions = [pb.Attribution(artifact_id=a1, context_id=c1),
                    pb.Attribution(artifact_id=a2, context_id=c1),
                    pb.Attribution(artifact_id=a1, context_id=c2)]
    associations = [pb.Association(execution_id=e1, context_id=c1),
                    pb.Association(execution_id=e2, context_id=c1)]
    store.put_attributions_and_associations(attributions, associations)
    # Existing relationships are ignored.
    store.put_attributions_and_associations(attributions, associations)

    ctx1, ctx2 = by_id(store.get_contexts_by_id([c1, c2]))
    assert ctx1.name == "c1" and ctx1.type == cname
    assert by_id(store.get_contexts_by_artifact(a1)) == [ctx1, ctx2]
    assert store.get_contexts_by_artifact(a2) == [ctx1]
    assert store.get_contexts_by_execution(e1) == [ctx1]
    with pytest.raises(errors.NotFoundError):
        store.get_contexts_by_execution(987654321)

    art1, art2 = by_id(store.get_artifacts_by_id([a1, a2]))
    assert by_id(store.get_artifacts_by_context(c1)) == [art1, art2]
    assert store.get_artifacts_by_context(c2) == [art1]
    assert store.get_artifacts_by_context(
        c1, list_options=ListOptions(order_by=OrderByField.ID, is_asc=False)
    ) == [art2, art1]
    assert store.get_artifacts_by_context(
        c1, list_options=ListOptions(limit=1, order_by=OrderByField.ID)
    ) == [art1]

    ex1, ex2 = by_id(store.get_executions_by_id([e1, e2]))
    # Default order of get_executions_by_context: CREATE_TIME descending,
    # ties broken by id in the same direction.
    assert store.get_executions_by_context(c1) == [ex2, ex1]
    assert store.get_executions_by_context(
        c1, list_options=ListOptions(order_by=OrderByField.ID, is_asc=True)
    ) == [ex1, ex2]
    assert store.get_executions_by_context(c2) == []

    with pytest.raises(errors.InvalidArgumentError):
        store.put_attributions_and_associations(
            [pb.Attribution(artifact_id=987654321, context_id=c1)], [])
    with pytest.raises(errors.InvalidArgumentError):
        store.put_attributions_and_associations(
            [], [pb.Association(execution_id=e1, context_id=987654321)])


def test_parent_contexts(store, graph_types):
    (_, _, ctype), _ = graph_types
    parent, child1, child2 = store.put_contexts(
        [pb.Context(type_id=ctype, name=n) for n in ("parent", "kid1", "kid2")])
    store.put_parent_contexts([
        pb.ParentContext(child_id=child1, parent_id=parent),
        pb.ParentContext(child_id=child2, parent_id=parent),
    ])
    p_ctx, k1_ctx, k2_ctx = by_id(store.get_contexts_by_id(
        [parent, child1, child2]))
    assert store.get_parent_contexts_by_context(child1) == [p_ctx]
    assert store.get_parent_contexts_by_context(child2) == [p_ctx]
    assert store.get_parent_contexts_by_context(parent) == []
    assert by_id(store.get_children_contexts_by_context(parent)) == [k1_ctx,
                                                                     k2_ctx]
    assert store.get_children_contexts_by_context(child1) == []

    with pytest.raises(errors.AlreadyExistsError):
        store.put_parent_contexts(
            [pb.ParentContext(child_id=child1, parent_id=parent)])
    with pytest.raises(errors.InvalidArgumentError):
        store.put_parent_contexts(
            [pb.ParentContext(child_id=child1, parent_id=987654321)])
    with pytest.raises(errors.InvalidArgumentError):  # would make a cycle
        store.put_parent_contexts(
            [pb.ParentContext(child_id=parent, parent_id=child1)])


# --------------------------------------------------------------------------
# Lineage


def _summary(graph):
    return (
        sorted(a.uri for a in graph.artifacts),
        sorted(e.name for e in graph.executions),
        sorted(c.name for c in graph.contexts),
        sorted((e.artifact_id, e.execution_id, e.type) for e in graph.events),
    )


def test_lineage_subgraph(store, graph_types):
    (atype, etype, ctype), (aname, ename, cname) = graph_types
    INPUT, OUTPUT = pb.Event.INPUT, pb.Event.OUTPUT
    # a0 -> e1 -> a1 -> e2 -> a2, all in one context.
    eids, aids, cids = store.put_lineage_subgraph(
        executions=[pb.Execution(type_id=etype, name="e1"),
                    pb.Execution(type_id=etype, name="e2")],
        artifacts=[pb.Artifact(type_id=atype, uri=f"a{i}") for i in range(3)],
        contexts=[pb.Context(type_id=ctype, name="lineage")],
        event_edges=[(0, 0, pb.Event(type=INPUT)),
                     (0, 1, pb.Event(type=OUTPUT)),
                     (1, 1, pb.Event(type=INPUT)),
                     (1, 2, pb.Event(type=OUTPUT))])
    assert len(eids) == 2 and len(aids) == 3 and len(cids) == 1
    a0, a1, a2 = aids
    e1, e2 = eids
    assert store.get_contexts_by_artifact(a2)[0].id == cids[0]
    assert by_id(store.get_executions_by_context(cids[0])) == by_id(
        store.get_executions_by_id(eids))

    def query(start_artifact=None, start_execution=None, hops=0,
              direction=LineageOptions.DIRECTION_UNSPECIFIED, mask=None):
        options = LineageOptions(max_num_hops=hops, direction=direction)
        if start_artifact is not None:
            options.starting_artifacts.filter_query = f"id = {start_artifact}"
        else:
            options.starting_executions.filter_query = f"id = {start_execution}"
        return store.get_lineage_subgraph(options, field_mask_paths=mask)

    full = query(start_artifact=a0, hops=4,
                 direction=LineageOptions.DOWNSTREAM)
    assert _summary(full) == (
        ["a0", "a1", "a2"], ["e1", "e2"], ["lineage"],
        sorted([(a0, e1, INPUT), (a1, e1, OUTPUT), (a1, e2, INPUT),
                (a2, e2, OUTPUT)]))
    assert by_id(full.artifacts) == by_id(store.get_artifacts_by_id(aids))
    assert by_id(full.executions) == by_id(store.get_executions_by_id(eids))
    assert list(full.contexts) == store.get_contexts_by_id(cids)
    assert [t.name for t in full.artifact_types] == [aname]
    assert [t.name for t in full.execution_types] == [ename]
    assert [t.name for t in full.context_types] == [cname]

    assert _summary(query(start_artifact=a0, hops=2,
                          direction=LineageOptions.DOWNSTREAM)) == (
        ["a0", "a1"], ["e1"], ["lineage"],
        sorted([(a0, e1, INPUT), (a1, e1, OUTPUT)]))
    assert _summary(query(start_artifact=a2, hops=2,
                          direction=LineageOptions.UPSTREAM)) == (
        ["a1", "a2"], ["e2"], ["lineage"],
        sorted([(a1, e2, INPUT), (a2, e2, OUTPUT)]))
    assert _summary(query(start_artifact=a1, hops=1,
                          direction=LineageOptions.BIDIRECTIONAL)) == (
        ["a1"], ["e1", "e2"], ["lineage"],
        sorted([(a1, e1, OUTPUT), (a1, e2, INPUT)]))
    assert _summary(query(start_artifact=a0, hops=0,
                          direction=LineageOptions.DOWNSTREAM))[:2] == (
        ["a0"], [])

    only_artifacts = query(start_execution=e1, hops=1, mask=["artifacts"])
    assert by_id(only_artifacts.artifacts) == by_id(
        store.get_artifacts_by_id([a0, a1]))
    assert not only_artifacts.executions and not only_artifacts.events
    assert not only_artifacts.contexts and not only_artifacts.artifact_types

    with pytest.raises(errors.InvalidArgumentError):
        store.get_lineage_subgraph(LineageOptions(max_num_hops=1))


def _raw_stub(server):
    channel = grpc.insecure_channel(server.address)
    return channel, svc_grpc.MetadataStoreServiceStub(channel)


def test_methods_without_store_implementation_are_unimplemented(
        store, mlmd_server):
    """GetLineageGraph (and the two *ByContexts reads) are not implemented by
    MLMD's store; the server must say UNIMPLEMENTED, which the client's error
    mapping turns into errors.UnimplementedError."""
    if hasattr(store, "get_lineage_graph"):
        with pytest.raises(errors.UnimplementedError):
            store.get_lineage_graph(pb.LineageGraphQueryOptions())
    channel, stub = _raw_stub(mlmd_server)
    try:
        calls = [
            (stub.GetLineageGraph, svc_pb.GetLineageGraphRequest()),
            (stub.GetParentContextsByContexts,
             svc_pb.GetParentContextsByContextsRequest(context_ids=[1])),
            (stub.GetChildrenContextsByContexts,
             svc_pb.GetChildrenContextsByContextsRequest(context_ids=[1])),
        ]
        for method, request in calls:
            with pytest.raises(grpc.RpcError) as raised:
                method(request, timeout=30)
            assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
            mapped = errors.make_exception(raised.value.details(),
                                           raised.value.code().value[0])
            assert isinstance(mapped, errors.UnimplementedError)
    finally:
        channel.close()


# --------------------------------------------------------------------------
# List options and paging


N_MANY = 205


@pytest.fixture
def many_artifacts(store, uniq):
    """N_MANY artifacts of a fresh type, put in one call; returns (type, ids)."""
    type_name = uniq("many")
    atype = pb.ArtifactType(name=type_name)
    atype.properties["n"] = pb.INT
    type_id = store.put_artifact_type(atype)
    artifacts = []
    for i in range(N_MANY):
        art = pb.Artifact(type_id=type_id, name=f"item-{i:03d}",
                          uri=f"mem://{type_name}/{i}")
        art.properties["n"].int_value = i
        art.custom_properties["parity"].string_value = (
            "even" if i % 2 == 0 else "odd")
        artifacts.append(art)
    ids = store.put_artifacts(artifacts)
    assert len(ids) == N_MANY and len(set(ids)) == N_MANY
    return type_name, ids


def test_list_options_paging_and_order(store, many_artifacts):
    type_name, ids = many_artifacts
    of_type = f"type = '{type_name}'"

    # Without a limit the client pages (100 per call) until the end.
    asc = store.get_artifacts(ListOptions(order_by=OrderByField.ID,
                                          filter_query=of_type))
    assert [a.id for a in asc] == sorted(ids)
    assert [a.properties["n"].int_value for a in asc] == list(range(N_MANY))
    desc = store.get_artifacts(ListOptions(order_by=OrderByField.ID,
                                           is_asc=False, filter_query=of_type))
    assert [a.id for a in desc] == sorted(ids, reverse=True)

    # Limits below, at and above one page.
    for limit in (1, 7, 100, 150, N_MANY, N_MANY + 50):
        got = store.get_artifacts(ListOptions(
            limit=limit, order_by=OrderByField.ID, is_asc=False,
            filter_query=of_type))
        assert [a.id for a in got] == sorted(ids, reverse=True)[:limit]

    # CREATE_TIME order, ties broken by id in the same direction.
    by_create = store.get_artifacts(ListOptions(
        order_by=OrderByField.CREATE_TIME, is_asc=True, filter_query=of_type))
    assert [a.id for a in by_create] == [
        a.id for a in sorted(asc, key=lambda a: (a.create_time_since_epoch,
                                                 a.id))]
    by_create_desc = store.get_artifacts(ListOptions(
        order_by=OrderByField.CREATE_TIME, is_asc=False, limit=120,
        filter_query=of_type))
    assert [a.id for a in by_create_desc] == [
        a.id for a in sorted(asc, key=lambda a: (a.create_time_since_epoch,
                                                 a.id), reverse=True)][:120]
    by_update = ListOptions(order_by=OrderByField.UPDATE_TIME, filter_query=of_type)
    if BACKEND == "postgresql":
        # MLMD's PostgreSQL query for a filtered list is a SELECT DISTINCT whose
        # select list lacks the update time it orders by, which PostgreSQL refuses.
        with pytest.raises(errors.InternalError, match="ORDER BY expressions must appear in select list"):
            store.get_artifacts(by_update)
    else:
        assert sorted(a.id for a in store.get_artifacts(by_update)) == sorted(ids)


def test_list_options_filter_query(store, many_artifacts):
    type_name, ids = many_artifacts
    of_type = f"type = '{type_name}'"
    ordered = sorted(ids)

    def ids_for(query, **kw):
        return [a.id for a in store.get_artifacts(ListOptions(
            order_by=OrderByField.ID, filter_query=query, **kw))]

    assert ids_for(f"{of_type} AND name = 'item-042'") == [ordered[42]]
    assert ids_for(f"{of_type} AND properties.n.int_value >= 200") == (
        ordered[200:])
    assert ids_for(f"{of_type} AND custom_properties.parity.string_value = "
                   f"'odd'") == ordered[1::2]
    assert ids_for(f"{of_type} AND custom_properties.parity.string_value = "
                   f"'even'", limit=60) == ordered[0::2][:60]
    assert ids_for(f"{of_type} AND uri LIKE 'mem://{type_name}/1%'") == (
        [ordered[1]] + ordered[10:20] + ordered[100:200])
    assert ids_for(f"{of_type} AND id = {ordered[5]}") == [ordered[5]]
    assert ids_for(f"type = '{type_name}-nothing'") == []

    with pytest.raises(errors.InvalidArgumentError):
        store.get_artifacts(ListOptions(filter_query="this is not a filter"))
    with pytest.raises(errors.InvalidArgumentError):
        store.get_artifacts(ListOptions(limit=-1))


def test_list_options_by_context_and_other_nodes(store, many_artifacts,
                                                 graph_types):
    _, ids = many_artifacts
    (_, etype, ctype), (_, ename, cname) = graph_types
    [ctx] = store.put_contexts([pb.Context(type_id=ctype, name="bulk")])
    store.put_attributions_and_associations(
        [pb.Attribution(artifact_id=i, context_id=ctx) for i in ids], [])

    # get_artifacts_by_context pages too.
    assert sorted(a.id for a in store.get_artifacts_by_context(ctx)) == sorted(
        ids)
    got = store.get_artifacts_by_context(ctx, list_options=ListOptions(
        order_by=OrderByField.ID, is_asc=False, limit=130))
    assert [a.id for a in got] == sorted(ids, reverse=True)[:130]
    # Filter on the neighbourhood: artifacts attributed to a named context.
    got = store.get_artifacts(ListOptions(
        order_by=OrderByField.ID,
        filter_query=f"contexts_c.name = 'bulk' AND contexts_c.type = "
                     f"'{cname}' AND properties.n.int_value < 3"))
    assert [a.id for a in got] == sorted(ids)[:3]

    eids = store.put_executions([pb.Execution(type_id=etype, name=f"x{i}")
                                 for i in range(5)])
    got = store.get_executions(ListOptions(
        order_by=OrderByField.ID, is_asc=False, limit=3,
        filter_query=f"type = '{ename}'"))
    assert [e.id for e in got] == sorted(eids, reverse=True)[:3]

    more = store.put_contexts([pb.Context(type_id=ctype, name=f"k{i}")
                               for i in range(3)])
    got = store.get_contexts(ListOptions(
        order_by=OrderByField.ID, filter_query=f"type = '{cname}' AND "
                                               f"name != 'bulk'"))
    assert [c.id for c in got] == sorted(more)


# --------------------------------------------------------------------------
# Error mapping and client configuration


def test_error_mapping(store, uniq):
    name = uniq("errors")
    type_id = store.put_artifact_type(pb.ArtifactType(name=name))
    store.put_artifacts([pb.Artifact(type_id=type_id, name="dup")])

    with pytest.raises(errors.AlreadyExistsError) as raised:
        store.put_artifacts([pb.Artifact(type_id=type_id, name="dup")])
    assert raised.value.error_code == errors.ALREADY_EXISTS
    assert raised.value.message

    with pytest.raises(errors.NotFoundError) as raised:
        store.get_artifact_type(f"{name}-missing")
    assert raised.value.error_code == errors.NOT_FOUND
    assert f"{name}-missing" in raised.value.message

    with pytest.raises(errors.InvalidArgumentError) as raised:
        store.put_artifact_type(pb.ArtifactType())
    assert raised.value.error_code == errors.INVALID_ARGUMENT
    assert raised.value.message

    # All mapped errors share the StatusError base class.
    for cls in (errors.AlreadyExistsError, errors.NotFoundError,
                errors.InvalidArgumentError, errors.UnavailableError,
                errors.DeadlineExceededError, errors.UnimplementedError):
        assert issubclass(cls, errors.StatusError)


def test_unavailable_when_nothing_listens():
    client = make_client("127.0.0.1", free_port(), client_timeout_sec=5.0)
    with pytest.raises(errors.UnavailableError) as raised:
        client.get_artifact_types()
    assert raised.value.error_code == errors.UNAVAILABLE


def test_deadline_exceeded_against_slow_server(slow_server, uniq):
    server, delay_ms = slow_server
    impatient = make_client(server.host, server.port,
                            client_timeout_sec=delay_ms / 4000.0)
    with pytest.raises(errors.DeadlineExceededError) as raised:
        impatient.get_artifact_types()
    assert raised.value.error_code == errors.DEADLINE_EXCEEDED

    patient = make_client(server.host, server.port,
                          client_timeout_sec=delay_ms / 1000.0 + 30.0)
    started = time.monotonic()
    name = uniq("slow")
    type_id = patient.put_artifact_type(pb.ArtifactType(name=name))
    assert time.monotonic() - started >= delay_ms / 1000.0
    assert patient.get_artifact_type(name).id == type_id


def test_package_imports_cleanly_and_exports_the_client_api(mlmd_server):
    # ml_metadata/__init__.py swallows ImportError and writes it to stderr,
    # so a broken import only shows there: check it in a fresh interpreter.
    probe = run_child(
        [sys.executable, "-c",
         "import ml_metadata, sys; sys.stdout.write(ml_metadata.__version__)"],
        text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    # gRPC's own C-core log lines (some grpcio releases log a poller error at
    # exit) are not ml_metadata's; anything else on stderr is a broken import.
    assert GRPC_LOG_LINE.sub("", probe.stderr).strip() == "", probe.stderr
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", probe.stdout), probe.stdout

    import ml_metadata

    assert ml_metadata.MetadataStore is metadata_store.MetadataStore
    assert ml_metadata.ListOptions is ListOptions
    assert ml_metadata.OrderByField is OrderByField
    assert ml_metadata.proto.Artifact is pb.Artifact
    assert ml_metadata.proto.MetadataStoreClientConfig is (
        pb.MetadataStoreClientConfig)
    client = ml_metadata.MetadataStore(ml_metadata.proto.MetadataStoreClientConfig(
        host=mlmd_server.host, port=mlmd_server.port, client_timeout_sec=30.0))
    assert isinstance(client.get_artifact_types(), list)


def test_client_config_validation(mlmd_server):
    config = pb.MetadataStoreClientConfig(host=mlmd_server.host,
                                          port=mlmd_server.port)
    with pytest.raises(ValueError):
        metadata_store.MetadataStore(config, enable_upgrade_migration=True)
    with pytest.raises(ValueError):
        metadata_store.MetadataStore(object())


@pytest.mark.remote_only
def test_connection_config_is_rejected_in_remote_only_build():
    """One error type, errors.RemoteOnlyError: an MLMD UnimplementedError and
    not a RuntimeError, which TFX would retry for seconds."""
    config = pb.ConnectionConfig()
    config.fake_database.SetInParent()
    with pytest.raises(errors.RemoteOnlyError) as raised:
        metadata_store.MetadataStore(config)
    assert isinstance(raised.value, errors.UnimplementedError)
    assert not isinstance(raised.value, RuntimeError)
    assert raised.value.error_code == errors.UNIMPLEMENTED
    message = str(raised.value)
    assert "remote-only" in message
    assert "MetadataStoreClientConfig" in message


@pytest.mark.remote_only
def test_downgrade_checks_its_arguments_then_refuses():
    config = pb.ConnectionConfig()
    with pytest.raises(errors.InvalidArgumentError):
        metadata_store.downgrade_schema(config, -1)
    with pytest.raises(errors.RemoteOnlyError):
        metadata_store.downgrade_schema(config, 0)


@pytest.mark.remote_only
def test_the_native_extension_import_says_remote_only():
    with pytest.raises(ModuleNotFoundError) as raised:
        import ml_metadata.metadata_store.pywrap.metadata_store_extension  # noqa: F401
    assert "remote-only" in str(raised.value)
    assert "MetadataStoreClientConfig" in str(raised.value)


# --------------------------------------------------------------------------
# TLS


def _ssl_config(ca_pem, client_key=None, client_cert=None):
    ssl = pb.MetadataStoreClientConfig.SSLConfig(custom_ca=ca_pem)
    if client_key is not None:
        ssl.client_key = client_key
        # The client passes `server_cert` to gRPC as its own certificate chain.
        ssl.server_cert = client_cert
    return ssl


def test_tls_client_against_tls_server(tls_server, uniq):
    server = tls_server.handle
    client = make_client(server.host, server.port,
                         ssl_config=_ssl_config(tls_server.ca_pem),
                         client_timeout_sec=30.0)
    name = uniq("tls")
    type_id = client.put_artifact_type(pb.ArtifactType(name=name))
    assert client.get_artifact_type(name) == pb.ArtifactType(id=type_id,
                                                             name=name)


def test_tls_client_against_plaintext_server(tls_ca_pem, mlmd_server):
    client = make_client(mlmd_server.host, mlmd_server.port,
                         ssl_config=_ssl_config(tls_ca_pem),
                         client_timeout_sec=5.0)
    with pytest.raises(errors.UnavailableError):
        client.get_artifact_types()


def test_plaintext_client_against_tls_server(tls_server):
    server = tls_server.handle
    client = make_client(server.host, server.port, client_timeout_sec=5.0)
    with pytest.raises(errors.UnavailableError):
        client.get_artifact_types()


def test_mutual_tls(mtls_server, uniq):
    server, files = mtls_server.handle, mtls_server.files
    client = make_client(
        server.host, server.port,
        ssl_config=_ssl_config(mtls_server.ca_pem,
                               client_key=files.client_key.read_text(),
                               client_cert=files.client_cert.read_text()),
        client_timeout_sec=30.0)
    name = uniq("mtls")
    type_id = client.put_artifact_type(pb.ArtifactType(name=name))
    assert client.get_artifact_type(name).id == type_id

    no_cert = make_client(server.host, server.port,
                          ssl_config=_ssl_config(mtls_server.ca_pem),
                          client_timeout_sec=5.0)
    with pytest.raises(errors.UnavailableError):
        no_cert.get_artifact_types()


# --------------------------------------------------------------------------
# Simple (system) types


SYSTEM_ARTIFACT_TYPES = {
    "Dataset": ("mlmd.Dataset", pb.ArtifactType.DATASET),
    "Model": ("mlmd.Model", pb.ArtifactType.MODEL),
    "Metrics": ("mlmd.Metrics", pb.ArtifactType.METRICS),
    "Statistics": ("mlmd.Statistics", pb.ArtifactType.STATISTICS),
}
SYSTEM_EXECUTION_TYPES = {
    "Train": ("mlmd.Train", pb.ExecutionType.TRAIN),
    "Transform": ("mlmd.Transform", pb.ExecutionType.TRANSFORM),
    "Process": ("mlmd.Process", pb.ExecutionType.PROCESS),
    "Evaluate": ("mlmd.Evaluate", pb.ExecutionType.EVALUATE),
    "Deploy": ("mlmd.Deploy", pb.ExecutionType.DEPLOY),
}


def test_mlmd_types_names():
    from ml_metadata.metadata_store import mlmd_types

    assert mlmd_types.Dataset().name == "mlmd.Dataset"
    for cls_name, (type_name, system_type) in {
            **SYSTEM_ARTIFACT_TYPES, **SYSTEM_EXECUTION_TYPES}.items():
        instance = getattr(mlmd_types, cls_name)()
        assert instance.name == type_name
        assert instance.system_type == system_type
    for cls_name in SYSTEM_ARTIFACT_TYPES:
        assert isinstance(getattr(mlmd_types, cls_name)(),
                          mlmd_types.ArtifactType)
    for cls_name in SYSTEM_EXECUTION_TYPES:
        assert isinstance(getattr(mlmd_types, cls_name)(),
                          mlmd_types.ExecutionType)


def test_system_types_as_base_types(store, uniq):
    from ml_metadata.metadata_store import mlmd_types

    for cls_name, (_, system_type) in SYSTEM_ARTIFACT_TYPES.items():
        name = uniq(f"based-on-{cls_name}")
        base = getattr(mlmd_types, cls_name)().system_type
        type_id = store.put_artifact_type(pb.ArtifactType(name=name,
                                                          base_type=base))
        assert store.get_artifact_type(name) == pb.ArtifactType(
            id=type_id, name=name, base_type=system_type)
    for cls_name, (_, system_type) in SYSTEM_EXECUTION_TYPES.items():
        name = uniq(f"based-on-{cls_name}")
        base = getattr(mlmd_types, cls_name)().system_type
        type_id = store.put_execution_type(pb.ExecutionType(name=name,
                                                            base_type=base))
        assert store.get_execution_types_by_id([type_id]) == [
            pb.ExecutionType(id=type_id, name=name, base_type=system_type)]
