package actorpool_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
	"github.com/flyteactors/flyteactors/go/contract"
)

// TestLostExecutorWhosePodEndedFailsItsTasksAtOnce: no need to wait out the reconnect grace for an
// executor whose pod is gone; one killed for memory fails its task as OOM.
func TestLostExecutorWhosePodEndedFailsItsTasksAtOnce(t *testing.T) {
	cluster := pooltest.NewCluster()
	opts := testOptions()
	opts.ReconnectGrace = time.Hour
	f := newPoolFixtureWith(t, cluster, opts)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	e, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	f.pool.DetachExecutor(e, "stream closed")
	cluster.SetPod(actorpool.ExecutorPodState{Namespace: "ns", EnvironmentID: spec.Key.ID(), Pod: "pod-1", Ended: true, OOM: true,
		Problem: "container actor terminated with exit code 137 (OOMKilled)"})

	s := eventuallyPhase(t, f.pool, "a", actorpool.TaskFailed)
	failure, ok := s.Failure()
	require.True(t, ok)
	assert.Equal(t, actorpool.FailureSystem, failure.Kind)
	assert.True(t, failure.Retryable)
	assert.True(t, failure.OOM, "the pod says it ran out of memory")
	assert.Equal(t, contract.CodeExecutorLost, failure.Code)
	assert.Contains(t, failure.Message, "OOMKilled")

	// A late result from the lost session changes nothing.
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "a"})
	assert.Equal(t, actorpool.TaskFailed, phaseOf(t, f.pool, "a"))
}

// TestLostExecutorFailsItsTasksAfterTheGrace: an executor that neither reconnects nor is seen gone.
func TestLostExecutorFailsItsTasksAfterTheGrace(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	e, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	start := time.Now()
	f.pool.DetachExecutor(e, "stream closed")
	assert.Equal(t, actorpool.TaskAssigned, phaseOf(t, f.pool, "a"), "within the grace the task waits for its executor")
	s := eventuallyPhase(t, f.pool, "a", actorpool.TaskFailed)
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	failure, _ := s.Failure()
	assert.Equal(t, contract.CodeExecutorLost, failure.Code)
	assert.False(t, failure.OOM)
}

// TestExecutorReconnectingWithinGraceKeepsItsTasks: an executor whose stream broke and that reconnects
// within the reconnect grace keeps the tasks it still runs.
func TestExecutorReconnectingWithinGraceKeepsItsTasks(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a", "b")
	e, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	f.pool.TaskStarted(e, "a", time.Now())
	f.pool.DetachExecutor(e, "stream closed")

	e2, link, cancel := f.attach(t, spec, "pod-1", []string{"a"}, nil)
	assert.Empty(t, cancel)
	time.Sleep(400 * time.Millisecond) // past the grace
	assert.Equal(t, actorpool.TaskRunning, phaseOf(t, f.pool, "a"), "the reconnected executor still runs a")
	assert.Equal(t, actorpool.TaskQueued, phaseOf(t, f.pool, "b"), "its one slot is a's")
	f.pool.TaskFinished(e2, actorpool.Result{TaskID: "a"})
	assert.Equal(t, actorpool.TaskSucceeded, phaseOf(t, f.pool, "a"))
	assert.Equal(t, []string{"assign b"}, link.Messages())
}

func TestReconnectKeepsRunningTaskAndDeliversHeldResult(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	f.attach(t, spec, "pod-1", nil, nil)

	// The same pod reconnects holding a's result: a succeeds, exactly once, and is acknowledged once
	// propeller has taken it.
	_, link, cancel := f.attach(t, spec, "pod-1", nil, []actorpool.Result{{TaskID: "a"}})
	assert.Empty(t, cancel)
	assert.Equal(t, actorpool.TaskSucceeded, phaseOf(t, f.pool, "a"))
	assert.Empty(t, link.Messages())
	f.pool.Release("a")
	assert.Equal(t, []string{"ack a"}, link.Messages())
}

// TestResultHeldAcrossReleaseIsAcknowledgedByTheNextSession: an executor disconnected when its task
// was released sends the result again when it reconnects, and is told to forget it then.
func TestResultHeldAcrossReleaseIsAcknowledgedByTheNextSession(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	e, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "a"})
	f.pool.DetachExecutor(e, "stream closed")
	f.pool.Release("a")

	_, link, _ := f.attach(t, spec, "pod-1", nil, []actorpool.Result{{TaskID: "a"}})
	require.Eventually(t, func() bool { return len(link.Messages()) > 0 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"ack a"}, link.Messages())
}

// TestAttachRefusesWhatItMust: a wrong token, another pod's token, an unknown
// environment, a malformed hello; and a hello never gets more slots than the spec.
func TestAttachRefusesWhatItMust(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("team-secret-project", time.Hour)
	f.submit(t, spec, "a")
	f.attach(t, spec, "pod-1", nil, nil)

	wrong := pooltest.Hello(spec, "pod-2", 1)
	wrong.Token = "nope"
	_, _, err := f.pool.AttachExecutor(wrong, &pooltest.Link{})
	assert.ErrorIs(t, err, actorpool.ErrBadToken)
	assert.NotContains(t, err.Error(), spec.Key.Name, "a refused executor learns nothing about the environment")

	impostor := pooltest.Hello(spec, "pod-1", 1)
	impostor.Token = pooltest.Token(spec.Key, "pod-2")
	_, _, err = f.pool.AttachExecutor(impostor, &pooltest.Link{})
	assert.ErrorIs(t, err, actorpool.ErrBadToken, "pod-2's token does not make it pod-1")

	_, _, err = f.pool.AttachExecutor(actorpool.ExecutorHello{EnvironmentID: "other", PodName: "pod-2", Token: "x", Slots: 1}, &pooltest.Link{})
	assert.ErrorIs(t, err, actorpool.ErrUnknownEnvironment)
	_, _, err = f.pool.AttachExecutor(pooltest.Hello(spec, "pod-2", 0), &pooltest.Link{})
	assert.ErrorIs(t, err, actorpool.ErrBadHello)

	f.submit(t, spec, "b", "c", "d")
	link := &pooltest.Link{}
	_, _, err = f.pool.AttachExecutor(pooltest.Hello(spec, "pod-3", 1000), link)
	require.NoError(t, err)
	assert.Len(t, link.Messages(), 1, "a hello claiming 1000 slots gets the spec's one")
}

// TestFailureMessagesAreTruncated: a failure message of any size reaches the
// workflow's status bounded, with its end kept.
func TestFailureMessagesAreTruncated(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	e, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	huge := strings.Repeat("x", 10<<20) + "the real reason"
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "a", Failure: &actorpool.Failure{Kind: actorpool.FailureUser, Message: huge}})
	s, _ := f.pool.Status("a")
	failure, _ := s.Failure()
	assert.LessOrEqual(t, len(failure.Message), contract.MaxFailureMessageBytes)
	assert.True(t, strings.HasSuffix(failure.Message, "the real reason"))
}

// TestLostSessionOfAnEndedPodFailsAtOnce: the pod was seen ended before its stream broke.
func TestLostSessionOfAnEndedPodFailsAtOnce(t *testing.T) {
	cluster := pooltest.NewCluster()
	opts := testOptions()
	opts.ReconnectGrace = time.Hour
	f := newPoolFixtureWith(t, cluster, opts)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	e, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	ended := podState(spec, "pod-1", "the pod was deleted")
	ended.Ended = true
	cluster.SetPod(ended)
	f.pool.DetachExecutor(e, "stream closed")
	s, _ := f.pool.Status("a")
	require.Equal(t, actorpool.TaskFailed, s.Phase())
	failure, _ := s.Failure()
	assert.Contains(t, failure.Message, "the pod was deleted")
}

// TestDrainingExecutorGetsNoWork: once an executor says it stops, or its pod is
// being deleted, nothing more is assigned to it.
func TestDrainingExecutorGetsNoWork(t *testing.T) {
	cluster := pooltest.NewCluster()
	f := newPoolFixtureWith(t, cluster, testOptions())
	spec := pooltest.Spec("env", time.Hour)
	spec.Slots = 2
	f.submit(t, spec, "a")
	link1 := &pooltest.Link{}
	s1, _, err := pooltest.Attach(f.pool, pooltest.Hello(spec, "pod-1", 2), link1, 5*time.Second)
	require.NoError(t, err)
	link2 := &pooltest.Link{}
	_, _, err = pooltest.Attach(f.pool, pooltest.Hello(spec, "pod-2", 2), link2, 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, []string{"assign a"}, link1.Messages())

	f.pool.ExecutorDraining(s1)
	f.submit(t, spec, "b")
	stopping := podState(spec, "pod-2", "the pod is being deleted")
	stopping.Stopping = true
	cluster.SetPod(stopping)
	f.submit(t, spec, "c")
	assert.Equal(t, []string{"assign a"}, link1.Messages(), "pod-1 said it stops")
	assert.Equal(t, []string{"assign b"}, link2.Messages(), "pod-2 is being deleted: c waits")
	assert.Equal(t, actorpool.TaskQueued, phaseOf(t, f.pool, "c"))
}

// TestExecutorOfAnotherEnvironmentCannotTouchATask: an executor of environment A
// never receives, finishes or cancels a task of environment B.
func TestExecutorOfAnotherEnvironmentCannotTouchATask(t *testing.T) {
	f := newPoolFixture(t)
	envA, envB := pooltest.Spec("a", time.Hour), pooltest.Spec("b", time.Hour)
	f.submit(t, envA, "a-task")
	f.submit(t, envB, "b-task")
	_, linkA, cancel := f.attach(t, envA, "pod-a", []string{"b-task"}, []actorpool.Result{{TaskID: "b-task"}})
	sessionA, _, _ := f.attach(t, envA, "pod-a2", nil, nil)
	f.pool.TaskFinished(sessionA, actorpool.Result{TaskID: "b-task", Failure: &actorpool.Failure{Kind: actorpool.FailureUser, Message: "forged"}})

	assert.Equal(t, []string{"b-task"}, cancel, "its claim to run b-task only stops its own run")
	assert.NotContains(t, linkA.Messages(), "assign b-task")
	assert.Equal(t, actorpool.TaskQueued, phaseOf(t, f.pool, "b-task"), "neither finished nor cancelled by A's executors")
	_, linkB, _ := f.attach(t, envB, "pod-b", nil, nil)
	assert.Equal(t, []string{"assign b-task"}, linkB.Messages())
}

// TestUnstartedAssignmentIsRequeuedOnReconnect: an executor that reconnects without reporting an
// attempt it was assigned and never started never got it (it reports all it runs or holds): the attempt
// is queued again, costing no retry; one it had started is lost.
func TestUnstartedAssignmentIsRequeuedOnReconnect(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	spec.Slots = 2
	f.submit(t, spec, "started", "unstarted")
	h := pooltest.Hello(spec, "pod-1", 2)
	s, _, err := pooltest.Attach(f.pool, h, &pooltest.Link{}, 5*time.Second)
	require.NoError(t, err)
	f.pool.TaskStarted(s, "started", time.Now())
	f.pool.DetachExecutor(s, "stream broke")

	link := &pooltest.Link{}
	_, _, err = f.pool.AttachExecutor(h, link)
	require.NoError(t, err)
	assert.Equal(t, []string{"assign unstarted"}, link.Messages(), "queued again and given to the executor that never got it")
	st, _ := f.pool.Status("started")
	failure, _ := st.Failure()
	assert.Equal(t, contract.CodeExecutorLost, failure.Code)
}

// TestIdleClockStartsWhenALostAttemptEnds: an executor that ran a task for longer than its environment's
// TTL reconnects without it (the task is lost). The environment is idle from then, not since it was
// made: it keeps its executor for its TTL.
func TestIdleClockStartsWhenALostAttemptEnds(t *testing.T) {
	clock := &shiftedClock{}
	opts := testOptions()
	opts.Now = clock.now
	f := newPoolFixtureWith(t, pooltest.NewCluster(), opts)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	s, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	f.pool.TaskStarted(s, "a", clock.now())
	clock.advance(2 * time.Hour) // the task runs for longer than the environment's TTL
	f.pool.DetachExecutor(s, "stream broke")

	link := &pooltest.Link{}
	_, _, err := f.pool.AttachExecutor(pooltest.Hello(spec, "pod-1", 1), link)
	require.NoError(t, err)
	st, _ := f.pool.Status("a")
	failure, _ := st.Failure()
	assert.Equal(t, contract.CodeExecutorLost, failure.Code)
	time.Sleep(200 * time.Millisecond) // the environment's goroutine looks at it again
	assert.Zero(t, f.cluster.Deleted(spec.Key.ID()), "idle for a moment, not for two hours")
	assert.NotContains(t, link.Messages(), "close", "the executor stays")
}

// shiftedClock is the time, moved ahead by what advance added.
type shiftedClock struct{ offset atomic.Int64 }

func (c *shiftedClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *shiftedClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// TestHeldResultOfMovedAttemptIsAcknowledged: a result an executor holds for an attempt that is no longer
// its (it was lost, and the attempt's record is another executor's or has ended) is acknowledged at
// once, so that the executor stops sending it in every Hello.
func TestHeldResultOfMovedAttemptIsAcknowledged(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	s, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	f.pool.TaskStarted(s, "a", time.Now())
	f.pool.DetachExecutor(s, "stream broke")
	eventuallyPhase(t, f.pool, "a", actorpool.TaskFailed) // lost after the reconnect grace

	h := pooltest.Hello(spec, "pod-1", 1)
	h.Held = []actorpool.Result{{TaskID: "a"}}
	link := &pooltest.Link{}
	_, _, err := f.pool.AttachExecutor(h, link)
	require.NoError(t, err)
	assert.Equal(t, []string{"ack a"}, link.Messages())
	st, _ := f.pool.Status("a")
	assert.Equal(t, actorpool.TaskFailed, st.Phase(), "the late result does not change what Flyte was told")
}
