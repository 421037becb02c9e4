package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/actorpool/kubepods"
	"github.com/flyteactors/flyteactors/tests/harness"
)

// startTimeout is plugins.actor.start-timeout on the stacks of these tests.
const startTimeout = 5 * time.Second

// TestExecutorPodCannotStart: each cause of "cannot start" ends its task in the right
// phase, with the reason in the message, within the configured time, without a tight loop of pods;
// while it waits, the task says why. All causes run at once on one stack.
func TestExecutorPodCannotStart(t *testing.T) {
	ctx := context.Background()
	stack := harness.Start(t, workflowSrc(t), harness.Options{StartTimeout: startTimeout})
	reg, err := stack.Serialize(ctx, workflowSrc(t), "localhost/flytekit:local", "executorpods")
	require.NoError(t, err)
	// A cause that heals fails each attempt after the start timeout, on the system retry budget
	// (propeller's default: 3 more attempts); one that cannot heal fails at once.
	healable := 4*startTimeout + 20*time.Second
	cases := []struct {
		workflow, environment, reason string
		within                        time.Duration
	}{
		{"invalid_image_wf", "invalid-image", "InvalidImageName", 15 * time.Second},
		{"without_flytekit_wf", "without-flytekit", "No module named", 20 * time.Second},
		{"python_crashes_wf", "python-crashes", "Segmentation fault", 20 * time.Second},
		{"unpullable_image_wf", "unpullable-image", "ImagePullBackOff", healable},
		{"missing_secret_wf", "missing-secret", `CreateContainerConfigError: env DB_PASSWORD: secret "db-credentials" not found`, healable},
		{"unschedulable_wf", "unschedulable", "Unschedulable: 0/1 nodes are available: 1 Insufficient cpu.", healable},
	}
	var wg sync.WaitGroup
	for _, tc := range cases {
		wg.Go(func() {
			t.Run(tc.environment, func(t *testing.T) {
				start := time.Now()
				exec, err := stack.Launch(ctx, reg, "executorpods.cannot_start."+tc.workflow, nil)
				require.NoError(t, err)
				require.Error(t, exec.Wait(ctx, 3*time.Minute), "a task whose executor cannot start fails")
				took := time.Since(start)
				require.NotNil(t, exec.Workflow, "the execution failed")
				node := exec.Workflow.Status.NodeStatus["n0"]
				require.NotNil(t, node)
				execErr := node.GetExecutionError()
				require.NotNil(t, execErr, "the node carries its error")
				t.Logf("%s: failed after %s: [%s %s] %s", tc.environment, took.Round(time.Millisecond), execErr.GetKind(), execErr.GetCode(), execErr.GetMessage())
				assert.Contains(t, execErr.GetCode(), "ExecutorCannotStart")
				if tc.within == healable {
					// Each attempt failed as the system's: after the system retries, propeller reports
					// RetriesExhausted with the last attempt's error.
					assert.Contains(t, execErr.GetMessage(), "SYSTEM::no executor of environment "+tc.environment+" started within 5s")
				} else {
					assert.Equal(t, idlcore.ExecutionError_SYSTEM, execErr.GetKind())
				}
				assert.Contains(t, execErr.GetMessage(), tc.reason, "the reason reaches the user")
				assert.Contains(t, execErr.GetMessage(), "actor-"+tc.environment+"-", "the message names the pod")
				assert.Less(t, took, tc.within)
				if tc.within == healable {
					reasons := waitingReasons(stack, exec)
					assert.True(t, containsAny(reasons, tc.reason), "while it waited, the task said why (in its events): %q", reasons)
				}
				assert.Equal(t, 1, podsCreated(ctx, t, stack, tc.environment), "one pod: no tight loop")
			})
		})
	}
	wg.Wait()
}

// waitingReasons returns the reasons the task events of exec gave while it waited for an executor:
// what the Flyte UI shows.
func waitingReasons(stack *harness.Stack, exec *harness.Execution) []string {
	var reasons []string
	for _, e := range stack.Admin.TaskEvents(exec.Name) {
		if e.GetPhase() == idlcore.TaskExecution_WAITING_FOR_RESOURCES || e.GetPhase() == idlcore.TaskExecution_QUEUED {
			for _, r := range e.GetReasons() {
				reasons = append(reasons, r.GetReason())
			}
		}
	}
	return reasons
}

func containsAny(texts []string, part string) bool {
	for _, s := range texts {
		if strings.Contains(s, part) {
			return true
		}
	}
	return false
}

// podsCreated counts the executor pods made for environment name, from the events on its anchor.
func podsCreated(ctx context.Context, t *testing.T, stack *harness.Stack, name string) int {
	events, err := stack.Kube.CoreV1().Events(stack.Namespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	n := 0
	for _, e := range events.Items {
		if e.Reason == kubepods.EventCreatedExecutorPod && strings.Contains(e.Message, "actor-"+name+"-") {
			n++
		}
	}
	return n
}

// TestExecutorPodRunsAnImageWithoutTheExecutor: the task image holds Python, flytekit and
// flyteactors, not the executor; an init container installs it from the executor image into a volume,
// and the executor runs from there.
func TestExecutorPodRunsAnImageWithoutTheExecutor(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "executorpods")
	exec, err := stack.Run(ctx, reg, "executorpods.cannot_start.injected_wf", nil, 3*time.Minute)
	require.NoError(t, err)
	executorPath := exec.Outputs.GetLiterals()["o0"].GetScalar().GetPrimitive().GetStringValue()

	pods, err := stack.ExecutorPods(ctx)
	require.NoError(t, err)
	require.Len(t, pods, 1)
	pod := pods[0]
	require.Len(t, pod.Spec.InitContainers, 1)
	assert.Equal(t, harness.ExecutorImage, pod.Spec.InitContainers[0].Image)
	assert.Equal(t, []string{"/flyte-actor/actor-executor"}, pod.Spec.Containers[0].Command)
	assert.Equal(t, filepath.Join("pods", string(pod.UID), "flyte-actor-executor", "actor-executor"),
		executorPath[strings.Index(executorPath, "pods/"):], "the task's parent is the executor installed into the pod's volume")
	_, err = os.Stat(executorPath)
	assert.NoError(t, err)
	assert.NotContains(t, os.Getenv("PATH"), filepath.Dir(executorPath))
}

// TestExecutorPodIsReplacedWhenItDies: an executor pod that dies (its node went, it was
// killed) is replaced after a short backoff; the next task runs on the new pod, and the environment
// never has more pods than replica_count.
func TestExecutorPodIsReplacedWhenItDies(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "actors")
	x := func(v int64) map[string]*idlcore.Literal {
		return map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(v)}
	}
	_, err := stack.Run(ctx, reg, "actors.chain.chain", x(1), 3*time.Minute)
	require.NoError(t, err)
	pods, err := stack.ExecutorPods(ctx)
	require.NoError(t, err)
	require.Len(t, pods, 1)
	first := pods[0].Namespace + "/" + pods[0].Name
	require.NoError(t, stack.Kubelet.Crash(first))

	require.Eventually(t, func() bool {
		pods, err := stack.ExecutorPods(ctx)
		return err == nil && len(pods) == 1 && pods[0].Namespace+"/"+pods[0].Name != first
	}, time.Minute, 50*time.Millisecond, "the dead pod was replaced")
	exec, err := stack.Run(ctx, reg, "actors.chain.chain", x(1), 3*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, int64(4), exec.Outputs.GetLiterals()["o0"].GetScalar().GetPrimitive().GetInteger())
	assert.Equal(t, 2, podsCreated(ctx, t, stack, "chain-actor"), "one replacement, no more")
	started := stack.Kubelet.StartedPods()
	assert.Len(t, started, 2)
}

// TestExecutorPodDeletedMidTaskFinishesItsTask: deleting an executor pod (a node
// drain, a scale-down) lets its running task finish within the grace period: the task succeeds on
// its first attempt, and the environment goes on with a new pod.
func TestExecutorPodDeletedMidTaskFinishesItsTask(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "actors")
	exec, err := stack.Launch(ctx, reg, "actors.sleepy.sleepy", map[string]*idlcore.Literal{"seconds": coreutils.MustMakeLiteral(3.0)})
	require.NoError(t, err)
	var pod string
	require.Eventually(t, func() bool {
		pods, err := stack.ExecutorPods(ctx)
		if err != nil || len(pods) != 1 {
			return false
		}
		pod = pods[0].Name
		for _, line := range stack.Kubelet.Logs(stack.Namespace + "/" + pod) {
			if strings.Contains(line, "=== actor task") && strings.Contains(line, ": start at") {
				return true
			}
		}
		return false
	}, time.Minute, 20*time.Millisecond, "the task started")
	require.NoError(t, stack.Kube.CoreV1().Pods(stack.Namespace).Delete(ctx, pod, metav1.DeleteOptions{}))

	require.NoError(t, exec.Wait(ctx, 3*time.Minute))
	node := exec.Workflow.Status.NodeStatus["n0"]
	require.NotNil(t, node)
	assert.Equal(t, uint32(0), node.GetAttempts(), "the first attempt finished: nothing was lost")
	logs := strings.Join(stack.Kubelet.Logs(stack.Namespace+"/"+pod), "\n")
	assert.Contains(t, logs, "stopping (its pod is being deleted): no new tasks")
	assert.Contains(t, logs, "(ok=true)")
	_, err = stack.Run(ctx, reg, "actors.sleepy.sleepy", map[string]*idlcore.Literal{"seconds": coreutils.MustMakeLiteral(0.1)}, 3*time.Minute)
	require.NoError(t, err, "the environment goes on")
	assert.Equal(t, 2, podsCreated(ctx, t, stack, "sleepy-actor"))
}
