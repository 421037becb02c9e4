// Package executor is the bridge that runs as the primary container of every executor pod. It keeps
// one warm Python runtime per slot, holds a session with the actor pool (executor-proto), runs the
// tasks the pool assigns, and keeps each result until the pool acknowledges it, across reconnects.
package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/flyteactors/flyteactors/go/contract"
	executorv1 "github.com/flyteactors/flyteactors/go/executor/v1"
)

// Errors Run ends with, for which the executor's process exits with a code of its own (package
// contract), so that the pool can tell why its pod ended.
var (
	// ErrRefused: the pool refused the executor for good.
	ErrRefused = errors.New("the pool refused this executor")
	// ErrRuntimeCannotStart: a Python runtime could not start (the image cannot run it).
	ErrRuntimeCannotStart = errors.New("the Python runtime could not start")
	// ErrRuntimeUnavailable: a Python runtime was not warm in time, or could not be started again.
	ErrRuntimeUnavailable = errors.New("a Python runtime is not available")
)

// Executor is one executor pod's bridge. Its work is spread by job: configuration (config.go, env.go),
// its lifecycle (this file: warm, serve, drain, stop), the sessions with the pool (session.go, over
// tls.go's credentials), the slots its tasks take (slots.go), and the Python runtimes (runtime.go).
//
// Locks are taken in one order, never the reverse: a session's mu, then Executor.mu, then a Runtime's
// mu. (open holds the session's while it snapshots under Executor.mu; drain and stop cancel runtimes
// under Executor.mu.) No lock is held while a Runtime runs a task or while a message is sent, but for
// the session's own, which serialises its sends.
type Executor struct {
	cfg     Config
	spawner *spawner
	free    chan *Runtime
	// runtimeRestarts counts the runtimes started again since the executor started (the pool's metrics).
	runtimeRestarts atomic.Uint32

	mu sync.Mutex // guards the fields below
	// running are the tasks that have a slot, by ID; an entry is made before the task gets a
	// runtime, so that an ID is never run twice at once.
	running map[string]*run
	// held are the results the pool has not acknowledged yet. A task leaves running and enters held
	// in one step, so an assignment of its ID is ignored all along.
	held    map[string]*executorv1.TaskFinished
	session *session
	// draining, once set, is when the stopping executor's last tasks must have ended; it takes no new
	// ones. closing is set once it has nothing more to report: every session from then on ends as soon
	// as the pool has read it (its Hello carries whatever result an earlier session may have lost).
	draining    time.Time
	drainReason string
	closing     bool
	// unavailable receives why the executor stopped taking work of its own accord (a runtime could not
	// be started again), once: Run then drains and ends, so that its pod is replaced.
	unavailable chan error
	// watchdog stops the running tasks once the executor has heard nothing from the pool for the
	// pool's reconnect grace (see session.go); nil until a Welcome gave the grace.
	watchdog *time.Timer
	// wg counts the tasks that have a slot; Add is only called with mu held and draining unset, so
	// that drain's Wait never races an Add.
	wg sync.WaitGroup

	// afterSnapshot, set by tests, runs in open between the Hello's snapshot and its sending.
	afterSnapshot func()
}

// New returns an executor for cfg.
func New(cfg Config) (*Executor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("executor config: %w", err)
	}
	if cfg.ReconnectDelay <= 0 {
		cfg.ReconnectDelay = 500 * time.Millisecond
	}
	if cfg.WarmupTimeout <= 0 {
		cfg.WarmupTimeout = contract.DefaultWarmupTimeout
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = contract.DefaultDrainTimeout
	}
	if cfg.RuntimeEnv == nil {
		cfg.RuntimeEnv = withoutIdentity(os.Environ())
	}
	if cfg.InjectedPython != "" {
		cfg.RuntimeCommand = withInjectedPackage(cfg.RuntimeCommand, cfg.InjectedPython)
	}
	x := &Executor{
		cfg:         cfg,
		spawner:     newSpawner(),
		free:        make(chan *Runtime, cfg.Slots),
		running:     map[string]*run{},
		held:        map[string]*executorv1.TaskFinished{},
		unavailable: make(chan error, 1),
	}
	for range cfg.Slots {
		x.free <- NewRuntime(RuntimeOptions{Command: cfg.RuntimeCommand, Env: cfg.RuntimeEnv,
			Stdout: cfg.Stdout, Stderr: cfg.Stderr, Start: x.spawner.start, WarmupTimeout: cfg.WarmupTimeout,
			OnRestart: func() { x.runtimeRestarts.Add(1) }})
	}
	return x, nil
}

// Run warms the runtimes, then serves the pool until ctx is done (SIGTERM: the executor drains), the
// pool refuses the executor for good (wrong token, unsupported protocol), or a runtime cannot be
// started again (the executor drains and ends with ErrRuntimeUnavailable).
func (x *Executor) Run(ctx context.Context) error {
	defer x.stop()
	warmCtx, cancelWarm := context.WithTimeout(ctx, x.cfg.WarmupTimeout)
	err := x.warm(warmCtx)
	cancelWarm()
	if err != nil && ctx.Err() == nil {
		if errors.Is(err, context.DeadlineExceeded) {
			// Slow, not broken: another pod (on a less busy node) may warm up in time.
			return fmt.Errorf("%w: not warm after %s", ErrRuntimeUnavailable, x.cfg.WarmupTimeout)
		}
		return fmt.Errorf("%w: %w", ErrRuntimeCannotStart, err)
	}
	if ctx.Err() != nil {
		return nil
	}
	x.checkRuntimePackage()
	transport, err := x.transportCredentials()
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(x.cfg.PoolAddress,
		grpc.WithTransportCredentials(transport),
		// Pings notice a half-open connection, so that the executor reconnects and learns what the
		// pool wants of its tasks, instead of running tasks the pool has given up on.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: contract.KeepaliveInterval,
			Timeout: contract.KeepaliveInterval, PermitWithoutStream: true}),
		// gRPC's default backoff grows to 120 s between dials: an executor must be back well within
		// the pool's reconnect grace once the pool (or a new leader) listens again.
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: reconnectBackoff, MinConnectTimeout: 5 * time.Second}))
	if err != nil {
		return fmt.Errorf("pool address %q: %w", x.cfg.PoolAddress, err)
	}
	defer func() { _ = conn.Close() }()
	// Sessions outlive ctx: after SIGTERM the executor still reports to the pool while it drains.
	sessions, endSessions := context.WithCancel(context.Background())
	defer endSessions()
	refused := make(chan error, 1)
	go func() { refused <- x.connect(sessions, executorv1.NewExecutorServiceClient(conn)) }()
	var ended error
	select {
	case err := <-refused:
		return err
	case ended = <-x.unavailable:
	case <-ctx.Done():
	}
	x.drain("its pod is being deleted")
	// Close the stream from this side and let the pool read to its end: it handles messages in order,
	// so every result sent before is recorded. Then stop, whatever the pool does.
	x.closeSession()
	select {
	case <-refused:
	case <-time.After(5 * time.Second):
		endSessions()
		<-refused
	}
	return ended
}

// stopTakingWork makes the executor stop for reason (a runtime cannot be started again): it takes no new
// task, tells the pool why, and Run drains and ends with ErrRuntimeUnavailable, so that its pod is
// replaced instead of attracting (and failing) every task of its environment.
func (x *Executor) stopTakingWork(reason string) {
	x.beginDrain(reason)
	select {
	case x.unavailable <- fmt.Errorf("%w: %s", ErrRuntimeUnavailable, reason):
	default:
	}
}

// beginDrain stops the executor taking tasks and tells the pool why, once; it returns when its running
// tasks must have ended.
func (x *Executor) beginDrain(reason string) time.Time {
	x.mu.Lock()
	if !x.draining.IsZero() {
		defer x.mu.Unlock()
		return x.draining
	}
	x.draining, x.drainReason = time.Now().Add(x.cfg.DrainTimeout), reason
	deadline := x.draining
	x.mu.Unlock()
	fmt.Fprintf(x.cfg.Stderr, "actor executor: stopping (%s): no new tasks; running ones may finish until %s\n", reason,
		deadline.UTC().Format(time.RFC3339))
	x.report(drainingMessage(deadline, reason))
	return deadline
}

// drain stops the executor taking tasks (for reason, unless it stops already), tells the pool, and lets
// the running tasks finish for DrainTimeout; those still running then are stopped and reported lost
// (Flyte runs them again), never dropped.
func (x *Executor) drain(reason string) {
	deadline := x.beginDrain(reason)
	done := make(chan struct{})
	go func() {
		x.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(time.Until(deadline)):
	}
	x.stopAll(fmt.Sprintf("executor %s was stopped (its pod is going away) before the task ended", x.cfg.PodName))
	<-done
}

// stopAll stops every running task; each is reported lost, with why.
func (x *Executor) stopAll(why string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for id, rn := range x.running {
		if rn.stopped == "" {
			rn.stopped = why
		}
		if rn.runtime != nil {
			rn.runtime.Cancel(id)
		}
	}
}

func drainingMessage(deadline time.Time, reason string) *executorv1.ExecutorMessage {
	return &executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Draining{Draining: &executorv1.Draining{
		Deadline: timestamppb.New(deadline), Reason: reason}}}
}

// checkRuntimePackage says, in the pod's log, which flyteactors package the runtimes run, and warns
// when it is not this executor's release: an image may hold a flyteactors of its own, which wins over
// the one the executor brings, and a different release may not speak the executor's control protocol.
func (x *Executor) checkRuntimePackage() {
	r := <-x.free
	version, folder := r.Package()
	x.free <- r
	switch {
	case version == contract.Version:
		fmt.Fprintf(x.cfg.Stderr, "actor executor %s: runtimes run flyteactors %s from %s\n", contract.Version, version, folder)
	case version == "":
		fmt.Fprintf(x.cfg.Stderr, "actor executor %s: WARNING: the runtime did not say which flyteactors it runs "+
			"(an older release than %s, from the task's image?)\n", contract.Version, contract.Version)
	default:
		fmt.Fprintf(x.cfg.Stderr, "actor executor %s: WARNING: the task's image has flyteactors %s (%s), which comes "+
			"before the executor's own %s: they may not work together; install flyteactors==%s in the image, "+
			"or remove it from the image to use the one the executor brings\n",
			contract.Version, version, folder, contract.Version, contract.Version)
	}
}

// warm starts every runtime, in parallel, so the first task does not pay for Python's start.
func (x *Executor) warm(ctx context.Context) error {
	runtimes := make([]*Runtime, 0, x.cfg.Slots)
	for range x.cfg.Slots {
		runtimes = append(runtimes, <-x.free)
	}
	errs := make([]error, len(runtimes))
	var wg sync.WaitGroup
	for i, r := range runtimes {
		wg.Go(func() { errs[i] = r.Start(ctx) })
	}
	wg.Wait()
	for _, r := range runtimes {
		x.free <- r
	}
	return errors.Join(errs...)
}

func (x *Executor) stop() {
	x.mu.Lock()
	if x.watchdog != nil {
		x.watchdog.Stop()
	}
	for id, rn := range x.running {
		if rn.runtime != nil {
			rn.runtime.Cancel(id)
		}
	}
	x.mu.Unlock()
	x.wg.Wait()
	for range x.cfg.Slots {
		(<-x.free).Close()
	}
	x.spawner.stop()
}
