package integration

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/tests/harness"
)

// workflowSrc is the Python source root of the test workflows (the "image" of the test pods).
func workflowSrc(t *testing.T) string {
	root, err := harness.RepoRoot()
	require.NoError(t, err)
	return filepath.Join(root, "tests", "workflows")
}

// startWith starts a stack and registers the given packages of tests/workflows on it, serialized by
// flytekit.
func startWith(t *testing.T, packages ...string) (*harness.Stack, *harness.Registration) {
	t.Helper()
	stack := harness.Start(t, workflowSrc(t), harness.Options{})
	t.Logf("stack started: %v", stack.Timings)
	reg, err := stack.Serialize(context.Background(), workflowSrc(t), "localhost/flytekit:local", packages...)
	require.NoError(t, err)
	return stack, reg
}

// TestHarnessRunsPlainPythonTasks proves the harness: an ordinary flytekit workflow of python tasks
// runs through propeller's real pod plugin, one pod per task, and its output is right.
func TestHarnessRunsPlainPythonTasks(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "basics")
	exec, err := stack.Run(ctx, reg, "basics.chain.chain", map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(41)}, 3*time.Minute)
	require.NoError(t, err)
	t.Logf("workflow %s took %s", exec.Name, exec.Duration())

	outputs := exec.Outputs.GetLiterals()
	assert.Equal(t, int64(44), outputs["o0"].GetScalar().GetPrimitive().GetInteger())
	pids := map[int64]bool{}
	for _, key := range []string{"o1", "o2", "o3"} {
		pids[outputs[key].GetScalar().GetPrimitive().GetInteger()] = true
	}
	assert.Len(t, pids, 3, "each task ran in a pod of its own")
	assert.Len(t, stack.Kubelet.StartedPods(), 3)
}

// TestHarnessRunsPlainDynamicWorkflow proves the harness's blob store for dynamic workflows: a @dynamic
// task of plain python tasks (one pod each) yields its subtasks' outputs.
func TestHarnessRunsPlainDynamicWorkflow(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "basics")
	exec, err := stack.Run(ctx, reg, "basics.dynamic.squares_wf", map[string]*idlcore.Literal{"n": coreutils.MustMakeLiteral(3)}, 3*time.Minute)
	require.NoError(t, err)
	var got []int64
	for _, l := range exec.Outputs.GetLiterals()["o0"].GetCollection().GetLiterals() {
		got = append(got, l.GetScalar().GetPrimitive().GetInteger())
	}
	assert.Equal(t, []int64{0, 1, 4}, got)
	assert.Len(t, stack.Kubelet.StartedPods(), 4, "the dynamic task and its three subtasks, one pod each")
}
