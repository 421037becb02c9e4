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
	// stop ends the pool and waits for it; the test's cleanup calls it too.
	stop func()
}

// testOptions are short, so that graces and backoffs play out within a test.
func testOptions() actorpool.Options {
	return actorpool.Options{RetryInterval: 10 * time.Millisecond, ReconnectGrace: 300 * time.Millisecond,
		OrphanGrace: 300 * time.Millisecond}
}

func newPoolFixture(t *testing.T) *poolFixture {
	return newPoolFixtureWith(t, pooltest.NewCluster(), testOptions())
}

func newPoolFixtureWith(t *testing.T, cluster *pooltest.Cluster, opts actorpool.Options) *poolFixture {
	ctx, cancel := context.WithCancel(context.Background())
	f := &poolFixture{cluster: cluster, wakeups: &pooltest.Wakeups{}}
	f.pool = actorpool.New(ctx, f.cluster, f.wakeups.Notify, opts)
	f.stop = func() {
		cancel()
		f.pool.Wait()
	}
	t.Cleanup(f.stop)
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

func (f *poolFixture) submit(t *testing.T, spec actorpool.EnvironmentSpec, ids ...string) {
	t.Helper()
	for _, id := range ids {
		require.NoError(t, f.pool.Submit(context.Background(), pooltest.Task(id, spec)))
	}
}

func phaseOf(t *testing.T, p *actorpool.Pool, id string) actorpool.TaskPhase {
	t.Helper()
	s, ok := p.Status(id)
	require.True(t, ok, "task %s unknown", id)
	return s.Phase()
}

func eventuallyPhase(t *testing.T, p *actorpool.Pool, id string, want actorpool.TaskPhase) actorpool.TaskStatus {
	t.Helper()
	var s actorpool.TaskStatus
	require.Eventually(t, func() bool {
		var ok bool
		s, ok = p.Status(id)
		return ok && s.Phase() == want
	}, 5*time.Second, 2*time.Millisecond, "task %s never became %s", id, want)
	return s
}

func TestSubmitRunsTaskToSuccess(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)

	f.submit(t, spec, "a", "a") // submit is idempotent
	s := eventuallyPhase(t, f.pool, "a", actorpool.TaskQueued)
	require.Eventually(t, func() bool {
		s, _ = f.pool.Status("a")
		return strings.Contains(s.Waiting, "waiting for executors of environment env")
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

// TestLostExecutorWhosePodEndedFailsItsTasksAtOnce: no need to wait out the reconnect grace for an
// executor whose pod is gone; one killed for memory fails its task as OOM (issue 7, item 7).
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

// TestExecutorReconnectingWithinGraceKeepsItsTasks (issue 10, item 1).
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

// TestUnknownRunningTaskWaitsAsOrphanThenIsCancelled (issue 10, item 3): after a restart of the pool an
// executor reports a task propeller has not submitted again yet: it keeps running for a while; if
// nobody submits it, it is cancelled.
func TestUnknownRunningTaskWaitsAsOrphanThenIsCancelled(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	e, link, cancel := f.attach(t, spec, "pod-1", []string{"stranger"}, nil)
	assert.Empty(t, cancel, "not cancelled at once: propeller may submit it again")
	_, known := f.pool.Status("stranger")
	assert.False(t, known, "an orphan is not known to the plugin, which submits it")
	assert.Equal(t, actorpool.TaskQueued, phaseOf(t, f.pool, "a"), "the orphan holds the slot")

	require.Eventually(t, func() bool { return len(link.Messages()) > 0 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"cancel stranger"}, link.Messages(), "nobody submitted it within the grace")
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "stranger", Failure: &actorpool.Failure{Kind: actorpool.FailureSystem, Code: contract.CodeCancelled}})
	assert.Equal(t, []string{"cancel stranger", "ack stranger", "assign a"}, link.Messages())
}

// TestOrphansAreAdoptedWhenSubmittedAgain (issue 10, item 3): a running orphan becomes the submitted
// attempt's run, and a held result its result; neither runs again.
func TestOrphansAreAdoptedWhenSubmittedAgain(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	_, link, cancel := f.attach2(t, spec, "pod-1", []string{"running"}, []actorpool.Result{{TaskID: "done"}})
	assert.Empty(t, cancel)
	assert.Empty(t, link.Messages(), "the held result is not acknowledged before propeller takes it")

	before := f.wakeups.Count()
	f.submit(t, spec, "running", "done")
	assert.Equal(t, actorpool.TaskRunning, phaseOf(t, f.pool, "running"))
	assert.Equal(t, actorpool.TaskSucceeded, phaseOf(t, f.pool, "done"))
	assert.GreaterOrEqual(t, f.wakeups.Count(), before+2, "both owners woken")
	time.Sleep(400 * time.Millisecond) // past the orphan grace: adopted attempts are not cancelled
	assert.Empty(t, link.Messages(), "nothing assigned again, nothing cancelled")
	f.pool.Release("done")
	assert.Equal(t, []string{"ack done"}, link.Messages())
}

// attach2 attaches an executor with two slots, creating the environment first.
func (f *poolFixture) attach2(t *testing.T, spec actorpool.EnvironmentSpec, pod string, running []string, held []actorpool.Result) (*actorpool.Session, *pooltest.Link, []string) {
	t.Helper()
	spec.Slots = 2
	f.submit(t, spec, "creates-the-environment")
	f.pool.Release("creates-the-environment")
	link := &pooltest.Link{}
	h := pooltest.Hello(spec, pod, 2)
	h.Running, h.Held = running, held
	s, cancel, err := pooltest.Attach(f.pool, h, link, 5*time.Second)
	require.NoError(t, err)
	return s, link, cancel
}

// TestRestartedPoolAdoptsRunningAttempt: propeller submitted the attempt again before its executor
// reconnected; the executor's run is the attempt, and its owner is woken (issue 7, item 4).
func TestRestartedPoolAdoptsRunningAttempt(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	before := f.wakeups.Count()
	e, link, cancel := f.attach(t, spec, "pod-1", []string{"a"}, nil)
	assert.Empty(t, cancel)
	assert.Empty(t, link.Messages(), "not assigned a second time")
	assert.Equal(t, actorpool.TaskRunning, phaseOf(t, f.pool, "a"))
	assert.Greater(t, f.wakeups.Count(), before, "the adoption woke the workflow")
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "a"})
	assert.Equal(t, actorpool.TaskSucceeded, phaseOf(t, f.pool, "a"))
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

// TestAttachRefusesWhatItMust (issue 7, item 10): a wrong token, another pod's token, an unknown
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

func TestIdleEnvironmentIsDeletedAfterTTL(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", 50*time.Millisecond)
	f.submit(t, spec, "a")
	e, link, _ := f.attach(t, spec, "pod-1", nil, nil)
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "a"})
	f.pool.Release("a")

	require.Eventually(t, func() bool {
		return f.cluster.Deleted(spec.Key.ID()) == 1
	}, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"assign a", "ack a", "close"}, link.Messages(), "the deleted pod's session is ended")
	// The environment is gone: an executor of it is refused, and a new task creates it again.
	_, _, err := f.pool.AttachExecutor(pooltest.Hello(spec, "pod-1", 1), &pooltest.Link{})
	assert.ErrorIs(t, err, actorpool.ErrUnknownEnvironment)
	f.submit(t, spec, "b")
	require.Eventually(t, func() bool {
		return f.cluster.Ensured(spec.Key.ID()) == 2
	}, 5*time.Second, 5*time.Millisecond)
}

// TestTeardownRacingASubmissionNeverGivesWorkToDeletedExecutors (issue 7, item 2): a task submitted
// while the idle environment is being deleted waits, the executors of the deleted pods get nothing and
// their sessions end, and the task runs on an executor of the environment made again.
func TestTeardownRacingASubmissionNeverGivesWorkToDeletedExecutors(t *testing.T) {
	for name, deleteErr := range map[string]error{"deletion succeeds": nil, "deletion fails half way": fmt.Errorf("the API server went away")} {
		t.Run(name, func(t *testing.T) {
			cluster := pooltest.NewCluster()
			f := newPoolFixtureWith(t, cluster, testOptions())
			spec := pooltest.Spec("env", 50*time.Millisecond)
			f.submit(t, spec, "a")
			e, oldLink, _ := f.attach(t, spec, "pod-1", nil, nil)
			f.pool.TaskFinished(e, actorpool.Result{TaskID: "a"})
			f.pool.Release("a")

			started, finishDelete := cluster.HoldDeletes()
			select {
			case <-started:
			case <-time.After(5 * time.Second):
				t.Fatal("the idle environment was not deleted")
			}
			f.submit(t, spec, "b") // arrives while the environment is being deleted
			s, _ := f.pool.Status("b")
			assert.Contains(t, s.Waiting, "being replaced")
			_, _, err := f.pool.AttachExecutor(pooltest.Hello(spec, "pod-1", 1), &pooltest.Link{})
			assert.ErrorIs(t, err, actorpool.ErrEnvironmentNotReady, "no executor is admitted while deleting")

			finishDelete <- deleteErr
			require.Eventually(t, func() bool {
				msgs := oldLink.Messages()
				return len(msgs) > 0 && msgs[len(msgs)-1] == "close"
			}, 5*time.Second, 5*time.Millisecond)
			assert.NotContains(t, oldLink.Messages(), "assign b", "the deleted executor got no work")

			_, newLink, _ := f.attach(t, spec, "pod-2", nil, nil)
			assert.Equal(t, []string{"assign b"}, newLink.Messages())
		})
	}
}

// TestDiscoveredEnvironmentIsDeletedAfterItsTTL (issue 7, item 3): an environment a restarted pool
// finds in the cluster and nobody submits to is deleted after its TTL; its executors are admitted
// meanwhile.
func TestDiscoveredEnvironmentIsDeletedAfterItsTTL(t *testing.T) {
	cluster := pooltest.NewCluster()
	spec := pooltest.Spec("leftover", 200*time.Millisecond)
	cluster.Discovered(actorpool.DiscoveredEnvironment{Namespace: "ns", ID: spec.Key.ID(), Name: "leftover",
		Secret: pooltest.Secret(spec.Key.ID()), TTL: spec.TTL})
	f := newPoolFixtureWith(t, cluster, testOptions())

	_, link, _ := f.attach(t, spec, "pod-1", nil, nil)
	require.Eventually(t, func() bool { return cluster.Deleted(spec.Key.ID()) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"close"}, link.Messages())
	assert.Zero(t, cluster.Ensured(spec.Key.ID()), "a discovered environment is not ensured: nobody asked for it")
}

// TestDiscoveredEnvironmentWaitsForItsExecutorsBeforeDispatching (issue 10, item 3): after a restart,
// an attempt propeller submits again may still run on an executor that has not reconnected yet; the
// pool dispatches nothing until the executors it found have said what they run.
func TestDiscoveredEnvironmentWaitsForItsExecutorsBeforeDispatching(t *testing.T) {
	cluster := pooltest.NewCluster()
	spec := pooltest.Spec("env", time.Hour)
	cluster.Discovered(actorpool.DiscoveredEnvironment{Namespace: "ns", ID: spec.Key.ID(), Name: "env",
		Secret: pooltest.Secret(spec.Key.ID()), TTL: time.Hour, Pods: []string{"pod-a", "pod-b"}})
	opts := testOptions()
	opts.ReconnectGrace = time.Hour
	f := newPoolFixtureWith(t, cluster, opts)
	f.submit(t, spec, "x")
	require.Eventually(t, func() bool {
		s, _ := f.pool.Status("x")
		return strings.Contains(s.Waiting, "2 executors of environment env to reconnect")
	}, 5*time.Second, 5*time.Millisecond)

	_, linkB, _ := f.attach(t, spec, "pod-b", nil, nil)
	assert.Empty(t, linkB.Messages(), "pod-a has not said whether it runs x")
	_, linkA, _ := f.attach(t, spec, "pod-a", []string{"x"}, nil)
	assert.Empty(t, linkA.Messages())
	assert.Empty(t, linkB.Messages(), "x runs on pod-a: never a second run")
	assert.Equal(t, actorpool.TaskRunning, phaseOf(t, f.pool, "x"))
	// The environment's own goroutine ensures it, soon after the submission woke it.
	require.Eventually(t, func() bool { return cluster.Ensured(spec.Key.ID()) == 1 }, 5*time.Second, 5*time.Millisecond,
		"submitted to, the environment is run again, whether the pool found it before or after the submission")
}

// TestDiscoveredEnvironmentSubmittedToIsEnsuredAtOnce: an environment the pool found at start, submitted
// to after its executors reconnected, gets its missing pods now, not at the next resync.
func TestDiscoveredEnvironmentSubmittedToIsEnsuredAtOnce(t *testing.T) {
	cluster := pooltest.NewCluster()
	spec := pooltest.Spec("env", time.Hour)
	cluster.Discovered(actorpool.DiscoveredEnvironment{Namespace: "ns", ID: spec.Key.ID(), Name: "env",
		Secret: pooltest.Secret(spec.Key.ID()), TTL: time.Hour, Pods: []string{"pod-a"}})
	opts := testOptions()
	opts.ResyncInterval = time.Hour
	f := newPoolFixtureWith(t, cluster, opts)
	f.attach(t, spec, "pod-a", nil, nil) // admitted: the pool has found the environment
	assert.Zero(t, cluster.Ensured(spec.Key.ID()), "nobody asked for it yet")

	f.submit(t, spec, "x")
	require.Eventually(t, func() bool { return cluster.Ensured(spec.Key.ID()) == 1 }, 5*time.Second, 5*time.Millisecond,
		"ensured on the submission, not an hour later")
}

// TestWaitingReasonChangeBumpsTheVersion (issue 7, item 4).
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

// TestFailingEnvironmentBacksOff (issue 7, item 11): retries double their wait instead of hammering
// the API server every RetryInterval.
func TestFailingEnvironmentBacksOff(t *testing.T) {
	cluster := pooltest.NewCluster()
	cluster.FailWith(fmt.Errorf("pods are forbidden"))
	opts := testOptions()
	opts.RetryInterval = 20 * time.Millisecond
	f := newPoolFixtureWith(t, cluster, opts)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	time.Sleep(700 * time.Millisecond)
	cluster.FailWith(nil)
	require.Eventually(t, func() bool { return cluster.Ensured(spec.Key.ID()) == 1 }, 5*time.Second, 5*time.Millisecond)
	s, _ := f.pool.Status("a")
	assert.NotContains(t, s.Waiting, "forbidden", "the error is cleared once ensuring works")
	// Without backoff: 700/20 = 35 tries. With it: 20, 40, 80, 160, 320 ms (+ jitter) = about 6.
	attempts := cluster.EnsureCalls(spec.Key.ID())
	assert.LessOrEqual(t, attempts, 9, "retried %d times in 700 ms", attempts)
	assert.GreaterOrEqual(t, attempts, 4)
}

// TestExecutorLossEnsuresTheEnvironmentAtOnce (issue 7, item 11): a lost executor's pod is replaced
// now, not at the next resync.
func TestExecutorLossEnsuresTheEnvironmentAtOnce(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "a")
	e, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	before := f.cluster.Ensured(spec.Key.ID())
	f.pool.DetachExecutor(e, "stream closed")
	require.Eventually(t, func() bool { return f.cluster.Ensured(spec.Key.ID()) > before }, 2*time.Second, 5*time.Millisecond)
}

// TestFailureMessagesAreTruncated (issue 7, item 9): a failure message of any size reaches the
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

// TestUnseenAttemptIsForgotten (issue 7, item 11): an attempt whose Finalize never comes (its workflow
// was deleted) does not stay forever.
func TestUnseenAttemptIsForgotten(t *testing.T) {
	opts := testOptions()
	opts.ForgetAfter = 200 * time.Millisecond
	f := newPoolFixtureWith(t, pooltest.NewCluster(), opts)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "unseen", "seen")
	for range 20 { // 400 ms of propeller asking about "seen" only
		_, ok := f.pool.Status("seen")
		require.True(t, ok, "an attempt asked about is kept")
		time.Sleep(20 * time.Millisecond)
	}
	_, link, _ := f.attach(t, spec, "pod-1", nil, nil)
	assert.Equal(t, []string{"assign seen"}, link.Messages(), "the older, unseen attempt was released")
}

func TestEnvironmentKeyIDsDoNotCollide(t *testing.T) {
	a := actorpool.EnvironmentKey{Namespace: "ns", Project: "p/q", Domain: "d", Name: "n", Version: "v"}
	b := actorpool.EnvironmentKey{Namespace: "ns", Project: "p", Domain: "q/d", Name: "n", Version: "v"}
	assert.Equal(t, a.String(), b.String(), "the readable form may look alike")
	assert.NotEqual(t, a.ID(), b.ID(), "the IDs never do")
	assert.Equal(t, a.ID(), a.ID())
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

// podState is how pod of spec's environment is doing.
func podState(spec actorpool.EnvironmentSpec, pod, problem string) actorpool.ExecutorPodState {
	return actorpool.ExecutorPodState{Namespace: "ns", EnvironmentID: spec.Key.ID(), Pod: pod, Problem: problem}
}

// TestPodProblemIsTheWaitingReasonUntilTheStartTimeout (issue 9): a queued task says why its
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

// TestPermanentPodProblemFailsTasksAtOnce (issue 9): a problem that cannot heal fails the queued
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

// TestEndedPodsAreReplacedWithBackoff (issue 9): pods that keep failing are replaced ever more slowly,
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

// TestDrainingExecutorGetsNoWork (issue 10, item 2): once an executor says it stops, or its pod is
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

// TestExecutorOfAnotherEnvironmentCannotTouchATask (issue 10, item 5): an executor of environment A
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
