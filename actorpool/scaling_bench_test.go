package actorpool_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
)

// runningExecutors attaches n executors of one slot to spec's environment; each "runs" a task it is
// given for run, then reports it finished. onAssign, if set, sees each assignment first.
func runningExecutors(b *testing.B, ctx context.Context, p *actorpool.Pool, spec actorpool.EnvironmentSpec, n int,
	run time.Duration, onAssign func(actorpool.Assignment)) {
	for i := range n {
		assigned := make(chan actorpool.Assignment, 1)
		link := &pooltest.Link{Discard: true, OnAssign: func(a actorpool.Assignment) {
			if onAssign != nil {
				onAssign(a)
			}
			assigned <- a
		}}
		e, _, err := pooltest.Attach(p, pooltest.Hello(spec, fmt.Sprint("pod-", i), 1), link, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for {
				select {
				case a := <-assigned:
					time.Sleep(run)
					p.TaskFinished(e, actorpool.Result{TaskID: a.TaskID})
					p.Release(a.TaskID)
				case <-ctx.Done():
					return
				}
			}
		}()
	}
}

// BenchmarkFairShare measures how long a one-task workflow waits in an environment's queue when it
// arrives behind a map of 10,000 items, on ten executors whose tasks take 2 ms: in FIFO order, and in
// fair order (executions take turns). BENCH pool/fifo-wait-small-wf and pool/fair-wait-small-wf.
func BenchmarkFairShare(b *testing.B) {
	waits := map[actorpool.QueueOrder]time.Duration{}
	for range b.N {
		for _, order := range []actorpool.QueueOrder{actorpool.QueueFIFO, actorpool.QueueFair} {
			waits[order] = smallWorkflowWait(b, order)
		}
	}
	b.ReportMetric(ms(waits[actorpool.QueueFIFO]), "fifo-ms")
	b.ReportMetric(ms(waits[actorpool.QueueFair]), "fair-ms")
	fmt.Printf("BENCH pool/fifo-wait-small-wf %.1f ms\n", ms(waits[actorpool.QueueFIFO]))
	fmt.Printf("BENCH pool/fair-wait-small-wf %.1f ms\n", ms(waits[actorpool.QueueFair]))
}

func smallWorkflowWait(b *testing.B, order actorpool.QueueOrder) time.Duration {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := actorpool.New(ctx, pooltest.NewCluster(), func(types.NamespacedName) {}, actorpool.Options{QueueOrder: order})
	spec := pooltest.Spec("shared", time.Hour)
	spec.Replicas, spec.MinReplicas = 10, 10
	submit := func(id, owner string) {
		task := pooltest.Task(id, spec)
		task.Owner = types.NamespacedName{Namespace: "ns", Name: owner}
		if err := p.Submit(ctx, task); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 10_000 {
		submit(fmt.Sprint("map-item-", i), "big-map")
	}
	var mu sync.Mutex
	var assignedAt time.Time
	got := make(chan struct{})
	runningExecutors(b, ctx, p, spec, 10, 2*time.Millisecond, func(a actorpool.Assignment) {
		if a.TaskID == "small" {
			mu.Lock()
			assignedAt = time.Now()
			mu.Unlock()
			close(got)
		}
	})
	time.Sleep(50 * time.Millisecond) // the map is under way
	submitted := time.Now()
	submit("small", "small-workflow")
	select {
	case <-got:
	case <-time.After(time.Minute):
		b.Fatalf("%s: the small workflow's task waited more than a minute", order)
	}
	mu.Lock()
	defer mu.Unlock()
	return assignedAt.Sub(submitted)
}

// slowCluster is a Cluster whose executor pods start after a delay: each new pod attaches an executor
// (whose tasks take run) that long after the pool asked for it; a removed pod's executor closes its
// session.
type slowCluster struct {
	*pooltest.Cluster
	b     *testing.B
	ctx   context.Context
	pool  *actorpool.Pool
	delay time.Duration
	run   time.Duration

	mu        sync.Mutex
	started   map[string]int // pods made, by environment
	connected map[string]int // executors connected, by environment
	sessions  map[string]*actorpool.Session
	envOf     map[string]string // each pod's environment
	// idleAt is when each pod last finished a task; removedAt when the pool removed it.
	idleAt, removedAt map[string]time.Time
}

func (c *slowCluster) EnsureEnvironment(ctx context.Context, spec actorpool.EnvironmentSpec, replicas int) (string, error) {
	secret, err := c.Cluster.EnsureEnvironment(ctx, spec, replicas)
	c.mu.Lock()
	defer c.mu.Unlock()
	for ; c.started[spec.Key.ID()] < replicas; c.started[spec.Key.ID()]++ {
		pod := fmt.Sprintf("pod-%d", c.started[spec.Key.ID()])
		go c.startPod(spec, pod)
	}
	return secret, err
}

func (c *slowCluster) startPod(spec actorpool.EnvironmentSpec, pod string) {
	select {
	case <-time.After(c.delay):
	case <-c.ctx.Done():
		return
	}
	assigned := make(chan actorpool.Assignment, 1)
	link := &pooltest.Link{Discard: true, OnAssign: func(a actorpool.Assignment) { assigned <- a }}
	s, _, err := c.pool.AttachExecutor(pooltest.Hello(spec, pod, 1), link)
	if err != nil {
		c.b.Error(err)
		return
	}
	c.mu.Lock()
	c.connected[spec.Key.ID()]++
	c.sessions[pod], c.envOf[pod] = s, spec.Key.ID()
	c.mu.Unlock()
	for {
		select {
		case a := <-assigned:
			time.Sleep(c.run)
			c.mu.Lock()
			c.idleAt[pod] = time.Now()
			c.mu.Unlock()
			c.pool.TaskFinished(s, actorpool.Result{TaskID: a.TaskID})
			c.pool.Release(a.TaskID)
		case <-c.ctx.Done():
			return
		}
	}
}

// scaleDown returns the time from the last removed executor's last task to the last removal: how long
// the environment took to be back at its size once its extra executors had nothing to do.
func (c *slowCluster) scaleDown() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var idle, removed time.Time
	for pod, at := range c.removedAt {
		if at.After(removed) {
			removed = at
		}
		if c.idleAt[pod].After(idle) {
			idle = c.idleAt[pod]
		}
	}
	return removed.Sub(idle)
}

func (c *slowCluster) RemoveExecutor(ctx context.Context, namespace, pod string) error {
	if err := c.Cluster.RemoveExecutor(ctx, namespace, pod); err != nil {
		return err
	}
	c.mu.Lock()
	s := c.sessions[pod]
	if s != nil {
		c.connected[c.envOf[pod]]--
	}
	c.removedAt[pod] = time.Now()
	delete(c.sessions, pod)
	c.mu.Unlock()
	if s != nil {
		c.pool.ExecutorClosed(s) // its pod is deleted: the executor, idle, closes its stream
	}
	return nil
}

func (c *slowCluster) executors(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected[id]
}

// BenchmarkScaleUpAndDown simulates a burst on an environment of one to three executors whose pods
// take 1 s to start: three tasks of 2 s arrive while one executor runs; the time until three executors
// are connected (BENCH pool/scale-up-1-to-3: the pod start plus the pool's reaction), and, from the last
// task of the executors removed afterwards to the last removal, the time to be back at one once the
// extra executors had nothing to do (BENCH pool/scale-down-3-to-1: scaledown_ttl, 500 ms, plus the
// pool's reaction).
func BenchmarkScaleUpAndDown(b *testing.B) {
	var up, down time.Duration
	for range b.N {
		up, down = scaleUpAndDown(b)
	}
	b.ReportMetric(ms(up), "up-ms")
	b.ReportMetric(ms(down), "down-ms")
	fmt.Printf("BENCH pool/scale-up-1-to-3 %.0f ms\n", ms(up))
	fmt.Printf("BENCH pool/scale-down-3-to-1 %.0f ms\n", ms(down))
}

func scaleUpAndDown(b *testing.B) (up, down time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &slowCluster{Cluster: pooltest.NewCluster(), b: b, ctx: ctx, delay: time.Second, run: 2 * time.Second,
		started: map[string]int{}, connected: map[string]int{}, sessions: map[string]*actorpool.Session{}, envOf: map[string]string{},
		idleAt: map[string]time.Time{}, removedAt: map[string]time.Time{}}
	c.pool = actorpool.New(ctx, c, func(types.NamespacedName) {}, actorpool.Options{})
	spec := pooltest.Spec("bursty", time.Hour)
	spec.MinReplicas, spec.Replicas, spec.ScaledownTTL = 1, 3, 500*time.Millisecond
	id := spec.Key.ID()
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				b.Fatalf("%s: not within a minute", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	submit := func(id string) {
		if err := c.pool.Submit(ctx, pooltest.Task(id, spec)); err != nil {
			b.Fatal(err)
		}
	}
	submit("first")
	waitFor("one executor", func() bool { return c.executors(id) == 1 })
	burst := time.Now()
	for i := range 3 {
		submit(fmt.Sprint("burst-", i))
	}
	waitFor("three executors", func() bool { return c.executors(id) == 3 })
	up = time.Since(burst)
	waitFor("the burst ran", func() bool {
		for i := range 3 {
			if _, known := c.pool.Status(fmt.Sprint("burst-", i)); known {
				return false
			}
		}
		return true
	})
	waitFor("back to one executor", func() bool { return c.executors(id) == 1 })
	return up, c.scaleDown()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
