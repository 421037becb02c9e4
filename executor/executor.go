// Package executor is the bridge that runs as the primary container of every executor pod. It keeps
// one warm Python runtime per slot, holds a session with the actor pool (executor-proto), runs the
// tasks the pool assigns, and keeps each result until the pool acknowledges it, across reconnects.
package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/flyteactors/flyteactors/go/contract"
	executorv1 "github.com/flyteactors/flyteactors/go/executor/v1"
	"github.com/flyteactors/flyteactors/go/servercert"
)

// Config is what an executor needs to know; cmd/actor-executor reads it from the pod's environment.
type Config struct {
	PoolAddress   string
	EnvironmentID string
	PodName       string
	// Token is the pod's token, which it presents in its Hello.
	Token          string
	Slots          int
	RuntimeCommand []string
	// RuntimeEnv is the runtimes' environment; default the executor's own without FLYTE_ACTOR_*, so
	// that neither a runtime nor a task sees the pod's token.
	RuntimeEnv []string
	// Stdout and Stderr receive the tasks' output (the pod's log).
	Stdout, Stderr io.Writer
	// ReconnectDelay is how long to wait before reconnecting after a session ends. Default 500ms.
	ReconnectDelay time.Duration
	// WarmupTimeout is how long the runtimes may take to warm up. Default contract.DefaultWarmupTimeout.
	WarmupTimeout time.Duration
	// DrainTimeout is how long running tasks may finish once the executor is told to stop. Default
	// contract.DefaultDrainTimeout.
	DrainTimeout time.Duration
	// CA, if set, is the PEM certificate the pool's executor service must be signed by: the executor
	// speaks TLS and verifies the pool. Without it, it speaks plain gRPC.
	CA []byte
}

// Errors Run ends with, for which the executor's process exits with a code of its own (package
// contract), so that the pool can tell why its pod ended.
var (
	// ErrRefused: the pool refused the executor for good.
	ErrRefused = errors.New("the pool refused this executor")
	// ErrRuntimeCannotStart: a Python runtime could not start or warm up.
	ErrRuntimeCannotStart = errors.New("the Python runtime could not start")
)

// Validate reports the first missing or bad setting.
func (c Config) Validate() error {
	switch {
	case c.PoolAddress == "":
		return errors.New("pool address is empty")
	case c.EnvironmentID == "":
		return errors.New("environment id is empty")
	case c.PodName == "":
		return errors.New("pod name is empty")
	case c.Token == "":
		return errors.New("token is empty")
	case c.Slots < 1:
		return fmt.Errorf("slots must be at least 1, got %d", c.Slots)
	case len(c.RuntimeCommand) == 0:
		return errors.New("runtime command is empty")
	}
	return nil
}

// withoutIdentity returns environ without the variables that give the executor its identity.
func withoutIdentity(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "FLYTE_ACTOR_") || strings.HasPrefix(kv, EnvPython+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// Executor is one executor pod's bridge.
type Executor struct {
	cfg     Config
	spawner *spawner
	free    chan *Runtime

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
	draining time.Time
	closing  bool
	// wg counts the tasks that have a slot; Add is only called with mu held and draining unset, so
	// that drain's Wait never races an Add.
	wg sync.WaitGroup

	// afterSnapshot, set by tests, runs in open between the Hello's snapshot and its sending.
	afterSnapshot func()
}

// run is one task in a slot.
type run struct {
	// runtime runs the task; nil until the task got one.
	runtime *Runtime
	// cancelled says the pool cancelled the task; stopped that the executor stopped it to exit.
	cancelled bool
	stopped   bool
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
	x := &Executor{
		cfg:     cfg,
		spawner: newSpawner(),
		free:    make(chan *Runtime, cfg.Slots),
		running: map[string]*run{},
		held:    map[string]*executorv1.TaskFinished{},
	}
	for range cfg.Slots {
		x.free <- NewRuntime(RuntimeOptions{Command: cfg.RuntimeCommand, Env: cfg.RuntimeEnv,
			Stdout: cfg.Stdout, Stderr: cfg.Stderr, Start: x.spawner.start})
	}
	return x, nil
}

// Run warms the runtimes, then serves the pool until ctx is done (SIGTERM: the executor drains) or the
// pool refuses the executor for good (wrong token, unsupported protocol).
func (x *Executor) Run(ctx context.Context) error {
	defer x.stop()
	warmCtx, cancelWarm := context.WithTimeout(ctx, x.cfg.WarmupTimeout)
	err := x.warm(warmCtx)
	cancelWarm()
	if err != nil && ctx.Err() == nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("not warm after %s", x.cfg.WarmupTimeout)
		}
		return fmt.Errorf("%w: %w", ErrRuntimeCannotStart, err)
	}
	if ctx.Err() != nil {
		return nil
	}
	transport, err := x.transportCredentials()
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(x.cfg.PoolAddress,
		grpc.WithTransportCredentials(transport),
		// Pings notice a half-open connection, so that the executor reconnects and learns what the
		// pool wants of its tasks, instead of running tasks the pool has given up on.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: contract.KeepaliveInterval,
			Timeout: contract.KeepaliveInterval, PermitWithoutStream: true}))
	if err != nil {
		return fmt.Errorf("pool address %q: %w", x.cfg.PoolAddress, err)
	}
	defer func() { _ = conn.Close() }()
	// Sessions outlive ctx: after SIGTERM the executor still reports to the pool while it drains.
	sessions, endSessions := context.WithCancel(context.Background())
	defer endSessions()
	refused := make(chan error, 1)
	go func() { refused <- x.connect(sessions, executorv1.NewExecutorServiceClient(conn)) }()
	select {
	case err := <-refused:
		return err
	case <-ctx.Done():
	}
	x.drain()
	// Close the stream from this side and let the pool read to its end: it handles messages in order,
	// so every result sent before is recorded. Then stop, whatever the pool does.
	x.closeSession()
	select {
	case <-refused:
	case <-time.After(5 * time.Second):
		endSessions()
		<-refused
	}
	return nil
}

// closeSession ends the current session from the executor's side, for good: it closes its sending
// side, and the pool, which handles messages in order, reads everything sent before and ends it. If no
// session is open, the next one is closed right after its Hello.
func (x *Executor) closeSession() {
	x.mu.Lock()
	x.closing = true
	s := x.session
	x.mu.Unlock()
	if s != nil {
		s.closeSend()
	}
}

// transportCredentials are TLS that trusts only Config.CA and expects the pool address's host, or
// none without a CA.
func (x *Executor) transportCredentials() (credentials.TransportCredentials, error) {
	if x.cfg.CA == nil {
		return insecure.NewCredentials(), nil
	}
	host, _, err := net.SplitHostPort(x.cfg.PoolAddress)
	if err != nil {
		return nil, fmt.Errorf("pool address %q: %w", x.cfg.PoolAddress, err)
	}
	cfg, err := servercert.ClientTLS(x.cfg.CA, host)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", contract.EnvCA, err)
	}
	return credentials.NewTLS(cfg), nil
}

// connect holds sessions with the pool, one after another, until ctx is done or the pool refuses the
// executor for good.
func (x *Executor) connect(ctx context.Context, client executorv1.ExecutorServiceClient) error {
	for {
		closed, err := x.serve(ctx, client)
		if ctx.Err() != nil || closed {
			return nil
		}
		switch status.Code(err) {
		case codes.PermissionDenied, codes.FailedPrecondition, codes.InvalidArgument:
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		fmt.Fprintf(x.cfg.Stderr, "actor executor: session with pool ended: %v; reconnecting\n", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(x.cfg.ReconnectDelay):
		}
	}
}

// drain stops the executor taking tasks, tells the pool, and lets the running tasks finish for
// DrainTimeout; those still running then are stopped and reported lost (Flyte runs them again), never
// dropped.
func (x *Executor) drain() {
	deadline := time.Now().Add(x.cfg.DrainTimeout)
	x.mu.Lock()
	x.draining = deadline
	x.mu.Unlock()
	fmt.Fprintf(x.cfg.Stderr, "actor executor: stopping: no new tasks; running ones may finish until %s\n", deadline.UTC().Format(time.RFC3339))
	x.report(drainingMessage(deadline))
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
	x.mu.Lock()
	for id, rn := range x.running {
		rn.stopped = true
		if rn.runtime != nil {
			rn.runtime.Cancel(id)
		}
	}
	x.mu.Unlock()
	<-done
}

func drainingMessage(deadline time.Time) *executorv1.ExecutorMessage {
	return &executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Draining{Draining: &executorv1.Draining{
		Deadline: timestamppb.New(deadline)}}}
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

// session is one live stream to the pool. send may be called from any goroutine.
type session struct {
	mu     sync.Mutex // serialises Send and guards closed
	stream executorv1.ExecutorService_ConnectClient
	// closed is true once the executor closed its sending side: the session's end is its last.
	closed bool
}

// closeSend closes the session's sending side.
func (s *session) closeSend() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	_ = s.stream.CloseSend()
}

// isClosed reports whether closeSend was called.
func (s *session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// errSessionClosed is send's error once the executor closed the session's sending side.
var errSessionClosed = errors.New("the session's sending side is closed")

// send sends m, unless the sending side is closed. It must not reach the stream then: gRPC fails a
// stream sent on after CloseSend and cancels it, and the pool would lose what it had not read yet —
// the results a stopping executor sent last.
func (s *session) send(m *executorv1.ExecutorMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errSessionClosed
	}
	return s.stream.Send(m)
}

// serve runs one session until it ends or ctx is done. closed is true when the executor itself ended
// it (closeSession): then it was the last.
func (x *Executor) serve(ctx context.Context, client executorv1.ExecutorServiceClient) (closed bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.Connect(sctx)
	if err != nil {
		return false, err
	}
	s := &session{stream: stream}
	defer x.clearSession(s)
	defer func() { closed = s.isClosed() }()
	if err := x.open(s); err != nil {
		return false, err
	}
	first, err := stream.Recv()
	if err != nil {
		return false, err
	}
	welcome := first.GetWelcome()
	if welcome == nil {
		return false, fmt.Errorf("the pool's first message was not a welcome: %v", first)
	}
	for _, id := range welcome.GetCancelTaskIds() {
		x.cancel(id)
	}
	interval := welcome.GetHeartbeatInterval().AsDuration()
	if interval <= 0 {
		interval = contract.DefaultHeartbeatInterval
	}
	go x.heartbeat(sctx, s, interval)

	for {
		msg, err := stream.Recv()
		if err != nil {
			return false, err
		}
		switch m := msg.GetMessage().(type) {
		case *executorv1.PoolMessage_Assignment:
			x.start(ctx, m.Assignment)
		case *executorv1.PoolMessage_Cancel:
			x.cancel(m.Cancel.GetTaskId())
		case *executorv1.PoolMessage_Ack:
			x.mu.Lock()
			delete(x.held, m.Ack.GetTaskId())
			x.mu.Unlock()
		}
	}
}

// open makes s the session and sends its Hello. Taking the Hello's snapshot of what the executor runs
// and holds and making s the session are one step, and nothing is sent on s before the Hello: so
// every result is either in the Hello or reported on s after it, never in neither.
func (x *Executor) open(s *session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	x.mu.Lock()
	hello := x.helloLocked()
	x.session = s
	x.mu.Unlock()
	if x.afterSnapshot != nil {
		x.afterSnapshot()
	}
	if err := s.stream.Send(&executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Hello{Hello: hello}}); err != nil {
		return err
	}
	x.mu.Lock()
	draining, closing := x.draining, x.closing
	x.mu.Unlock()
	if !draining.IsZero() {
		if err := s.stream.Send(drainingMessage(draining)); err != nil { // a new session of a stopping executor
			return err
		}
	}
	if closing {
		// The Hello carried every result held: the pool reads it, then the end.
		s.closed = true
		return s.stream.CloseSend()
	}
	return nil
}

// clearSession forgets s if it is still the session.
func (x *Executor) clearSession(s *session) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.session == s {
		x.session = nil
	}
}

func (x *Executor) heartbeat(ctx context.Context, s *session, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = s.send(&executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Heartbeat{
				Heartbeat: &executorv1.Heartbeat{SentAt: timestamppb.Now()}}})
		}
	}
}

// helloLocked describes the executor and what it holds. x.mu must be held.
func (x *Executor) helloLocked() *executorv1.Hello {
	h := &executorv1.Hello{
		ProtocolVersion: executorv1.ProtocolVersion_PROTOCOL_VERSION_1,
		EnvironmentId:   x.cfg.EnvironmentID,
		PodName:         x.cfg.PodName,
		Token:           x.cfg.Token,
		Slots:           uint32(x.cfg.Slots),
	}
	for id := range x.running {
		h.RunningTaskIds = append(h.RunningTaskIds, id)
	}
	for _, r := range x.held {
		h.HeldResults = append(h.HeldResults, r)
	}
	return h
}

// report sends m on the current session, if there is one. Results are also held, so a report lost
// with its session is sent again in the next hello.
func (x *Executor) report(m *executorv1.ExecutorMessage) {
	x.mu.Lock()
	s := x.session
	x.mu.Unlock()
	if s != nil {
		_ = s.send(m)
	}
}

// start runs an assignment in a free runtime.
func (x *Executor) start(ctx context.Context, a *executorv1.Assignment) {
	id := a.GetTaskId()
	rn := &run{}
	x.mu.Lock()
	_, dup := x.running[id]
	_, done := x.held[id]
	draining := !x.draining.IsZero()
	reserved := !dup && !done && !draining
	if reserved {
		x.running[id] = rn
		x.wg.Add(1)
	}
	x.mu.Unlock()
	switch {
	case dup || done:
		return // the pool re-sent what this executor already has; never run an attempt twice
	case draining:
		x.finish(id, time.Now(), nil, systemFailure(contract.CodeExecutorDraining, true,
			fmt.Sprintf("executor %s is stopping and did not start the task", x.cfg.PodName)))
		return
	}
	var r *Runtime
	select {
	case r = <-x.free:
	default:
		defer x.wg.Done()
		x.finish(id, time.Now(), nil, systemFailure(contract.CodeNoFreeSlot, true,
			fmt.Sprintf("executor %s was given more tasks than its %d slots", x.cfg.PodName, x.cfg.Slots)))
		return
	}
	x.mu.Lock()
	rn.runtime = r
	cancelled := rn.cancelled
	x.mu.Unlock()
	if cancelled {
		r.Cancel(id) // cancelled before it had a runtime: the runtime refuses it
	}
	env := make(map[string]string, len(a.GetEnv()))
	for _, v := range a.GetEnv() {
		env[v.GetName()] = v.GetValue()
	}
	go func() {
		defer x.wg.Done()
		startedAt := time.Now()
		fmt.Fprintf(x.cfg.Stdout, "=== actor task %s: start at %s ===\n", id, startedAt.UTC().Format(time.RFC3339Nano))
		failure := r.Run(ctx, id, a.GetCommand(), env, func() {
			x.report(&executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Started{Started: &executorv1.TaskStarted{
				TaskId: id, StartedAt: timestamppb.New(startedAt)}}})
		})
		fmt.Fprintf(x.cfg.Stdout, "=== actor task %s: end at %s (ok=%t) ===\n", id, time.Now().UTC().Format(time.RFC3339Nano), failure == nil)
		x.mu.Lock()
		stopped := rn.stopped
		x.mu.Unlock()
		if stopped {
			failure = systemFailure(contract.CodeExecutorLost, true,
				fmt.Sprintf("executor %s was stopped (its pod is going away) before the task ended", x.cfg.PodName))
		}
		x.finish(id, startedAt, r, failure)
	}()
}

// finish moves a task from its slot (if it had one) to the held results (failure nil: the command
// completed), frees its runtime, and reports the result.
func (x *Executor) finish(id string, startedAt time.Time, r *Runtime, failure *executorv1.Failure) {
	f := &executorv1.TaskFinished{TaskId: id, Failure: failure, StartedAt: timestamppb.New(startedAt), FinishedAt: timestamppb.Now()}
	x.mu.Lock()
	delete(x.running, id)
	x.held[id] = f
	x.mu.Unlock()
	if r != nil {
		x.free <- r
	}
	x.report(&executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Finished{Finished: f}})
}

// cancel stops a task this executor has, and nothing else.
func (x *Executor) cancel(id string) {
	var r *Runtime
	x.mu.Lock()
	if rn := x.running[id]; rn != nil {
		rn.cancelled = true
		r = rn.runtime
	}
	x.mu.Unlock()
	if r != nil {
		r.Cancel(id)
	}
}
