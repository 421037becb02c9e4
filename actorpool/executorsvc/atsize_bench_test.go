package executorsvc_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flyteorg/flyte/flytestdlib/promutils"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/executorsvc"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
	executorv1 "github.com/flyteactors/flyteactors/go/executor/v1"
	"github.com/flyteactors/flyteactors/go/servercert"
)

// The pool at size: environments × executors per environment, and the tasks queued at once.
const (
	atSizeEnvironments   = 100
	atSizeExecutorsPerEn = 10
	atSizeQueued         = 100_000
	// atSizeTaskTime is how long each executor "runs" a task, on average: long enough that the machine
	// is not saturated (1,000 executors at this pace are 4,000 tasks a second), so the latency measured is
	// the pool's and the wire's, not a queue of runnable goroutines. Each run takes a random time around
	// it, as real tasks do: executors that all finished at once would measure a burst of 1,000 results.
	atSizeTaskTime = 250 * time.Millisecond
	// atSizeWindow is how long dispatches are measured.
	atSizeWindow = 10 * time.Second
	atSizeHost   = "pool.test"
)

// BenchmarkPoolAtSize runs the pool as propeller runs it, behind its executor service: 1,000 executors
// of 100 environments connected over loopback gRPC streams with TLS, each with its own token, and
// 100,000 tasks queued. Each executor runs a task for 250 ms on average and reports it; the pool hands it the next
// queued one. It reports (as BENCH lines too): the dispatch latency, from an executor reporting a task
// finished to its next assignment arriving, p50 and p99; the heap that 100,000 queued tasks hold; and
// the processor time per dispatched task, of this whole process (the executors' side of the wire
// included, about as much again as the pool's).
func BenchmarkPoolAtSize(b *testing.B) {
	for range b.N {
		runPoolAtSize(b)
	}
}

func runPoolAtSize(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool := actorpool.New(ctx, pooltest.NewCluster(), func(types.NamespacedName) {}, actorpool.Options{Metrics: promutils.NewTestScope()})
	bundle, err := servercert.New(atSizeHost, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	serverTLS, err := bundle.ServerTLS()
	if err != nil {
		b.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = executorsvc.New(pool, executorsvc.Options{TLS: serverTLS}).Serve(ctx, lis)
	}()

	specs := make([]actorpool.EnvironmentSpec, atSizeEnvironments)
	for i := range specs {
		specs[i] = pooltest.Spec(fmt.Sprintf("env-%03d", i), time.Hour)
		specs[i].Replicas, specs[i].MinReplicas = atSizeExecutorsPerEn, atSizeExecutorsPerEn
	}
	// 100,000 tasks queued before any executor connects: the heap they hold.
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range atSizeQueued {
		spec := specs[i%atSizeEnvironments]
		task := pooltest.Task(fmt.Sprintf("wf-%d-n0-0-n%d-0", i%atSizeEnvironments, i), spec)
		task.Owner = types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("wf-%d", i%atSizeEnvironments)}
		if err := pool.Submit(ctx, task); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	queuedMB := float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)

	clientTLS, err := servercert.ClientTLS(bundle.CACert, atSizeHost)
	if err != nil {
		b.Fatal(err)
	}
	// Each executor pod dials the pool on a connection of its own.
	var latencies latencyLog
	var dispatched atomic.Int64
	measuring := atomic.Bool{}
	var connected sync.WaitGroup
	for i, spec := range specs {
		for j := range atSizeExecutorsPerEn {
			e := &fakeWireExecutor{spec: spec, pod: fmt.Sprintf("pod-%03d-%d", i, j), latencies: &latencies,
				dispatched: &dispatched, measuring: &measuring}
			connected.Add(1)
			go e.run(ctx, b, lis.Addr().String(), clientTLS, &connected)
		}
	}
	connected.Wait()
	// Measure a window at the pace the executors keep, with the queue still deep.
	time.Sleep(2 * atSizeTaskTime)
	cpu0 := processCPU()
	dispatched.Store(0)
	measuring.Store(true)
	time.Sleep(atSizeWindow)
	measuring.Store(false)
	cpu := processCPU() - cpu0
	n := dispatched.Load()
	cancel()
	<-served
	pool.Wait()

	all := latencies.sorted()
	if len(all) == 0 {
		b.Fatal("no dispatch measured")
	}
	p50, p99 := all[len(all)/2], all[len(all)*99/100]
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(queuedMB, "MB/100k-queued")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/dispatch")
	fmt.Printf("BENCH pool/dispatch-1000x100-p50 %.3f ms\n", ms(p50))
	fmt.Printf("BENCH pool/dispatch-1000x100-p99 %.3f ms\n", ms(p99))
	fmt.Printf("BENCH pool/queued-100k-mem %.1f MB\n", queuedMB)
	fmt.Printf("BENCH pool/cpu-per-dispatch %.1f µs\n", float64(cpu.Microseconds())/float64(n))
	fmt.Printf("BENCH pool/dispatches-in-window %d n\n", n)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// processCPU is the processor time this process has used, user and system.
func processCPU() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// latencyLog collects dispatch latencies from every executor.
type latencyLog struct {
	mu sync.Mutex
	ds []time.Duration
}

func (l *latencyLog) add(d time.Duration) {
	l.mu.Lock()
	l.ds = append(l.ds, d)
	l.mu.Unlock()
}

func (l *latencyLog) sorted() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.ds)
	slices.Sort(out)
	return out
}

// fakeWireExecutor is an executor pod as the pool sees it over the wire: it says hello with its token,
// runs each task it is given for atSizeTaskTime, and reports it finished.
type fakeWireExecutor struct {
	spec       actorpool.EnvironmentSpec
	pod        string
	latencies  *latencyLog
	dispatched *atomic.Int64
	measuring  *atomic.Bool
}

func (e *fakeWireExecutor) run(ctx context.Context, b *testing.B, address string, clientTLS *tls.Config, connected *sync.WaitGroup) {
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(credentials.NewTLS(clientTLS)))
	if err != nil {
		b.Error(err)
		connected.Done()
		return
	}
	defer func() { _ = conn.Close() }()
	stream, err := executorv1.NewExecutorServiceClient(conn).Connect(ctx)
	if err == nil {
		err = stream.Send(&executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Hello{Hello: &executorv1.Hello{
			ProtocolVersion: executorv1.ProtocolVersion_PROTOCOL_VERSION_1, EnvironmentId: e.spec.Key.ID(),
			PodName: e.pod, Token: pooltest.Token(e.spec.Key, e.pod), Slots: 1}}})
	}
	var first *executorv1.PoolMessage
	if err == nil {
		first, err = stream.Recv()
	}
	connected.Done()
	if err != nil || first.GetWelcome() == nil {
		if ctx.Err() == nil {
			b.Errorf("executor %s: no welcome: %v", e.pod, err)
		}
		return
	}
	// One goroutine sends (a gRPC stream takes one sender); the loop below receives.
	outgoing := make(chan *executorv1.ExecutorMessage, 4)
	var finishedAt atomic.Int64
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-outgoing:
				if m.GetFinished() != nil {
					finishedAt.Store(time.Now().UnixNano())
				}
				if stream.Send(m) != nil {
					return
				}
			}
		}
	}()
	for {
		msg, err := stream.Recv()
		if err != nil {
			return
		}
		a := msg.GetAssignment()
		if a == nil {
			continue
		}
		if at := finishedAt.Load(); at != 0 && e.measuring.Load() {
			e.latencies.add(time.Since(time.Unix(0, at)))
			e.dispatched.Add(1)
		}
		started := time.Now()
		outgoing <- &executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Started{Started: &executorv1.TaskStarted{
			TaskId: a.GetTaskId(), StartedAt: timestamppb.New(started)}}}
		go func() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(atSizeTaskTime/2 + rand.N(atSizeTaskTime)):
			}
			outgoing <- &executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Finished{Finished: &executorv1.TaskFinished{
				TaskId: a.GetTaskId(), StartedAt: timestamppb.New(started), FinishedAt: timestamppb.Now()}}}
		}()
	}
}
