package actorpool_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
	"github.com/flyteactors/flyteactors/go/contract"
)

type poolFixture struct {
	pool    *actorpool.Pool
	cluster *pooltest.Cluster
	wakeups *pooltest.Wakeups
	cancel  context.CancelFunc
}

func newPoolFixture(t *testing.T) *poolFixture {
	ctx, cancel := context.WithCancel(context.Background())
	f := &poolFixture{cluster: pooltest.NewCluster(), wakeups: &pooltest.Wakeups{}, cancel: cancel}
	f.pool = actorpool.New(ctx, f.cluster, f.wakeups.Notify, actorpool.Options{RetryInterval: 10 * time.Millisecond})
	t.Cleanup(func() {
		cancel()
		f.pool.Wait()
	})
	return f
}

// attach connects an executor once the environment is ready.
func (f *poolFixture) attach(t *testing.T, spec actorpool.EnvironmentSpec, pod string, running []string, held []actorpool.Result) (*actorpool.Session, *pooltest.Link, []string) {
	t.Helper()
	link := &pooltest.Link{}
	h := pooltest.Hello(spec, pod, 1)
	h.Running, h.Held = running, held
	s, cancel, err := pooltest.Attach(f.pool, h, link, 5*time.Second)
	require.NoError(t, err)
	return s, link, cancel
}

func phaseOf(t *testing.T, p *actorpool.Pool, id string) actorpool.TaskPhase {
	t.Helper()
	s, ok := p.Status(id)
	require.True(t, ok, "task %s unknown", id)
	return s.Phase()
}

func TestSubmitRunsTaskToSuccess(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	ctx := context.Background()

	require.NoError(t, f.pool.Submit(ctx, pooltest.Task("a", spec)))
	require.NoError(t, f.pool.Submit(ctx, pooltest.Task("a", spec)), "submit is idempotent")
	s, ok := f.pool.Status("a")
	require.True(t, ok)
	assert.Equal(t, actorpool.TaskQueued, s.Phase())
	assert.Contains(t, s.Waiting, "waiting for executors of environment env")

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
	assert.Equal(t, []string{"assign a", "ack a"}, link.Messages())
	assert.GreaterOrEqual(t, f.wakeups.Count(), 3, "owner woken on assign, start and finish")

	f.pool.Release("a")
	_, ok = f.pool.Status("a")
	assert.False(t, ok)
}

func TestOneSlotRunsTasksInOrder(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	for _, id := range []string{"a", "b", "c"} {
		require.NoError(t, f.pool.Submit(context.Background(), pooltest.Task(id, spec)))
	}
	e, link, _ := f.attach(t, spec, "pod-1", nil, nil)
	for i, id := range []string{"a", "b", "c"} {
		assert.Equal(t, actorpool.TaskAssigned, phaseOf(t, f.pool, id))
		for _, later := range []string{"a", "b", "c"}[i+1:] {
			assert.Equal(t, actorpool.TaskQueued, phaseOf(t, f.pool, later), "one slot: %s waits for %s", later, id)
		}
		f.pool.TaskFinished(e, actorpool.Result{TaskID: id})
	}
	assert.Equal(t, []string{"assign a", "ack a", "assign b", "ack b", "assign c", "ack c"}, link.Messages())
}

func TestExecutorLossFailsItsTasksRetryably(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	require.NoError(t, f.pool.Submit(context.Background(), pooltest.Task("a", spec)))
	e, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	f.pool.DetachExecutor(e, "stream closed")

	s, _ := f.pool.Status("a")
	require.Equal(t, actorpool.TaskFailed, s.Phase())
	failure, ok := s.Failure()
	require.True(t, ok)
	assert.Equal(t, actorpool.FailureSystem, failure.Kind)
	assert.True(t, failure.Retryable)
	assert.Equal(t, contract.CodeExecutorLost, failure.Code)

	// A late result from the lost session changes nothing.
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "a"})
	assert.Equal(t, actorpool.TaskFailed, phaseOf(t, f.pool, "a"))
}

func TestReconnectKeepsRunningTaskAndDeliversHeldResult(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	require.NoError(t, f.pool.Submit(context.Background(), pooltest.Task("a", spec)))
	f.attach(t, spec, "pod-1", nil, nil)

	// The same pod reconnects holding a's result: a succeeds, exactly once, and is acknowledged.
	_, link, cancel := f.attach(t, spec, "pod-1", nil, []actorpool.Result{{TaskID: "a"}})
	assert.Empty(t, cancel)
	assert.Equal(t, actorpool.TaskSucceeded, phaseOf(t, f.pool, "a"))
	assert.Equal(t, []string{"ack a"}, link.Messages())
}

func TestReconnectCancelsTasksThePoolDoesNotWant(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	require.NoError(t, f.pool.Submit(context.Background(), pooltest.Task("a", spec)))
	e, link, cancel := f.attach(t, spec, "pod-1", []string{"stranger"}, nil)
	assert.Equal(t, []string{"stranger"}, cancel)
	assert.Empty(t, link.Messages(), "the slot stays taken until the executor confirms the cancel")
	assert.Equal(t, actorpool.TaskQueued, phaseOf(t, f.pool, "a"))

	f.pool.TaskFinished(e, actorpool.Result{TaskID: "stranger"})
	assert.Equal(t, []string{"ack stranger", "assign a"}, link.Messages())
}

func TestRestartedPoolAdoptsRunningAttempt(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	// After a restart propeller submits again; the executor reports it is already running the attempt.
	require.NoError(t, f.pool.Submit(context.Background(), pooltest.Task("a", spec)))
	e, link, cancel := f.attach(t, spec, "pod-1", []string{"a"}, nil)
	assert.Empty(t, cancel)
	assert.Empty(t, link.Messages(), "not assigned a second time")
	assert.Equal(t, actorpool.TaskRunning, phaseOf(t, f.pool, "a"))
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "a"})
	assert.Equal(t, actorpool.TaskSucceeded, phaseOf(t, f.pool, "a"))
}

func TestReleaseOfRunningTaskCancelsIt(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	require.NoError(t, f.pool.Submit(context.Background(), pooltest.Task("a", spec)))
	require.NoError(t, f.pool.Submit(context.Background(), pooltest.Task("b", spec)))
	e, link, _ := f.attach(t, spec, "pod-1", nil, nil)
	f.pool.Release("a")
	assert.Equal(t, []string{"assign a", "cancel a"}, link.Messages())
	assert.Equal(t, actorpool.TaskQueued, phaseOf(t, f.pool, "b"), "b waits until a's slot is confirmed free")
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "a", Failure: &actorpool.Failure{Kind: actorpool.FailureSystem, Code: contract.CodeCancelled}})
	assert.Equal(t, []string{"assign a", "cancel a", "ack a", "assign b"}, link.Messages())
}

func TestAttachRefusesWrongTokenAndUnknownEnvironment(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	require.NoError(t, f.pool.Submit(context.Background(), pooltest.Task("a", spec)))
	f.attach(t, spec, "pod-1", nil, nil)

	_, _, err := f.pool.AttachExecutor(actorpool.ExecutorHello{EnvironmentID: spec.Key.ID(), PodName: "pod-2", Token: "nope", Slots: 1}, &pooltest.Link{})
	assert.ErrorIs(t, err, actorpool.ErrBadToken)
	_, _, err = f.pool.AttachExecutor(actorpool.ExecutorHello{EnvironmentID: "other", PodName: "pod-2", Token: "x", Slots: 1}, &pooltest.Link{})
	assert.ErrorIs(t, err, actorpool.ErrUnknownEnvironment)
	_, _, err = f.pool.AttachExecutor(actorpool.ExecutorHello{EnvironmentID: spec.Key.ID(), PodName: "pod-2", Token: "x", Slots: 0}, &pooltest.Link{})
	assert.ErrorIs(t, err, actorpool.ErrBadHello)
}

func TestIdleEnvironmentIsDeletedAfterTTL(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", 50*time.Millisecond)
	require.NoError(t, f.pool.Submit(context.Background(), pooltest.Task("a", spec)))
	e, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "a"})

	require.Eventually(t, func() bool {
		return f.cluster.Deleted(spec.Key.ID()) == 1
	}, 5*time.Second, 5*time.Millisecond)
	// The environment is gone: an executor of it is refused, and a new task creates it again.
	_, _, err := f.pool.AttachExecutor(actorpool.ExecutorHello{EnvironmentID: spec.Key.ID(), PodName: "pod-1", Token: pooltest.Token(spec.Key), Slots: 1}, &pooltest.Link{})
	assert.ErrorIs(t, err, actorpool.ErrUnknownEnvironment)
	require.NoError(t, f.pool.Submit(context.Background(), pooltest.Task("b", spec)))
	require.Eventually(t, func() bool {
		return f.cluster.Ensured(spec.Key.ID()) == 2
	}, 5*time.Second, 5*time.Millisecond)
}

func TestEnvironmentErrorIsShownWhileWaiting(t *testing.T) {
	f := newPoolFixture(t)
	f.cluster.FailWith(fmt.Errorf("pods are forbidden"))
	spec := pooltest.Spec("env", time.Hour)
	require.NoError(t, f.pool.Submit(context.Background(), pooltest.Task("a", spec)))
	require.Eventually(t, func() bool {
		s, _ := f.pool.Status("a")
		return s.Phase() == actorpool.TaskQueued && strings.Contains(s.Waiting, "pods are forbidden")
	}, 5*time.Second, 5*time.Millisecond)
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

func TestPoolGoroutinesStopWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := actorpool.New(ctx, pooltest.NewCluster(), func(types.NamespacedName) {}, actorpool.Options{})
	for i := range 5 {
		require.NoError(t, p.Submit(ctx, pooltest.Task(fmt.Sprint(i), pooltest.Spec(fmt.Sprint("env", i), time.Hour))))
	}
	cancel()
	done := make(chan struct{})
	go func() { p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("pool goroutines did not stop")
	}
}

func TestReleasingQueuedTasksKeepsOrderAndFreesThem(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	for i := range 200 {
		require.NoError(t, f.pool.Submit(context.Background(), pooltest.Task(fmt.Sprint("t", i), spec)))
	}
	for i := range 199 {
		if i != 150 {
			f.pool.Release(fmt.Sprint("t", i))
		}
	}
	_, link, _ := f.attach(t, spec, "pod-1", nil, nil)
	assert.Equal(t, []string{"assign t150"}, link.Messages(), "the oldest task still wanted goes first")
}
