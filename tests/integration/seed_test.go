package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/admin"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
)

// TestSeedHelloWorld runs the seed's first example as given: its workflow has no output, so the
// greeting is read from the task node's outputs.
func TestSeedHelloWorld(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "seed")
	exec, err := stack.Run(ctx, reg, "seed.hello_world.wf", nil, 3*time.Minute)
	require.NoError(t, err)
	outputs, err := exec.NodeOutputs(ctx, "n0")
	require.NoError(t, err)
	assert.Equal(t, "hello", stringOf(outputs.GetLiterals()["o0"]))

	spans := executorSpans(ctx, t, stack)
	require.Len(t, spans, 1, "replica_count=1: one executor pod")
	for _, s := range spans {
		assert.Len(t, s, 1, "say_hello ran on the executor")
	}
	assert.Len(t, stack.Kubelet.StartedPods(), 1, "no pod per task")
}

// TestSeedMultipleInstances runs the seed's second example: four chained calls of one actor task, all
// on the environment's one executor.
func TestSeedMultipleInstances(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "seed")
	exec, err := stack.Run(ctx, reg, "seed.multiple_instances.wf", map[string]*idlcore.Literal{"input": coreutils.MustMakeLiteral(0)}, 3*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, int64(4), intOf(exec.Outputs.GetLiterals()["o0"]))

	spans := executorSpans(ctx, t, stack)
	require.Len(t, spans, 1, "replica_count=1: one executor pod")
	for _, s := range spans {
		assert.Len(t, s, 4, "the four plus_one calls ran on the one executor")
	}
	assert.Len(t, stack.Kubelet.StartedPods(), 1, "no pod per task")
}

// TestSeedMultipleTasks runs the seed's third example: say_hello in the parent, scream_hello in a
// subworkflow and again in a child launch plan, which propeller launches through flyteadmin as an
// execution of its own; all three tasks run in the environment's one executor pod.
func TestSeedMultipleTasks(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "seed")
	exec, err := stack.Run(ctx, reg, "seed.multiple_tasks.my_parent_wf", map[string]*idlcore.Literal{"name": coreutils.MustMakeLiteral("x")}, 3*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, "HELLO HELLO hello x", stringOf(exec.Outputs.GetLiterals()["o0"]))

	children := stack.ChildExecutions(exec)
	require.Len(t, children, 1, "the launch plan node launched one child execution")
	child := children[0]
	require.NoError(t, child.Refresh(ctx))
	assert.Equal(t, idlcore.WorkflowExecution_SUCCEEDED, child.Phase)
	got, err := stack.Admin.GetExecution(ctx, &admin.WorkflowExecutionGetRequest{Id: child.ID})
	require.NoError(t, err)
	assert.Equal(t, admin.ExecutionMetadata_CHILD_WORKFLOW, got.GetSpec().GetMetadata().GetMode())
	assert.Equal(t, "seed.multiple_tasks.my_child_wf", got.GetClosure().GetWorkflowId().GetName())
	data, err := stack.Admin.GetExecutionData(ctx, &admin.WorkflowExecutionGetDataRequest{Id: child.ID})
	require.NoError(t, err)
	assert.Equal(t, "HELLO hello x", stringOf(data.GetFullInputs().GetLiterals()["name"]))
	assert.Equal(t, "HELLO HELLO hello x", stringOf(data.GetFullOutputs().GetLiterals()["o0"]))

	spans := executorSpans(ctx, t, stack)
	require.Len(t, spans, 1, "replica_count=1: one executor pod for parent and child executions")
	for _, s := range spans {
		require.Len(t, s, 3, "say_hello, scream_hello in the subworkflow, scream_hello in the child execution")
		inChild := 0
		for _, span := range s {
			if strings.HasPrefix(span.TaskID, child.Name) {
				inChild++
			}
		}
		assert.Equal(t, 1, inChild, "one task belongs to the child execution: %v", s)
	}
	assert.Len(t, stack.Kubelet.StartedPods(), 1, "no pod per task")
}

// TestSeedCustomPodTemplates runs the seed's fourth example: the environment's pod template shapes the
// executor pod (its variable and resources), and a variable the first task sets in the warm process is
// still there for the second (actor state).
func TestSeedCustomPodTemplates(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "seed")
	exec, runErr := stack.Run(ctx, reg, "seed.custom_pod_templates.wf", nil, 3*time.Minute)
	require.NotNil(t, exec, "launched: %v", runErr)

	pods, err := stack.ExecutorPods(ctx)
	require.NoError(t, err)
	require.Len(t, pods, 1, "replica_count=1: one executor pod")
	primary := pods[0].Spec.Containers[0]
	for _, c := range pods[0].Spec.Containers {
		if c.Name == "primary" {
			primary = c
		}
	}
	assert.Equal(t, "primary", primary.Name, "the pod template's primary container runs the executor")
	assert.Contains(t, primary.Env, corev1.EnvVar{Name: "COMP_KEY_EX", Value: "compile_time"})
	assert.True(t, primary.Resources.Requests.Cpu().Equal(resource.MustParse("1")), "cpu request %v", primary.Resources.Requests.Cpu())
	assert.True(t, primary.Resources.Limits.Memory().Equal(resource.MustParse("1Gi")), "memory limit %v", primary.Resources.Limits.Memory())
	assert.Len(t, stack.Kubelet.StartedPods(), 1, "no pod per task")

	first, err := exec.NodeOutputs(ctx, "n0")
	require.NoError(t, err)
	assert.Equal(t, "compile_time", stringOf(first.GetLiterals()["o0"]), "get_and_set sees the pod template's variable")
	require.NoError(t, runErr, "check_set must see RUN_KEY_EX, which get_and_set set in the same warm process")
	assert.Equal(t, "compile_time", stringOf(exec.Outputs.GetLiterals()["o0"]))
	assert.Equal(t, "run_time", stringOf(exec.Outputs.GetLiterals()["o1"]))
}
