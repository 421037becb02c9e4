package actorpool_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
	"github.com/flyteactors/flyteactors/go/contract"
)

// podState is how pod of spec's environment is doing.
func podState(spec actorpool.EnvironmentSpec, pod, problem string) actorpool.ExecutorPodState {
	return actorpool.ExecutorPodState{Namespace: "ns", EnvironmentID: spec.Key.ID(), Pod: pod, Problem: problem}
}

// TestPodProblemIsTheWaitingReasonUntilTheStartTimeout: a queued task says why its
// environment's pod does not run, and fails, naming the pod and the reason, after the start timeout.
func TestPodProblemIsTheWaitingReasonUntilTheStartTimeout(t *testing.T) {
	cluster := pooltest.NewCluster()
	opts := testOptions()
	opts.StartTimeout = 400 * time.Millisecond
	f := newPoolFixtureWith(t, cluster, opts)
	spec := pooltest.Spec("env", time.Hour)
	start := time.Now()
	f.submit(t, spec, "a")
	eventuallyPhase(t, f.pool, "a", actorpool.TaskQueued)
	cluster.SetPod(podState(spec, "pod-1", `container actor: ImagePullBackOff: Back-off pulling image "nope:1"`))
	require.Eventually(t, func() bool {
		s, _ := f.pool.Status("a")
		return strings.Contains(s.Waiting, "pod pod-1: container actor: ImagePullBackOff")
	}, 5*time.Second, 5*time.Millisecond)

	s := eventuallyPhase(t, f.pool, "a", actorpool.TaskFailed)
	assert.GreaterOrEqual(t, time.Since(start), 400*time.Millisecond)
	failure, _ := s.Failure()
	assert.Equal(t, contract.CodeExecutorCannotStart, failure.Code)
	assert.Equal(t, actorpool.FailureSystem, failure.Kind)
	assert.True(t, failure.Retryable, "a pull can heal: Flyte may try again")
	assert.Contains(t, failure.Message, "no executor of environment env started within 400ms")
	assert.Contains(t, failure.Message, `pod pod-1: container actor: ImagePullBackOff: Back-off pulling image "nope:1"`)
}

// TestPermanentPodProblemFailsTasksAtOnce: a problem that cannot heal fails the queued
// tasks now, and later ones at submission; no more pods are made for the environment.
func TestPermanentPodProblemFailsTasksAtOnce(t *testing.T) {
	cluster := pooltest.NewCluster()
	f := newPoolFixtureWith(t, cluster, testOptions())
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	require.Eventually(t, func() bool { return cluster.Ensured(spec.Key.ID()) == 1 }, 5*time.Second, 5*time.Millisecond)
	broken := podState(spec, "pod-1", "container actor: InvalidImageName: couldn't parse image name")
	broken.Permanent = true
	cluster.SetPod(broken)

	s := eventuallyPhase(t, f.pool, "a", actorpool.TaskFailed)
	failure, _ := s.Failure()
	assert.Equal(t, contract.CodeExecutorCannotStart, failure.Code)
	assert.False(t, failure.Retryable)
	assert.Contains(t, failure.Message, "executor pod pod-1 of environment env cannot start: container actor: InvalidImageName")
	f.submit(t, spec, "b")
	assert.Equal(t, actorpool.TaskFailed, phaseOf(t, f.pool, "b"), "a later task fails at once")
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, 1, cluster.EnsureCalls(spec.Key.ID()), "no more pods for a broken environment")
}

// TestEndedPodsAreReplacedWithBackoff: pods that keep failing are replaced ever more slowly,
// never in a tight loop; an executor that attaches resets the backoff.
func TestEndedPodsAreReplacedWithBackoff(t *testing.T) {
	cluster := pooltest.NewCluster()
	opts := testOptions()
	opts.RetryInterval = 50 * time.Millisecond
	f := newPoolFixtureWith(t, cluster, opts)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	require.Eventually(t, func() bool { return cluster.Ensured(spec.Key.ID()) == 1 }, 5*time.Second, 5*time.Millisecond)
	var gaps []time.Duration
	for i := range 4 {
		ended := podState(spec, fmt.Sprint("pod-", i), "container actor exited with code 1 (Error)")
		ended.Ended = true
		before := time.Now()
		cluster.SetPod(ended)
		require.Eventually(t, func() bool { return cluster.Ensured(spec.Key.ID()) == i+2 }, 5*time.Second, time.Millisecond)
		gaps = append(gaps, time.Since(before))
	}
	t.Logf("replaced after %v", gaps)
	assert.GreaterOrEqual(t, gaps[0], 50*time.Millisecond)
	assert.GreaterOrEqual(t, gaps[3], 400*time.Millisecond, "50, 100, 200, 400 ms")
	assert.Greater(t, gaps[3], 2*gaps[1])
}
