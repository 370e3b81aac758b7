"""The .proto rewriting that makes containerd's files protoc-ready for Python."""
from __future__ import annotations

import pytest

from pyrunc.shim import protogen

GO_STYLE = '''syntax = "proto3";
package containerd.task.v2;
import "google/protobuf/timestamp.proto";
import weak "gogoproto/gogo.proto";
import "gogoproto/gogo.proto";
import weak "github.com/containerd/containerd/protobuf/plugin/fieldpath.proto";
import "github.com/containerd/containerd/api/types/mount.proto";
option (containerd.plugin.fieldpath_all) = true;
enum Status {
	option (gogoproto.goproto_enum_prefix) = false;
	UNKNOWN = 0 [(gogoproto.enumvalue_customname) = "StatusUnknown"];
}
message M {
	google.protobuf.Timestamp at = 1 [(gogoproto.stdtime) = true, (gogoproto.nullable) = false];
	uint32 pid = 2;
}
'''


def test_go_options_and_imports_go_and_import_paths_are_ours() -> None:
    text = protogen.rewrite(GO_STYLE)
    assert "gogoproto" not in text and "containerd.plugin" not in text and "fieldpath" not in text
    assert 'import "pyrunc/shim/proto/types/mount.proto";' in text
    assert 'import "google/protobuf/timestamp.proto";' in text
    assert "google.protobuf.Timestamp at = 1;" in text
    assert "UNKNOWN = 0;" in text and "uint32 pid = 2;" in text


def test_an_option_it_does_not_know_stops_the_build() -> None:
    with pytest.raises(SystemExit, match="option the generator does not handle"):
        protogen.rewrite('message M {\n\tstring a = 1 [deprecated = true, (gogoproto.moretags) = "x"];\n}\n')


def test_every_source_is_generated_and_importable() -> None:
    from pyrunc.shim.proto.cgroups import metrics_pb2
    from pyrunc.shim.proto.events import task_pb2, ttrpc_events_pb2
    from pyrunc.shim.proto.options import oci_pb2
    from pyrunc.shim.proto.task import shim_pb2
    assert shim_pb2.DESCRIPTOR.services_by_name["Task"].full_name == "containerd.task.v2.Task"
    assert ttrpc_events_pb2.DESCRIPTOR.services_by_name["Events"].full_name == \
        "containerd.services.events.ttrpc.v1.Events"
    assert task_pb2.TaskExit.DESCRIPTOR.full_name == "containerd.events.TaskExit"
    assert metrics_pb2.Metrics.DESCRIPTOR.full_name == "io.containerd.cgroups.v1.Metrics"
    assert oci_pb2.Options.DESCRIPTOR.full_name == "containerd.runc.v1.Options"

