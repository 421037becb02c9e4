package actorpool

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// fakeCluster records calls and hands out a fixed token.
type fakeCluster struct {
	mu      sync.Mutex
	ensured map[string]int
	deleted map[string]int
	failing error
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{ensured: map[string]int{}, deleted: map[string]int{}}
}

func (c *fakeCluster) EnsureEnvironment(_ context.Context, spec EnvironmentSpec) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failing != nil {
		return "", c.failing
	}
	c.ensured[spec.Key.ID()]++
	return "token-" + spec.Key.ID(), nil
}

func (c *fakeCluster) DeleteEnvironment(_ context.Context, key EnvironmentKey) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleted[key.ID()]++
	return nil
}

func (c *fakeCluster) counts(id string) (ensured, deleted int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ensured[id], c.deleted[id]
}

// fakeLink records what the pool sends one executor.
type fakeLink struct {
	mu   sync.Mutex
	sent []string
}

func (l *fakeLink) Assign(a Assignment) { l.add("assign " + a.TaskID) }
func (l *fakeLink) Cancel(id string)    { l.add("cancel " + id) }
func (l *fakeLink) Ack(id string)       { l.add("ack " + id) }
func (l *fakeLink) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent = append(l.sent, s)
}
func (l *fakeLink) messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.sent...)
}

type notes struct {
	mu     sync.Mutex
	owners []types.NamespacedName
}

func (n *notes) notify(o types.NamespacedName) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.owners = append(n.owners, o)
}

func (n *notes) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.owners)
}

func testSpec(name string, ttl time.Duration) EnvironmentSpec {
	return EnvironmentSpec{
		Key:      EnvironmentKey{Namespace: "ns", Project: "p", Domain: "d", Name: name, Version: "v1", PodHash: "h"},
		Replicas: 1, Slots: 1, TTL: ttl,
		Pod:              &corev1.Pod{},
		PrimaryContainer: "executor",
	}
}

func testTask(id string, spec EnvironmentSpec) Task {
	return Task{ID: id, Environment: spec, Command: []string{"pyflyte-execute"},
		Owner: types.NamespacedName{Namespace: "ns", Name: "wf-" + id}}
}

type poolFixture struct {
	pool    *Pool
	cluster *fakeCluster
	notes   *notes
	cancel  context.CancelFunc
}

func newPoolFixture(t *testing.T) *poolFixture {
	ctx, cancel := context.WithCancel(context.Background())
	f := &poolFixture{cluster: newFakeCluster(), notes: &notes{}, cancel: cancel}
	f.pool = New(ctx, f.cluster, f.notes.notify, Options{RetryInterval: 10 * time.Millisecond})
	t.Cleanup(func() {
		cancel()
		f.pool.Wait()
	})
	return f
}

// attach connects an executor once the environment is ready.
func (f *poolFixture) attach(t *testing.T, spec EnvironmentSpec, pod string, running []string, held []Result) (*Executor, *fakeLink, []string) {
	t.Helper()
	link := &fakeLink{}
	var e *Executor
	var cancel []string
	require.Eventually(t, func() bool {
		var err error
		e, cancel, err = f.pool.AttachExecutor(ExecutorHello{EnvironmentID: spec.Key.ID(), PodName: pod,
			Token: "token-" + spec.Key.ID(), Slots: 1, Running: running, Held: held}, link)
		return err == nil
	}, 5*time.Second, 5*time.Millisecond)
	return e, link, cancel
}

func phaseOf(t *testing.T, p *Pool, id string) TaskPhase {
	t.Helper()
	s, ok := p.Status(id)
	require.True(t, ok, "task %s unknown", id)
	return s.Phase()
}

func TestSubmitRunsTaskToSuccess(t *testing.T) {
	f := newPoolFixture(t)
	spec := testSpec("env", time.Hour)
	ctx := context.Background()

	require.NoError(t, f.pool.Submit(ctx, testTask("a", spec)))
	require.NoError(t, f.pool.Submit(ctx, testTask("a", spec)), "submit is idempotent")
	s, ok := f.pool.Status("a")
	require.True(t, ok)
	assert.Equal(t, TaskQueued, s.Phase())
	assert.Contains(t, s.Waiting, "waiting for executors of environment env")

	e, link, cancel := f.attach(t, spec, "pod-1", nil, nil)
	assert.Empty(t, cancel)
	assert.Equal(t, []string{"assign a"}, link.messages(), "the queued task is pushed at once, once")
	assert.Equal(t, TaskAssigned, phaseOf(t, f.pool, "a"))

	f.pool.TaskStarted(e, "a", time.Now())
	assert.Equal(t, TaskRunning, phaseOf(t, f.pool, "a"))

	f.pool.TaskFinished(e, Result{TaskID: "a", StartedAt: time.Now(), FinishedAt: time.Now()})
	s, _ = f.pool.Status("a")
	assert.Equal(t, TaskSucceeded, s.Phase())
	_, failed := s.Failure()
	assert.False(t, failed)
	assert.Equal(t, "pod-1", s.Executor)
	assert.Equal(t, []string{"assign a", "ack a"}, link.messages())
	assert.GreaterOrEqual(t, f.notes.count(), 3, "owner woken on assign, start and finish")

	f.pool.Release("a")
	_, ok = f.pool.Status("a")
	assert.False(t, ok)
}

func TestOneSlotRunsTasksInOrder(t *testing.T) {
	f := newPoolFixture(t)
	spec := testSpec("env", time.Hour)
	for _, id := range []string{"a", "b", "c"} {
		require.NoError(t, f.pool.Submit(context.Background(), testTask(id, spec)))
	}
	e, link, _ := f.attach(t, spec, "pod-1", nil, nil)
	for i, id := range []string{"a", "b", "c"} {
		assert.Equal(t, TaskAssigned, phaseOf(t, f.pool, id))
		for _, later := range []string{"a", "b", "c"}[i+1:] {
			assert.Equal(t, TaskQueued, phaseOf(t, f.pool, later), "one slot: %s waits for %s", later, id)
		}
		f.pool.TaskFinished(e, Result{TaskID: id})
	}
	assert.Equal(t, []string{"assign a", "ack a", "assign b", "ack b", "assign c", "ack c"}, link.messages())
}

func TestExecutorLossFailsItsTasksRetryably(t *testing.T) {
	f := newPoolFixture(t)
	spec := testSpec("env", time.Hour)
	require.NoError(t, f.pool.Submit(context.Background(), testTask("a", spec)))
	e, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	f.pool.DetachExecutor(e, "stream closed")

	s, _ := f.pool.Status("a")
	require.Equal(t, TaskFailed, s.Phase())
	failure, ok := s.Failure()
	require.True(t, ok)
	assert.Equal(t, FailureSystem, failure.Kind)
	assert.True(t, failure.Retryable)
	assert.Equal(t, CodeExecutorLost, failure.Code)

	// A late result from the lost session changes nothing.
	f.pool.TaskFinished(e, Result{TaskID: "a"})
	assert.Equal(t, TaskFailed, phaseOf(t, f.pool, "a"))
}

func TestReconnectKeepsRunningTaskAndDeliversHeldResult(t *testing.T) {
	f := newPoolFixture(t)
	spec := testSpec("env", time.Hour)
	require.NoError(t, f.pool.Submit(context.Background(), testTask("a", spec)))
	f.attach(t, spec, "pod-1", nil, nil)

	// The same pod reconnects holding a's result: a succeeds, exactly once, and is acknowledged.
	_, link, cancel := f.attach(t, spec, "pod-1", nil, []Result{{TaskID: "a"}})
	assert.Empty(t, cancel)
	assert.Equal(t, TaskSucceeded, phaseOf(t, f.pool, "a"))
	assert.Equal(t, []string{"ack a"}, link.messages())
}

func TestReconnectCancelsTasksThePoolDoesNotWant(t *testing.T) {
	f := newPoolFixture(t)
	spec := testSpec("env", time.Hour)
	require.NoError(t, f.pool.Submit(context.Background(), testTask("a", spec)))
	e, link, cancel := f.attach(t, spec, "pod-1", []string{"stranger"}, nil)
	assert.Equal(t, []string{"stranger"}, cancel)
	assert.Empty(t, link.messages(), "the slot stays taken until the executor confirms the cancel")
	assert.Equal(t, TaskQueued, phaseOf(t, f.pool, "a"))

	f.pool.TaskFinished(e, Result{TaskID: "stranger"})
	assert.Equal(t, []string{"ack stranger", "assign a"}, link.messages())
}

func TestRestartedPoolAdoptsRunningAttempt(t *testing.T) {
	f := newPoolFixture(t)
	spec := testSpec("env", time.Hour)
	// After a restart propeller submits again; the executor reports it is already running the attempt.
	require.NoError(t, f.pool.Submit(context.Background(), testTask("a", spec)))
	e, link, cancel := f.attach(t, spec, "pod-1", []string{"a"}, nil)
	assert.Empty(t, cancel)
	assert.Empty(t, link.messages(), "not assigned a second time")
	assert.Equal(t, TaskRunning, phaseOf(t, f.pool, "a"))
	f.pool.TaskFinished(e, Result{TaskID: "a"})
	assert.Equal(t, TaskSucceeded, phaseOf(t, f.pool, "a"))
}

func TestReleaseOfRunningTaskCancelsIt(t *testing.T) {
	f := newPoolFixture(t)
	spec := testSpec("env", time.Hour)
	require.NoError(t, f.pool.Submit(context.Background(), testTask("a", spec)))
	require.NoError(t, f.pool.Submit(context.Background(), testTask("b", spec)))
	e, link, _ := f.attach(t, spec, "pod-1", nil, nil)
	f.pool.Release("a")
	assert.Equal(t, []string{"assign a", "cancel a"}, link.messages())
	assert.Equal(t, TaskQueued, phaseOf(t, f.pool, "b"), "b waits until a's slot is confirmed free")
	f.pool.TaskFinished(e, Result{TaskID: "a", Failure: &Failure{Kind: FailureSystem, Code: "Cancelled"}})
	assert.Equal(t, []string{"assign a", "cancel a", "ack a", "assign b"}, link.messages())
}

func TestAttachRefusesWrongTokenAndUnknownEnvironment(t *testing.T) {
	f := newPoolFixture(t)
	spec := testSpec("env", time.Hour)
	require.NoError(t, f.pool.Submit(context.Background(), testTask("a", spec)))
	f.attach(t, spec, "pod-1", nil, nil)

	_, _, err := f.pool.AttachExecutor(ExecutorHello{EnvironmentID: spec.Key.ID(), PodName: "pod-2", Token: "nope", Slots: 1}, &fakeLink{})
	assert.ErrorIs(t, err, ErrBadToken)
	_, _, err = f.pool.AttachExecutor(ExecutorHello{EnvironmentID: "other", PodName: "pod-2", Token: "x", Slots: 1}, &fakeLink{})
	assert.ErrorIs(t, err, ErrUnknownEnvironment)
	_, _, err = f.pool.AttachExecutor(ExecutorHello{EnvironmentID: spec.Key.ID(), PodName: "pod-2", Token: "x", Slots: 0}, &fakeLink{})
	assert.ErrorIs(t, err, ErrBadHello)
}

func TestIdleEnvironmentIsDeletedAfterTTL(t *testing.T) {
	f := newPoolFixture(t)
	spec := testSpec("env", 50*time.Millisecond)
	require.NoError(t, f.pool.Submit(context.Background(), testTask("a", spec)))
	e, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	f.pool.TaskFinished(e, Result{TaskID: "a"})

	require.Eventually(t, func() bool {
		_, deleted := f.cluster.counts(spec.Key.ID())
		return deleted == 1
	}, 5*time.Second, 5*time.Millisecond)
	// The environment is gone: an executor of it is refused, and a new task creates it again.
	_, _, err := f.pool.AttachExecutor(ExecutorHello{EnvironmentID: spec.Key.ID(), PodName: "pod-1", Token: "token-" + spec.Key.ID(), Slots: 1}, &fakeLink{})
	assert.ErrorIs(t, err, ErrUnknownEnvironment)
	require.NoError(t, f.pool.Submit(context.Background(), testTask("b", spec)))
	require.Eventually(t, func() bool {
		ensured, _ := f.cluster.counts(spec.Key.ID())
		return ensured == 2
	}, 5*time.Second, 5*time.Millisecond)
}

func TestEnvironmentErrorIsShownWhileWaiting(t *testing.T) {
	f := newPoolFixture(t)
	f.cluster.mu.Lock()
	f.cluster.failing = fmt.Errorf("pods are forbidden")
	f.cluster.mu.Unlock()
	spec := testSpec("env", time.Hour)
	require.NoError(t, f.pool.Submit(context.Background(), testTask("a", spec)))
	require.Eventually(t, func() bool {
		s, _ := f.pool.Status("a")
		return s.Phase() == TaskQueued && strings.Contains(s.Waiting, "pods are forbidden")
	}, 5*time.Second, 5*time.Millisecond)
}

func TestSubmitRejectsInvalidTask(t *testing.T) {
	f := newPoolFixture(t)
	spec := testSpec("env", time.Hour)
	spec.Replicas = 0
	err := f.pool.Submit(context.Background(), testTask("a", spec))
	assert.ErrorContains(t, err, "replicas must be at least 1")
	_, ok := f.pool.Status("a")
	assert.False(t, ok)
}

func TestPoolGoroutinesStopWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := New(ctx, newFakeCluster(), func(types.NamespacedName) {}, Options{})
	for i := range 5 {
		require.NoError(t, p.Submit(ctx, testTask(fmt.Sprint(i), testSpec(fmt.Sprint("env", i), time.Hour))))
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
	spec := testSpec("env", time.Hour)
	for i := range 200 {
		require.NoError(t, f.pool.Submit(context.Background(), testTask(fmt.Sprint("t", i), spec)))
	}
	for i := range 199 {
		if i != 150 {
			f.pool.Release(fmt.Sprint("t", i))
		}
	}
	f.pool.mu.Lock()
	queueLen := len(f.pool.envs[spec.Key.ID()].queue)
	f.pool.mu.Unlock()
	assert.Less(t, queueLen, 64, "released tasks do not stay in the queue")

	_, link, _ := f.attach(t, spec, "pod-1", nil, nil)
	assert.Equal(t, []string{"assign t150"}, link.messages(), "the oldest task still wanted goes first")
}
