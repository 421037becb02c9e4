package actorpool_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
)

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

// TestTeardownRacingASubmissionNeverGivesWorkToDeletedExecutors: a task submitted
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

// TestFailingEnvironmentBacksOff: retries double their wait instead of hammering
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

// TestExecutorLossEnsuresTheEnvironmentAtOnce: a lost executor's pod is replaced
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

// TestEnvironmentWithoutExecutorsOrTasksGoesAfterItsTTL: a task aborted before any executor attached
// leaves an environment with nothing queued and no executor; it goes after its TTL like any idle one.
func TestEnvironmentWithoutExecutorsOrTasksGoesAfterItsTTL(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", 50*time.Millisecond)
	f.submit(t, spec, "a")
	f.pool.Release("a")
	require.Eventually(t, func() bool { return f.cluster.Deleted(spec.Key.ID()) == 1 }, 5*time.Second, 5*time.Millisecond)
}

// TestFoundEnvironmentPastItsResyncDoesNotSpin: an environment found at start that nobody submits to is
// never ensured (the pool does not know its pods' spec); once its resync interval has passed, its
// goroutine waits for its TTL, not in a tight loop.
func TestFoundEnvironmentPastItsResyncDoesNotSpin(t *testing.T) {
	clock := &countingClock{}
	cluster := pooltest.NewCluster()
	spec := pooltest.Spec("leftover", time.Hour)
	cluster.Discovered(pooltest.Found(spec, "pod-1"))
	opts := testOptions()
	opts.Now, opts.ResyncInterval = clock.now, 20*time.Millisecond
	f := newPoolFixtureWith(t, cluster, opts)
	f.attach(t, spec, "pod-1", nil, nil)
	time.Sleep(50 * time.Millisecond) // past the resync interval
	assert.Less(t, clock.readsPerSecond(300*time.Millisecond), 5000.0, "the environment's goroutine waits")
	assert.Zero(t, cluster.Ensured(spec.Key.ID()), "nobody asked for it")
}
