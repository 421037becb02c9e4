package plugin

import (
	"os"
	"testing"

	"github.com/flyteorg/flyte/flytestdlib/contextutils"
	"github.com/flyteorg/flyte/flytestdlib/promutils/labeled"
)

func TestMain(m *testing.M) {
	// Flyte's storage metrics are labeled; their keys must be set once per process.
	labeled.SetMetricKeys(contextutils.ProjectKey, contextutils.DomainKey, contextutils.WorkflowIDKey, contextutils.TaskIDKey)
	os.Exit(m.Run())
}
