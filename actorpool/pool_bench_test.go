package actorpool_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/flyteorg/flyte/flytestdlib/promutils"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
)

// benchPool returns a pool with one environment and executors executors of slots slots each, whose
// "tasks" finish as soon as they are assigned. It keeps metrics, as in propeller.
func benchPool(b *testing.B, executors, slots int) (*actorpool.Pool, actorpool.EnvironmentSpec) {
	ctx, cancel := context.WithCancel(context.Background())
	p := actorpool.New(ctx, pooltest.NewCluster(), func(types.NamespacedName) {}, actorpool.Options{Metrics: promutils.NewTestScope()})
	spec := pooltest.Spec("bench", time.Hour)
	spec.Slots = slots
	// Create the environment and wait until it is ready.
	if err := p.Submit(ctx, pooltest.Task("warmup", spec)); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range executors {
		// The link hands assignments to a goroutine that plays the executor; it holds one per slot, so
		// the pool never blocks on it.
		assigned := make(chan actorpool.Assignment, slots)
		link := &pooltest.Link{Discard: true, OnAssign: func(a actorpool.Assignment) { assigned <- a }}
		e, _, err := pooltest.Attach(p, pooltest.Hello(spec, fmt.Sprint("pod-", i), slots), link, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case a := <-assigned:
					p.TaskFinished(e, actorpool.Result{TaskID: a.TaskID})
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	b.Cleanup(func() {
		cancel()
		wg.Wait()
		p.Wait()
	})
	return p, spec
}

// BenchmarkDispatchRoundTrip measures one task through the pool: Submit, assignment to a free slot,
// result, status read — the pool's share of the time between two tasks of a workflow.
func BenchmarkDispatchRoundTrip(b *testing.B) {
	p, spec := benchPool(b, 1, 1)
	ctx := context.Background()
	latencies := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprint("t", i)
		start := time.Now()
		if err := p.Submit(ctx, pooltest.Task(id, spec)); err != nil {
			b.Fatal(err)
		}
		for {
			if s, _ := p.Status(id); s.Phase().IsTerminal() {
				break
			}
			runtime.Gosched()
		}
		latencies = append(latencies, time.Since(start))
		p.Release(id)
	}
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkThroughput measures no-op tasks per second through one pool: 8 submitters, 100 executors
// with 4 slots each.
func BenchmarkThroughput(b *testing.B) {
	p, spec := benchPool(b, 100, 4)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	const submitters = 8
	for w := range submitters {
		wg.Go(func() {
			for i := w; i < b.N; i += submitters {
				id := fmt.Sprint("t", i)
				if err := p.Submit(ctx, pooltest.Task(id, spec)); err != nil {
					b.Error(err)
					return
				}
				for {
					if s, _ := p.Status(id); s.Phase().IsTerminal() {
						break
					}
					runtime.Gosched()
				}
				p.Release(id)
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tasks/s")
}

// BenchmarkQueuedMemory measures the heap held by 100,000 queued tasks (no executor connected).
func BenchmarkQueuedMemory(b *testing.B) {
	const queued = 100_000
	for range b.N {
		ctx, cancel := context.WithCancel(context.Background())
		p := actorpool.New(ctx, pooltest.NewCluster(), func(types.NamespacedName) {}, actorpool.Options{})
		spec := pooltest.Spec("bench", time.Hour)
		ids := make([]string, queued)
		for i := range ids {
			ids[i] = fmt.Sprint("task-attempt-", i)
		}
		command := []string{"pyflyte-execute", "--inputs", "s3://bucket/metadata/inputs.pb", "--output-prefix",
			"s3://bucket/metadata/out", "--raw-output-data-prefix", "s3://bucket/raw", "--resolver",
			"flytekit.core.python_auto_container.default_task_resolver", "--", "task-module", "wf", "task-name", "t"}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, id := range ids {
			t := actorpool.Task{ID: id, Environment: spec, Command: command, Owner: types.NamespacedName{Namespace: "ns", Name: "wf"}}
			if err := p.Submit(ctx, t); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MB/100k-queued")
		runtime.KeepAlive(p)
		cancel()
		p.Wait()
	}
}
