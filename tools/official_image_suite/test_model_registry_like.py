"""What a registry-style client does with MLMD, one empty database per test."""

import pytest

from ml_metadata import errors
from ml_metadata.metadata_store.metadata_store import ListOptions, OrderByField
from ml_metadata.proto import metadata_store_pb2 as pb


def register_model_type(store):
    model = pb.ArtifactType(name="kf.ModelVersion")
    model.properties["version"] = pb.STRING
    model.properties["state"] = pb.STRING
    return store.put_artifact_type(model)


def test_starts_empty(store):
    assert store.get_artifact_types() == []
    assert store.get_artifacts() == []
    assert store.get_contexts() == []


def test_first_ids_are_those_of_a_new_database(store):
    type_id = register_model_type(store)
    [artifact_id] = store.put_artifacts([pb.Artifact(type_id=type_id, name="v1", uri="s3://m/1")])
    # A new database holds only MLMD's own simple types before ours.
    assert artifact_id == 1
    assert [a.name for a in store.get_artifacts()] == ["v1"]


def test_register_models_in_a_context(store):
    type_id = register_model_type(store)
    context_type = store.put_context_type(pb.ContextType(name="kf.RegisteredModel"))
    [context_id] = store.put_contexts([pb.Context(type_id=context_type, name="fraud-detector")])
    versions = []
    for n in range(3):
        artifact = pb.Artifact(type_id=type_id, name=f"fraud-detector:v{n}", uri=f"s3://models/fraud/{n}")
        artifact.properties["version"].string_value = f"v{n}"
        artifact.properties["state"].string_value = "LIVE"
        versions.append(artifact)
    ids = store.put_artifacts(versions)
    store.put_attributions_and_associations([pb.Attribution(artifact_id=i, context_id=context_id) for i in ids], [])
    found = store.get_artifacts_by_context(context_id)
    assert sorted(a.name for a in found) == [f"fraud-detector:v{n}" for n in range(3)]
    assert store.get_context_by_type_and_name("kf.RegisteredModel", "fraud-detector").id == context_id


def test_update_a_version(store):
    type_id = register_model_type(store)
    artifact = pb.Artifact(type_id=type_id, name="m:v1", uri="s3://m/1")
    artifact.properties["state"].string_value = "LIVE"
    [artifact_id] = store.put_artifacts([artifact])
    [stored] = store.get_artifacts_by_id([artifact_id])
    stored.properties["state"].string_value = "ARCHIVED"
    store.put_artifacts([stored])
    [again] = store.get_artifacts_by_id([artifact_id])
    assert again.properties["state"].string_value == "ARCHIVED"


def test_lookup_by_type_and_name(store):
    register_model_type(store)
    with pytest.raises(errors.NotFoundError):
        store.get_artifact_type("kf.Missing")
    assert store.get_artifact_by_type_and_name("kf.ModelVersion", "nope") is None


def test_duplicate_names_are_refused(store):
    type_id = register_model_type(store)
    store.put_artifacts([pb.Artifact(type_id=type_id, name="dup")])
    with pytest.raises(errors.AlreadyExistsError):
        store.put_artifacts([pb.Artifact(type_id=type_id, name="dup")])


def test_executions_and_events(store):
    type_id = register_model_type(store)
    run_type = store.put_execution_type(pb.ExecutionType(name="kf.Training"))
    [execution_id] = store.put_executions([pb.Execution(type_id=run_type, name="run-1")])
    [artifact_id] = store.put_artifacts([pb.Artifact(type_id=type_id, name="out")])
    store.put_events([pb.Event(artifact_id=artifact_id, execution_id=execution_id, type=pb.Event.OUTPUT)])
    [event] = store.get_events_by_execution_ids([execution_id])
    assert (event.artifact_id, event.type) == (artifact_id, pb.Event.OUTPUT)


def test_paging(store):
    type_id = register_model_type(store)
    store.put_artifacts([pb.Artifact(type_id=type_id, name=f"a{i:02d}") for i in range(25)])
    first = store.get_artifacts(list_options=ListOptions(limit=10, order_by=OrderByField.ID))
    assert [a.name for a in first] == [f"a{i:02d}" for i in range(10)]
    assert len(store.get_artifacts()) == 25
