package actorpool_test

import (
	"context"
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

func TestSubmitRunsTaskToSuccess(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)

	f.submit(t, spec, "a", "a") // submit is idempotent
	s := eventuallyPhase(t, f.pool, "a", actorpool.TaskQueued)
	require.Eventually(t, func() bool {
		s, _ = f.pool.Status("a")
		return strings.Contains(s.Waiting, "waiting for executors: 0/1 ready in environment env")
	}, 5*time.Second, 2*time.Millisecond, s.Waiting)

	e, link, cancel := f.attach(t, spec, "pod-1", nil, nil)
	assert.Empty(t, cancel)
	assert.Equal(t, []string{"assign a"}, link.Messages(), "the queued task is pushed at once, once")
	assert.Equal(t, actorpool.TaskAssigned, phaseOf(t, f.pool, "a"))

	f.pool.TaskStarted(e, "a", time.Now())
	assert.Equal(t, actorpool.TaskRunning, phaseOf(t, f.pool, "a"))

	f.pool.TaskFinished(e, actorpool.Result{TaskID: "a", StartedAt: time.Now(), FinishedAt: time.Now()})
	s, _ = f.pool.Status("a")
	assert.Equal(t, actorpool.TaskSucceeded, s.Phase())
	_, failed := s.Failure()
	assert.False(t, failed)
	assert.Equal(t, "pod-1", s.Executor)
	assert.GreaterOrEqual(t, f.wakeups.Count(), 3, "owner woken on assign, start and finish")

	assert.Equal(t, []string{"assign a"}, link.Messages(), "the result is not acknowledged before propeller took it")
	f.pool.Release("a")
	_, ok := f.pool.Status("a")
	assert.False(t, ok)
	assert.Equal(t, []string{"assign a", "ack a"}, link.Messages(), "released: the executor may forget the result")
}

func TestOneSlotRunsTasksInOrder(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a", "b", "c")
	e, link, _ := f.attach(t, spec, "pod-1", nil, nil)
	for i, id := range []string{"a", "b", "c"} {
		assert.Equal(t, actorpool.TaskAssigned, phaseOf(t, f.pool, id))
		for _, later := range []string{"a", "b", "c"}[i+1:] {
			assert.Equal(t, actorpool.TaskQueued, phaseOf(t, f.pool, later), "one slot: %s waits for %s", later, id)
		}
		f.pool.TaskFinished(e, actorpool.Result{TaskID: id})
		f.pool.Release(id)
	}
	assert.Equal(t, []string{"assign a", "assign b", "ack a", "assign c", "ack b", "ack c"}, link.Messages())
}

func TestReleaseOfRunningTaskCancelsIt(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a", "b")
	e, link, _ := f.attach(t, spec, "pod-1", nil, nil)
	f.pool.Release("a")
	assert.Equal(t, []string{"assign a", "cancel a"}, link.Messages())
	assert.Equal(t, actorpool.TaskQueued, phaseOf(t, f.pool, "b"), "b waits until a's slot is confirmed free")
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "a", Failure: &actorpool.Failure{Kind: actorpool.FailureSystem, Code: contract.CodeCancelled}})
	assert.Equal(t, []string{"assign a", "cancel a", "ack a", "assign b"}, link.Messages())
}

func TestSubmitRejectsInvalidTask(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	spec.Replicas = 0
	err := f.pool.Submit(context.Background(), pooltest.Task("a", spec))
	assert.ErrorContains(t, err, "replicas must be at least 1")
	_, ok := f.pool.Status("a")
	assert.False(t, ok)
}

func TestReleasingQueuedTasksKeepsOrderAndFreesThem(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	for i := range 200 {
		f.submit(t, spec, fmt.Sprint("t", i))
	}
	for i := range 199 {
		if i != 150 {
			f.pool.Release(fmt.Sprint("t", i))
		}
	}
	_, link, _ := f.attach(t, spec, "pod-1", nil, nil)
	assert.Equal(t, []string{"assign t150"}, link.Messages(), "the oldest task still wanted goes first")
}

// TestWaitingReasonChangeBumpsTheVersion: each new waiting reason comes with a new status version, so that
// propeller records it.
func TestWaitingReasonChangeBumpsTheVersion(t *testing.T) {
	cluster := pooltest.NewCluster()
	cluster.FailWith(fmt.Errorf("pods are forbidden"))
	f := newPoolFixtureWith(t, cluster, testOptions())
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	var first actorpool.TaskStatus
	require.Eventually(t, func() bool {
		first, _ = f.pool.Status("a")
		return strings.Contains(first.Waiting, "pods are forbidden")
	}, 5*time.Second, 5*time.Millisecond)
	again, _ := f.pool.Status("a")
	assert.Equal(t, first.Version, again.Version, "the same reason, the same version")

	cluster.FailWith(nil)
	var later actorpool.TaskStatus
	require.Eventually(t, func() bool {
		later, _ = f.pool.Status("a")
		return strings.Contains(later.Waiting, "waiting for executors")
	}, 5*time.Second, 5*time.Millisecond)
	assert.Greater(t, later.Version, first.Version, "a new reason, a new version")
}

func TestPrewarmStartsTheEnvironmentBeforeItsFirstTask(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	started, err := f.pool.Prewarm(context.Background(), spec)
	require.NoError(t, err)
	assert.True(t, started)
	require.Eventually(t, func() bool { return f.cluster.Ensured(spec.Key.ID()) == 1 }, 5*time.Second, 2*time.Millisecond,
		"the executors start with no task submitted")

	again, err := f.pool.Prewarm(context.Background(), spec)
	require.NoError(t, err)
	assert.False(t, again, "an environment the pool runs is left as it is")

	// The first task finds the executor warm: assigned at once.
	_, link, _ := f.attach(t, spec, "pod-1", nil, nil)
	f.submit(t, spec, "a")
	assert.Equal(t, actorpool.TaskAssigned, phaseOf(t, f.pool, "a"))
	assert.Equal(t, []string{"assign a"}, link.Messages())
	assert.Equal(t, 1, f.cluster.Ensured(spec.Key.ID()), "the task used the prewarmed environment")
}

func TestPrewarmedEnvironmentNobodyUsesGoesAfterItsTTL(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", 50*time.Millisecond)
	_, err := f.pool.Prewarm(context.Background(), spec)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return f.cluster.Deleted(spec.Key.ID()) == 1 }, 5*time.Second, 5*time.Millisecond)
}

func TestPrewarmRefusesAnInvalidSpec(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	spec.Replicas = 0
	_, err := f.pool.Prewarm(context.Background(), spec)
	assert.ErrorContains(t, err, "replicas must be at least 1")
}

func TestAwaitEndWaitsForATaskThatTypicallyEndsWithinTheBudget(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	_, err := f.pool.Prewarm(context.Background(), spec)
	require.NoError(t, err)
	e, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	run := func(id string, took time.Duration) {
		f.submit(t, spec, id)
		start := time.Now()
		f.pool.TaskFinished(e, actorpool.Result{TaskID: id, StartedAt: start, FinishedAt: start.Add(took)})
		f.pool.Release(id)
	}
	// Not run yet: nothing to go by, no wait.
	f.submit(t, spec, "first")
	begin := time.Now()
	s, ok := f.pool.AwaitEnd(context.Background(), "first", time.Second)
	require.True(t, ok)
	assert.Equal(t, actorpool.TaskAssigned, s.Phase())
	assert.Less(t, time.Since(begin), 500*time.Millisecond)
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "first", StartedAt: time.Now(), FinishedAt: time.Now().Add(time.Millisecond)})
	f.pool.Release("first")

	run("second", 2*time.Millisecond)
	f.submit(t, spec, "third")
	go func() {
		time.Sleep(20 * time.Millisecond)
		f.pool.TaskFinished(e, actorpool.Result{TaskID: "third", StartedAt: time.Now(), FinishedAt: time.Now()})
	}()
	s, ok = f.pool.AwaitEnd(context.Background(), "third", 10*time.Second)
	require.True(t, ok)
	assert.Equal(t, actorpool.TaskSucceeded, s.Phase(), "returns as the task ends")
	f.pool.Release("third")

	// A task that typically runs longer than the budget is not waited for.
	for i := range 8 {
		run(fmt.Sprintf("slow-%d", i), time.Minute)
	}
	f.submit(t, spec, "slow")
	begin = time.Now()
	s, _ = f.pool.AwaitEnd(context.Background(), "slow", 5*time.Second)
	assert.Equal(t, actorpool.TaskAssigned, s.Phase())
	assert.Less(t, time.Since(begin), time.Second)
}

func TestAwaitEndGivesUpAtTheBudget(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	e, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "a", StartedAt: time.Now(), FinishedAt: time.Now()})
	f.pool.Release("a")
	f.submit(t, spec, "b")
	begin := time.Now()
	s, ok := f.pool.AwaitEnd(context.Background(), "b", 50*time.Millisecond)
	require.True(t, ok)
	assert.Equal(t, actorpool.TaskAssigned, s.Phase())
	assert.GreaterOrEqual(t, time.Since(begin), 50*time.Millisecond)
	f.submit(t, spec, "queued")
	begin = time.Now()
	s, _ = f.pool.AwaitEnd(context.Background(), "queued", time.Second)
	assert.Equal(t, actorpool.TaskQueued, s.Phase(), "a queued task is not waited for")
	assert.Less(t, time.Since(begin), 500*time.Millisecond)
}
