"""A real consumer: TFX's light SDK (ml-pipelines-sdk) on the drop-in wheel.

tfx.orchestration.metadata.Metadata registers a pipeline's contexts,
publishes an execution with an input and an output artifact and reads the
lineage back, through the reference server at MLMD_HOST:MLMD_PORT; and a
ConnectionConfig fails at once with the remote-only error (Metadata retries
every RuntimeError ten times with random sleeps, so the error must not be
one).
"""

import os
import time
import uuid

import pytest

from ml_metadata import errors
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import data_types
from tfx.orchestration import metadata
from tfx.types import artifact


# The SDK's standard artifact classes need the full tfx package; artifact
# types of one's own are how pipelines built on the SDK alone declare them.
class Examples(artifact.Artifact):
    TYPE_NAME = "ConsumerSuite.Examples"


class Model(artifact.Artifact):
    TYPE_NAME = "ConsumerSuite.Model"


def grpc_config():
    return metadata_store_pb2.MetadataStoreClientConfig(
        host=os.environ.get("MLMD_HOST") or "127.0.0.1", port=int(os.environ["MLMD_PORT"]),
        client_timeout_sec=60)


def test_a_pipeline_run_and_its_lineage_through_the_server(tmp_path):
    pipeline_info = data_types.PipelineInfo(pipeline_name=f"p-{uuid.uuid4().hex[:8]}",
                                            pipeline_root=str(tmp_path), run_id="run-1")
    component_info = data_types.ComponentInfo(component_type="tfx.components.Trainer",
                                              component_id="Trainer", pipeline_info=pipeline_info)
    with metadata.Metadata(grpc_config()) as m:
        contexts = m.register_pipeline_contexts_if_not_exists(pipeline_info)
        assert {c.name for c in contexts} == {pipeline_info.pipeline_context_name,
                                             pipeline_info.pipeline_run_context_name}
        examples = Examples()
        examples.uri = str(tmp_path / "examples")
        m.publish_artifacts([examples])
        execution = m.register_execution(pipeline_info=pipeline_info, component_info=component_info,
                                         contexts=contexts, input_artifacts={"examples": [examples]})
        model = Model()
        model.uri = str(tmp_path / "model")
        m.publish_execution(component_info=component_info, output_artifacts={"model": [model]})

        events = m.store.get_events_by_execution_ids([execution.id])
        lineage = {(e.type, e.artifact_id) for e in events}
        assert (metadata_store_pb2.Event.INPUT, examples.id) in lineage
        assert (metadata_store_pb2.Event.OUTPUT, model.id) in lineage
        [produced_by] = {e.execution_id for e in m.store.get_events_by_artifact_ids([model.id])}
        assert produced_by == execution.id
        outputs = m.get_outputs_of_execution(execution.id)
        assert [a.uri for a in outputs["model"]] == [model.uri]
        in_run = m.store.get_artifacts_by_context(m.get_pipeline_run_context(pipeline_info).id)
        assert {examples.id, model.id} <= {a.id for a in in_run}


def test_a_connection_config_fails_at_once_with_the_remote_only_error(monkeypatch):
    slept = []
    monkeypatch.setattr(metadata.time, "sleep", slept.append)
    started = time.monotonic()
    with pytest.raises(errors.RemoteOnlyError) as raised:
        with metadata.Metadata(metadata.sqlite_metadata_connection_config("/tmp/tfx.sqlite")):
            pass
    seconds = time.monotonic() - started
    # Metadata sleeps before every retry: none means it gave up at the first attempt.
    assert slept == []
    assert "remote-only" in str(raised.value)
    print(f"Metadata(ConnectionConfig) failed after {seconds:.3f} s")
