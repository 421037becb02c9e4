package actorpool_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

// TestOnePodsWarmupTimeoutIsNotPermanent: an executor whose runtime was not warm in time ends its pod
// (kubepods reports it as RuntimeUnavailable, not permanent: another pod may be quicker). The queued
// tasks stay queued, a new pod is made, and the next executor runs them.
func TestOnePodsWarmupTimeoutIsNotPermanent(t *testing.T) {
	cluster := pooltest.NewCluster()
	opts := testOptions()
	opts.RetryInterval = 10 * time.Millisecond
	f := newPoolFixtureWith(t, cluster, opts)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a", "b")
	require.Eventually(t, func() bool { return cluster.Ensured(spec.Key.ID()) == 1 }, 5*time.Second, 5*time.Millisecond)
	slow := podState(spec, "pod-1", "container actor: the executor's Python runtime was not available (not ready in time, "+
		"or it could not be started again): not warm after 2m0s")
	slow.Ended, slow.Reason = true, "RuntimeUnavailable"
	cluster.SetPod(slow)
	require.Eventually(t, func() bool { return cluster.Ensured(spec.Key.ID()) == 2 }, 5*time.Second, 5*time.Millisecond,
		"the pod is replaced")
	assert.Equal(t, actorpool.TaskQueued, phaseOf(t, f.pool, "a"), "the queued tasks wait for the next executor")
	assert.Equal(t, actorpool.TaskQueued, phaseOf(t, f.pool, "b"))

	_, link, _ := f.attach(t, spec, "pod-2", nil, nil)
	require.Eventually(t, func() bool { return len(link.Assignments()) > 0 }, 5*time.Second, 5*time.Millisecond,
		"the next executor gets them")
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

// TestWaitingReasonsAreBounded: many failing replicas give a waiting reason and a failure message within
// their bounds; replicas with the same problem say it once.
func TestWaitingReasonsAreBounded(t *testing.T) {
	cluster := pooltest.NewCluster()
	opts := testOptions()
	opts.StartTimeout = 300 * time.Millisecond
	f := newPoolFixtureWith(t, cluster, opts)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	eventuallyPhase(t, f.pool, "a", actorpool.TaskQueued)
	same := "container actor: ImagePullBackOff: " + strings.Repeat("the registry said no. ", 20)
	for i := range 50 {
		cluster.SetPod(podState(spec, fmt.Sprintf("pod-%02d", i), same))
	}
	for i := range 200 {
		cluster.SetPod(podState(spec, fmt.Sprintf("other-%03d", i), fmt.Sprintf("problem %d: %s", i, strings.Repeat("é", 300))))
	}
	var s actorpool.TaskStatus
	require.Eventually(t, func() bool {
		s, _ = f.pool.Status("a")
		return strings.Contains(s.Waiting, "ImagePullBackOff")
	}, 5*time.Second, 5*time.Millisecond)
	assert.LessOrEqual(t, len(s.Waiting), contract.MaxReasonBytes)
	assert.True(t, utf8.ValidString(s.Waiting))
	assert.Equal(t, 1, strings.Count(s.Waiting, "ImagePullBackOff"), "one problem, said once: %s", s.Waiting)
	assert.Contains(t, s.Waiting, "pods pod-00, pod-01, pod-02 and 47 more: container actor: ImagePullBackOff")

	s = eventuallyPhase(t, f.pool, "a", actorpool.TaskFailed)
	failure, _ := s.Failure()
	assert.LessOrEqual(t, len(failure.Message), contract.MaxFailureMessageBytes)
	assert.True(t, utf8.ValidString(failure.Message))
}

// TestPodOfAnotherNamespaceIsIgnored: a pod in another namespace that carries an environment's label,
// with a problem that cannot heal, neither changes the environment's reason nor fails its tasks.
func TestPodOfAnotherNamespaceIsIgnored(t *testing.T) {
	cluster := pooltest.NewCluster()
	f := newPoolFixtureWith(t, cluster, testOptions())
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	require.Eventually(t, func() bool { return cluster.Ensured(spec.Key.ID()) == 1 }, 5*time.Second, 5*time.Millisecond)
	forged := podState(spec, "intruder", "container actor: InvalidImageName: on purpose")
	forged.Namespace, forged.Permanent = "attacker", true
	cluster.SetPod(forged)
	forged.Ended = true
	cluster.SetPod(forged)

	time.Sleep(50 * time.Millisecond)
	s, _ := f.pool.Status("a")
	assert.Equal(t, actorpool.TaskQueued, s.Phase())
	assert.NotContains(t, s.Waiting, "intruder")
	e, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	eventuallyPhase(t, f.pool, "a", actorpool.TaskAssigned)
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "a"})
	eventuallyPhase(t, f.pool, "a", actorpool.TaskSucceeded)
}

// TestDeletedPodsDoNotBackOffReplacement: a node drain that deletes or evicts an environment's pods is
// no failure of the environment: each is replaced at once, not after a backoff that grows with each.
func TestDeletedPodsDoNotBackOffReplacement(t *testing.T) {
	cluster := pooltest.NewCluster()
	opts := testOptions()
	opts.RetryInterval = time.Second
	f := newPoolFixtureWith(t, cluster, opts)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	require.Eventually(t, func() bool { return cluster.Ensured(spec.Key.ID()) == 1 }, 5*time.Second, 5*time.Millisecond)
	for i := range 8 {
		deleted := podState(spec, fmt.Sprint("pod-", i), "the pod was deleted")
		deleted.Ended, deleted.Deleted = true, true
		cluster.SetPod(deleted)
		require.Eventually(t, func() bool { return cluster.Ensured(spec.Key.ID()) == i+2 }, 500*time.Millisecond, time.Millisecond,
			"pod %d replaced within a backoff's first step", i)
	}
}

// TestInvalidExecutorPodFailsPermanently: a pod the API server refuses for good fails the environment's
// tasks at once, permanently, with the API server's message, instead of each waiting out the start
// timeout and being retried into the same refusal.
func TestInvalidExecutorPodFailsPermanently(t *testing.T) {
	cluster := pooltest.NewCluster()
	cluster.FailWith(fmt.Errorf("%w: pods \"actor-x\" is forbidden: violates PodSecurity \"restricted:latest\"", actorpool.ErrExecutorPodRefused))
	f := newPoolFixtureWith(t, cluster, testOptions())
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	s := eventuallyPhase(t, f.pool, "a", actorpool.TaskFailed)
	failure, _ := s.Failure()
	assert.False(t, failure.Retryable)
	assert.Equal(t, contract.CodeExecutorCannotStart, failure.Code)
	assert.Contains(t, failure.Message, `violates PodSecurity "restricted:latest"`)
	f.submit(t, spec, "b")
	assert.Equal(t, actorpool.TaskFailed, phaseOf(t, f.pool, "b"), "later tasks fail at submission")
}
