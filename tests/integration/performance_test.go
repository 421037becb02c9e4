package integration

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/kubepods"
	"github.com/flyteactors/flyteactors/tests/harness"
)

// TestLookaheadPrewarmStartsExecutorsWhileTheFirstStepRuns: a workflow whose first step is a pod task
// that takes longer than an executor's start, then three actor tasks of an environment nobody has used.
// Lookahead prewarm (on by default) starts the environment's executor when the workflow starts: it is
// running before the first step ends, it is the one environment the tasks use (built ahead exactly as the
// tasks' own attempts build it, or they would have made another), and it ran all three. Run with
// flyteadmin keeping the workflow's closure in the blob store too (useOffloadedWorkflowClosure), which
// prewarm reads back.
func TestLookaheadPrewarmStartsExecutorsWhileTheFirstStepRuns(t *testing.T) {
	for name, offload := range map[string]bool{"closure in the FlyteWorkflow": false, "closure offloaded": true} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			root, err := harness.RepoRoot()
			require.NoError(t, err)
			src := filepath.Join(root, "tests", "workflows")
			stack := harness.Start(t, src, harness.Options{OffloadWorkflowClosure: offload})
			reg, err := stack.Serialize(ctx, src, "localhost/flytekit:local", "bench")
			require.NoError(t, err)

			exec, err := stack.Run(ctx, reg, "bench.lookahead.behind_download_a",
				map[string]*idlcore.Literal{"seconds": coreutils.MustMakeLiteral(5.0)}, 5*time.Minute)
			require.NoError(t, err)
			assert.Equal(t, int64(4), intOf(exec.Outputs.GetLiterals()["o0"]))

			var download harness.ContainerRun
			for _, run := range stack.Kubelet.ContainerRuns() {
				if strings.HasPrefix(run.Pod, stack.Namespace+"/"+exec.Name+"-n0-") && !run.Init {
					download = run
				}
			}
			require.False(t, download.End.IsZero(), "the first step ran in a pod of its own")

			pods, err := stack.ExecutorPods(ctx)
			require.NoError(t, err)
			require.Len(t, pods, 1, "one environment, built ahead as the tasks build it")
			pod := pods[0]
			assert.Equal(t, "bench-lookahead-a", environmentName(t, pod.Annotations[kubepods.AnnotationEnvironment]))
			assert.True(t, pod.CreationTimestamp.Time.Before(download.Start.Add(3*time.Second)),
				"the executor pod was made when the workflow started (%s), not after its first step (%s to %s)",
				pod.CreationTimestamp.Time.Format(time.RFC3339Nano), download.Start.Format(time.RFC3339Nano), download.End.Format(time.RFC3339Nano))
			ready := podReadyAt(pod.Status.Conditions)
			require.False(t, ready.IsZero())
			assert.True(t, ready.Before(download.End), "the executor ran (%s) before the first step ended (%s)",
				ready.Format(time.RFC3339Nano), download.End.Format(time.RFC3339Nano))

			spans := executorSpans(ctx, t, stack)[pod.Name]
			assert.Len(t, spans, 3, "the executor ran the three actor tasks")
			for _, s := range spans {
				assert.True(t, strings.HasPrefix(s.TaskID, exec.Name+"-"), s.TaskID)
			}
			samples := scrape(t, stack)
			assert.Equal(t, 1.0, metricSum(samples, "prewarm:environments", nil))
			assert.Equal(t, 0.0, metricSum(samples, "prewarm:failures", nil))
		})
	}
}

// environmentName reads the name out of an executor pod's environment-key annotation.
func environmentName(t *testing.T, annotation string) string {
	t.Helper()
	var key actorpool.EnvironmentKey
	require.NoError(t, json.Unmarshal([]byte(annotation), &key), annotation)
	return key.Name
}

// podReadyAt is when a pod's Ready condition last became true, or zero.
func podReadyAt(conditions []corev1.PodCondition) time.Time {
	for _, c := range conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

// flyteCoreQueue is flyte-core's propeller queue settings, where a workflow woken through the workqueue
// waits at least 5 s (base delay), with the max-streak-length docs/performance.md recommends for actors.
var flyteCoreQueue = harness.FlyteCoreQueue(64)

// TestWaitingRoundsCarryAWarmChainWithoutWakeUps: under flyte-core's queue settings every wake-up of a
// workflow through propeller's workqueue waits at least 5 s. A task of 50 ms outlasts a round of
// propeller: without waiting, the round after its start finds nothing changed, the streak of rounds ends,
// and the task's end waits for a wake-up. A round that finds a short actor task running waits for it
// (plugins.actor.wait-in-round), so a warm chain of five such tasks moves from task to task in one streak
// of rounds, with no wake-up.
func TestWaitingRoundsCarryAWarmChainWithoutWakeUps(t *testing.T) {
	ctx := context.Background()
	root, err := harness.RepoRoot()
	require.NoError(t, err)
	src := filepath.Join(root, "tests", "workflows")
	stack := harness.Start(t, src, harness.Options{PropellerTuning: []string{flyteCoreQueue}})
	reg, err := stack.Serialize(ctx, src, "localhost/flytekit:local", "bench")
	require.NoError(t, err)
	x := map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(0)}
	run := func() time.Duration {
		exec, err := stack.Run(ctx, reg, "bench.actors.chain5_50ms", x, 5*time.Minute)
		require.NoError(t, err)
		assert.Equal(t, int64(5), intOf(exec.Outputs.GetLiterals()["o0"]))
		return exec.Duration()
	}
	run() // the environment starts, and the pool learns how long the task runs
	waiting := run()

	p := stack.Propellers()[0]
	p.Tune(flyteCoreQueue, "plugins:\n  actor:\n    wait-in-round:\n      max-wait: 0s\n")
	require.NoError(t, p.Restart(false))
	notWaiting := run()
	t.Logf("warm chain of five 50 ms tasks under flyte-core's queue settings: %s with waiting rounds, %s without", waiting, notWaiting)
	assert.Greater(t, notWaiting-waiting, 15*time.Second,
		"without waiting rounds each of the five tasks' ends waits for a wake-up of at least 5 s")
}
