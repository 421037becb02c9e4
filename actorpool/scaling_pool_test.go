package actorpool_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
)

// scalingSpec is an environment of one to three executors of one slot, whose idle executors go after
// 100 ms.
func scalingSpec() actorpool.EnvironmentSpec {
	spec := pooltest.Spec("scaling", time.Hour)
	spec.MinReplicas, spec.Replicas, spec.ScaledownTTL = 1, 3, 100*time.Millisecond
	return spec
}

func TestEnvironmentGrowsForABurstAndRemovesOnlyIdleExecutors(t *testing.T) {
	f := newPoolFixture(t)
	spec := scalingSpec()
	id := spec.Key.ID()
	f.submit(t, spec, "a")
	require.Eventually(t, func() bool { return f.cluster.Replicas(id) == 1 }, 5*time.Second, time.Millisecond, "it starts at its fewest")
	e1, link1, _ := f.attach(t, spec, "pod-1", nil, nil)

	f.submit(t, spec, "b", "c")
	require.Eventually(t, func() bool { return f.cluster.Replicas(id) == 3 }, 5*time.Second, time.Millisecond,
		"two tasks queued behind a busy executor: two more")
	e2, link2, _ := f.attach(t, spec, "pod-2", nil, nil)
	_, link3, _ := f.attach(t, spec, "pod-3", nil, nil)
	assert.Equal(t, []string{"assign a"}, link1.Messages())
	assert.Len(t, link2.Messages(), 1)
	assert.Len(t, link3.Messages(), 1)

	// a and whatever pod-2 got end; the third task runs on: pod-1 and pod-2 are idle.
	f.pool.TaskFinished(e1, actorpool.Result{TaskID: "a"})
	f.pool.Release("a")
	second := strings.TrimPrefix(link2.Messages()[0], "assign ")
	f.pool.TaskFinished(e2, actorpool.Result{TaskID: second})
	f.pool.Release(second)
	require.Eventually(t, func() bool { return len(f.cluster.Removed()) == 2 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []string{"pod-1", "pod-2"}, f.cluster.Removed(), "the longest idle first, one at a time, never pod-3")
	time.Sleep(300 * time.Millisecond)
	assert.Len(t, f.cluster.Removed(), 2, "never below the work: pod-3 runs a task")
	assert.Len(t, link3.Messages(), 1, "the running executor was not disturbed")

	// New work grows it again; the removed executors get nothing.
	f.submit(t, spec, "d")
	require.Eventually(t, func() bool { return f.cluster.Replicas(id) == 2 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []string{"assign a", "ack a"}, link1.Messages(), "a drained executor is given nothing")
}

func TestNamespaceCapHoldsEnvironmentsBackAndSaysSo(t *testing.T) {
	opts := testOptions()
	opts.MaxExecutorsPerNamespace = 2
	f := newPoolFixtureWith(t, pooltest.NewCluster(), opts)
	spec := scalingSpec()
	f.submit(t, spec, "a", "b", "c")
	require.Eventually(t, func() bool { return f.cluster.Replicas(spec.Key.ID()) == 2 }, 5*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, 2, f.cluster.Replicas(spec.Key.ID()), "three tasks, but the namespace may run two executors")

	// Another environment of the namespace gets no executor while the first holds both.
	other := pooltest.Spec("other", time.Hour)
	f.submit(t, other, "x")
	var s actorpool.TaskStatus
	require.Eventually(t, func() bool {
		s, _ = f.pool.Status("x")
		return strings.Contains(s.Waiting, "namespace ns is at its cap of 2 executors (plugins.actor.max-executors-per-namespace)")
	}, 5*time.Second, time.Millisecond, "the waiting reason says why: %q", s.Waiting)
	assert.Equal(t, 0, f.cluster.Replicas(other.Key.ID()))
}

func TestFairQueueGivesAWorkflowThatArrivesLaterItsTurn(t *testing.T) {
	for order, wantSmallAt := range map[actorpool.QueueOrder]int{actorpool.QueueFair: 1, actorpool.QueueFIFO: 10} {
		t.Run(string(order), func(t *testing.T) {
			opts := testOptions()
			opts.QueueOrder = order
			f := newPoolFixtureWith(t, pooltest.NewCluster(), opts)
			spec := pooltest.Spec("env", time.Hour)
			submit := func(id, owner string) {
				task := pooltest.Task(id, spec)
				task.Owner = types.NamespacedName{Namespace: "ns", Name: owner}
				require.NoError(t, f.pool.Submit(context.Background(), task))
			}
			for i := range 10 {
				submit("big-"+string(rune('a'+i)), "big-map")
			}
			submit("small", "small-workflow")
			e, link, _ := f.attach(t, spec, "pod-1", nil, nil)
			for range 11 {
				msgs := link.Assignments()
				last := msgs[len(msgs)-1].TaskID
				f.pool.TaskFinished(e, actorpool.Result{TaskID: last})
				f.pool.Release(last)
			}
			var order []string
			for _, a := range link.Assignments() {
				order = append(order, a.TaskID)
			}
			require.Len(t, order, 11)
			assert.Equal(t, "small", order[wantSmallAt], "%v", order)
			assert.Equal(t, "big-a", order[0])
		})
	}
}

// countingClock counts how often the pool reads the time: an environment's goroutine that loops without
// waiting reads it millions of times a second.
type countingClock struct{ calls atomic.Int64 }

func (c *countingClock) now() time.Time {
	c.calls.Add(1)
	return time.Now()
}

// readsPerSecond returns how often the pool read the time per second over d.
func (c *countingClock) readsPerSecond(d time.Duration) float64 {
	before := c.calls.Load()
	time.Sleep(d)
	return float64(c.calls.Load()-before) / d.Seconds()
}

// TestIdleExecutorBesideStartingOnesDoesNotSpin: after a burst whose tasks went before the new executors
// started, the environment wants one executor and has an idle one beside two starting: it removes
// nothing until all are connected, and waits for that, not in a tight loop.
func TestIdleExecutorBesideStartingOnesDoesNotSpin(t *testing.T) {
	clock := &countingClock{}
	opts := testOptions()
	opts.Now = clock.now
	f := newPoolFixtureWith(t, pooltest.NewCluster(), opts)
	spec := scalingSpec()
	spec.ScaledownTTL = 10 * time.Millisecond
	f.submit(t, spec, "a", "b", "c")
	require.Eventually(t, func() bool { return f.cluster.Replicas(spec.Key.ID()) == 3 }, 5*time.Second, time.Millisecond)
	e, _, _ := f.attach(t, spec, "pod-1", nil, nil)
	f.pool.Release("b") // b and c aborted before their executors started
	f.pool.Release("c")
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "a"})
	f.pool.Release("a")
	time.Sleep(50 * time.Millisecond) // pod-1 idle longer than scaledown_ttl
	assert.Less(t, clock.readsPerSecond(300*time.Millisecond), 5000.0, "the environment's goroutine waits")
	assert.Empty(t, f.cluster.Removed(), "nothing removed while executors are still starting")
}

// TestCappedEnvironmentPastItsStartTimeoutDoesNotSpin: an environment the namespace's cap keeps without
// executors past the start timeout neither fails its tasks nor loops; it grows when the namespace has
// room again.
func TestCappedEnvironmentPastItsStartTimeoutDoesNotSpin(t *testing.T) {
	clock := &countingClock{}
	opts := testOptions()
	opts.Now, opts.MaxExecutorsPerNamespace, opts.StartTimeout = clock.now, 1, 50*time.Millisecond
	f := newPoolFixtureWith(t, pooltest.NewCluster(), opts)
	first := pooltest.Spec("first", 100*time.Millisecond)
	f.submit(t, first, "a")
	require.Eventually(t, func() bool { return f.cluster.Replicas(first.Key.ID()) == 1 }, 5*time.Second, time.Millisecond)
	e, _, _ := f.attach(t, first, "pod-1", nil, nil)
	held := pooltest.Spec("held", time.Hour)
	f.submit(t, held, "x")
	time.Sleep(100 * time.Millisecond) // past the start timeout
	assert.Less(t, clock.readsPerSecond(300*time.Millisecond), 5000.0, "the held environment's goroutine waits")
	assert.Equal(t, actorpool.TaskQueued, phaseOf(t, f.pool, "x"), "a task held by the cap waits; it does not time out")

	// The first environment's work ends and it goes after its TTL: the held one grows at once.
	f.pool.TaskFinished(e, actorpool.Result{TaskID: "a"})
	f.pool.Release("a")
	require.Eventually(t, func() bool { return f.cluster.Replicas(held.Key.ID()) == 1 }, 5*time.Second, time.Millisecond)
}
