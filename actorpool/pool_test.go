package actorpool_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
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
