package actorpool_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
	"github.com/flyteactors/flyteactors/go/contract"
)

// TestUnknownRunningTaskWaitsAsOrphanThenIsCancelled: after a restart of the pool an
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

// TestOrphansAreAdoptedWhenSubmittedAgain: a running orphan becomes the submitted
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
// reconnected; the executor's run is the attempt, and its owner is woken.
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

// TestDiscoveredEnvironmentIsDeletedAfterItsTTL: an environment a restarted pool
// finds in the cluster and nobody submits to is deleted after its TTL; its executors are admitted
// meanwhile.
func TestDiscoveredEnvironmentIsDeletedAfterItsTTL(t *testing.T) {
	cluster := pooltest.NewCluster()
	spec := pooltest.Spec("leftover", 200*time.Millisecond)
	cluster.Discovered(pooltest.Found(spec))
	f := newPoolFixtureWith(t, cluster, testOptions())

	_, link, _ := f.attach(t, spec, "pod-1", nil, nil)
	require.Eventually(t, func() bool { return cluster.Deleted(spec.Key.ID()) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"close"}, link.Messages())
	assert.Zero(t, cluster.Ensured(spec.Key.ID()), "a discovered environment is not ensured: nobody asked for it")
}

// TestDiscoveredEnvironmentWaitsForItsExecutorsBeforeDispatching: after a restart,
// an attempt propeller submits again may still run on an executor that has not reconnected yet; the
// pool dispatches nothing until the executors it found have said what they run.
func TestDiscoveredEnvironmentWaitsForItsExecutorsBeforeDispatching(t *testing.T) {
	cluster := pooltest.NewCluster()
	spec := pooltest.Spec("env", time.Hour)
	cluster.Discovered(pooltest.Found(spec, "pod-a", "pod-b"))
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
	cluster.Discovered(pooltest.Found(spec, "pod-a"))
	opts := testOptions()
	opts.ResyncInterval = time.Hour
	f := newPoolFixtureWith(t, cluster, opts)
	f.attach(t, spec, "pod-a", nil, nil) // admitted: the pool has found the environment
	assert.Zero(t, cluster.Ensured(spec.Key.ID()), "nobody asked for it yet")

	f.submit(t, spec, "x")
	require.Eventually(t, func() bool { return cluster.Ensured(spec.Key.ID()) == 1 }, 5*time.Second, 5*time.Millisecond,
		"ensured on the submission, not an hour later")
}

// TestHeldResultAdoptedBeforeDiscoveryKeepsTheEnvironment: after a restart, propeller submits an attempt
// again before the pool has read what the cluster holds; the executor that ran it reconnects with its
// result. The environment, idle once the result is adopted, is idle from then on: it is not deleted with
// its executor as if it had been idle for its whole TTL.
func TestHeldResultAdoptedBeforeDiscoveryKeepsTheEnvironment(t *testing.T) {
	cluster := pooltest.NewCluster()
	spec := pooltest.Spec("env", time.Hour)
	cluster.Discovered(pooltest.Found(spec, "pod-1"))
	release := cluster.HoldDiscovery()
	f := newPoolFixtureWith(t, cluster, testOptions())
	f.submit(t, spec, "a")
	release()

	_, link, _ := f.attach(t, spec, "pod-1", nil, []actorpool.Result{{TaskID: "a"}})
	assert.Equal(t, actorpool.TaskSucceeded, phaseOf(t, f.pool, "a"), "the executor's result is the attempt's")
	time.Sleep(200 * time.Millisecond) // the environment's goroutine looks at it again
	assert.Zero(t, cluster.Deleted(spec.Key.ID()), "idle for a moment, not for its TTL of an hour")
	assert.NotContains(t, link.Messages(), "close", "the executor stays")
	f.submit(t, spec, "b")
	assert.Contains(t, link.Messages(), "assign b", "and runs the next task")
}

// TestRefusedHeldResultIsNotTheAttemptsAfterARestart: an executor refused an attempt unrun (it was
// draining) and still holds that refusal when it reconnects to a restarted pool. The attempt, submitted
// again before or after the executor reconnects, never ran: it runs now, spending no retry, and the
// refusal is acknowledged.
func TestRefusedHeldResultIsNotTheAttemptsAfterARestart(t *testing.T) {
	f, spec := restartedWithSubmission(t, "before")
	link := &pooltest.Link{}
	h := pooltest.Hello(spec, "pod-1", 2)
	h.Held = []actorpool.Result{refused("before"), refused("after")}
	_, _, err := pooltest.Attach(f.pool, h, link, 5*time.Second)
	require.NoError(t, err)
	f.submit(t, spec, "after")
	for _, id := range []string{"before", "after"} {
		assertAckedThenAssigned(t, link, id)
		assert.Equal(t, actorpool.TaskAssigned, phaseOf(t, f.pool, id))
	}
}

// TestRefusalOfAnAttemptReportedRunningAfterARestart: an executor reports an attempt running when it
// reconnects to a restarted pool (its runtime was starting again), then refuses it unrun (the runtime
// could not start). Whether propeller submitted the attempt before the executor reconnected (adopted as
// running) or after (an orphan until then), it runs, spending no retry.
func TestRefusalOfAnAttemptReportedRunningAfterARestart(t *testing.T) {
	f, spec := restartedWithSubmission(t, "before")
	link := &pooltest.Link{}
	h := pooltest.Hello(spec, "pod-1", 2)
	h.Running = []string{"before", "after"}
	s, _, err := pooltest.Attach(f.pool, h, link, 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, actorpool.TaskRunning, phaseOf(t, f.pool, "before"), "adopted")
	f.pool.TaskFinished(s, refused("before"))
	f.pool.TaskFinished(s, refused("after"))
	f.submit(t, spec, "after")
	for _, id := range []string{"before", "after"} {
		assertAckedThenAssigned(t, link, id)
		assert.Equal(t, actorpool.TaskAssigned, phaseOf(t, f.pool, id))
	}
}

// restartedWithSubmission returns a pool that found executor pod pod-1 (two slots) of spec when it
// started, and was submitted id before it had read the cluster: a restarted propeller.
func restartedWithSubmission(t *testing.T, id string) (*poolFixture, actorpool.EnvironmentSpec) {
	cluster := pooltest.NewCluster()
	spec := pooltest.Spec("env", time.Hour)
	spec.Slots = 2
	cluster.Discovered(pooltest.Found(spec, "pod-1"))
	release := cluster.HoldDiscovery()
	f := newPoolFixtureWith(t, cluster, testOptions())
	f.submit(t, spec, id)
	release()
	return f, spec
}

// refused is the result of an attempt the executor refused unrun, because it was draining.
func refused(id string) actorpool.Result {
	return actorpool.Result{TaskID: id, Failure: &actorpool.Failure{Kind: actorpool.FailureSystem, Code: contract.CodeExecutorDraining, Retryable: true}}
}

// assertAckedThenAssigned checks that the executor was told to forget its refusal of id before it was
// given id again: it ignores an assignment of an attempt it still holds.
func assertAckedThenAssigned(t *testing.T, link *pooltest.Link, id string) {
	t.Helper()
	messages := link.Messages()
	ack, assign := slices.Index(messages, "ack "+id), slices.Index(messages, "assign "+id)
	require.NotEqual(t, -1, ack, "the refusal is nobody's result: %v", messages)
	require.NotEqual(t, -1, assign, "the attempt runs: %v", messages)
	assert.Less(t, ack, assign, "acknowledged before it is assigned again: %v", messages)
}

// TestUnseenAttemptIsForgotten: an attempt whose Finalize never comes (its workflow
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

// TestOrphanAdoptedOnlyWithinItsEnvironment: attempt IDs are predictable, so an executor of another
// environment (here another namespace's) may report a victim's attempt as running or finished before
// propeller submits it. The submission must not adopt it: the report is stopped or dropped, and the
// attempt runs in its own environment. An orphan of the same definition under another pod hash (a
// propeller upgrade that changed the executor pod) is adopted.
func TestOrphanAdoptedOnlyWithinItsEnvironment(t *testing.T) {
	f := newPoolFixture(t)
	victim := pooltest.Spec("env", time.Hour)
	attacker := pooltest.Spec("env", time.Hour)
	attacker.Key.Namespace = "attacker"
	_, evil, _ := f.attach2(t, attacker, "evil-pod", []string{"victim-running"}, []actorpool.Result{{TaskID: "victim-done"}})

	f.submit(t, victim, "victim-running", "victim-done")
	for _, id := range []string{"victim-running", "victim-done"} {
		s, ok := f.pool.Status(id)
		require.True(t, ok)
		assert.Equal(t, actorpool.TaskQueued, s.Phase(), "%s waits for its own environment's executor", id)
	}
	assert.ElementsMatch(t, []string{"cancel victim-running", "ack victim-done"}, evil.Messages())

	_, own, _ := f.attach(t, victim, "own-pod", nil, nil)
	assert.Equal(t, []string{"assign victim-running"}, own.Messages(), "run where it belongs")

	upgraded := pooltest.Spec("other", time.Hour)
	_, old, _ := f.attach2(t, upgraded, "old-pod", []string{"survivor"}, nil)
	upgraded.Key.PodHash = "new-hash"
	f.submit(t, upgraded, "survivor")
	assert.Equal(t, actorpool.TaskRunning, phaseOf(t, f.pool, "survivor"), "same definition: the run is adopted")
	assert.Empty(t, old.Messages())
}

// TestHelloRunningAndHeldAreBounded: a Hello may report no more running tasks than the executor's
// slots and no more held results than MaxHeldResultsPerSlot per slot; results of unknown attempts sent
// after it are kept only up to the session's bound, however many the executor sends.
func TestHelloRunningAndHeldAreBounded(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	f.submit(t, spec, "creates-the-environment")
	f.pool.Release("creates-the-environment")

	tooMany := pooltest.Hello(spec, "pod-1", 1)
	tooMany.Running = []string{"a", "b"}
	_, _, err := pooltest.Attach(f.pool, tooMany, &pooltest.Link{}, time.Second)
	assert.ErrorIs(t, err, actorpool.ErrBadHello)
	assert.ErrorContains(t, err, "2 running tasks, more than its 1 slots")

	tooMuch := pooltest.Hello(spec, "pod-1", 1)
	for i := range contract.MaxHeldResultsPerSlot + 1 {
		tooMuch.Held = append(tooMuch.Held, actorpool.Result{TaskID: fmt.Sprint("held-", i)})
	}
	_, _, err = f.pool.AttachExecutor(tooMuch, &pooltest.Link{})
	assert.ErrorIs(t, err, actorpool.ErrBadHello)

	s, link, _ := f.attach(t, spec, "pod-1", nil, nil)
	for i := range 10_000 {
		f.pool.TaskFinished(s, actorpool.Result{TaskID: fmt.Sprint("unknown-", i)})
	}
	// Past the orphan grace, every orphan kept is forgotten, which acknowledges it: count them.
	bound := 1 + contract.MaxHeldResultsPerSlot
	require.Eventually(t, func() bool { return len(link.Messages()) >= bound }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	assert.Len(t, link.Messages(), bound, "kept no more than the session's bound")
}

// TestReleaseCancelsOrphan: an abort right after a restart, before propeller submitted the attempt
// again, stops the run its executor reports at once, not after the orphan grace.
func TestReleaseCancelsOrphan(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	_, link, _ := f.attach2(t, spec, "pod-1", []string{"aborted"}, []actorpool.Result{{TaskID: "finalized"}})
	f.pool.Release("aborted")
	f.pool.Release("finalized")
	assert.Equal(t, []string{"cancel aborted", "ack finalized"}, link.Messages())
}
