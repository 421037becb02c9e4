package executor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/flyteactors/flyteactors/go/contract"
	executorv1 "github.com/flyteactors/flyteactors/go/executor/v1"
)

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
	grace := welcome.GetReconnectGrace().AsDuration()
	x.heard(grace, cancel)
	interval := welcome.GetHeartbeatInterval().AsDuration()
	if interval <= 0 {
		interval = contract.DefaultHeartbeatInterval
	}
	if grace > 0 {
		// The pool answers each heartbeat: four chances to be heard within the grace.
		interval = min(interval, grace/4)
	}
	go x.heartbeat(sctx, s, interval)

	for {
		msg, err := stream.Recv()
		if err != nil {
			return false, err
		}
		x.heard(grace, cancel)
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
	hello, overflow := x.helloLocked()
	x.session = s
	x.mu.Unlock()
	if x.afterSnapshot != nil {
		x.afterSnapshot()
	}
	if err := s.stream.Send(&executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Hello{Hello: hello}}); err != nil {
		return err
	}
	// The results a Hello may not carry follow it at once: the pool reads them after admitting the
	// executor.
	for _, f := range overflow {
		if err := s.stream.Send(&executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Finished{Finished: f}}); err != nil {
			return err
		}
	}
	x.mu.Lock()
	draining, reason, closing := x.draining, x.drainReason, x.closing
	x.mu.Unlock()
	if !draining.IsZero() {
		if err := s.stream.Send(drainingMessage(draining, reason)); err != nil { // a new session of a stopping executor
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

// heard notes that the pool spoke (a Welcome giving its reconnect grace, or any later message): the
// watchdog starts again. Once the executor has heard nothing for the grace, the pool has failed its
// tasks as lost and Flyte runs them elsewhere: the watchdog stops them then (reported lost) and ends the
// session with endSession, so that no task runs twice at once however the connection broke. Without a
// grace (a pool that does not give one) there is no watchdog.
func (x *Executor) heard(grace time.Duration, endSession context.CancelFunc) {
	if grace <= 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.watchdog != nil {
		x.watchdog.Stop()
	}
	x.watchdog = time.AfterFunc(grace, func() {
		why := fmt.Sprintf("executor %s heard nothing from the actor pool for %s, the pool's reconnect grace: "+
			"the pool has given the task up, and Flyte runs it again", x.cfg.PodName, grace)
		fmt.Fprintf(x.cfg.Stderr, "actor executor: %s; stopping its tasks\n", why)
		x.stopAll(why)
		endSession()
	})
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
				Heartbeat: &executorv1.Heartbeat{SentAt: timestamppb.Now(), RuntimeRestarts: x.runtimeRestarts.Load()}}})
		}
	}
}

// helloLocked describes the executor and what it holds. x.mu must be held.
// The results it holds beyond what a Hello may carry (contract.MaxHeldResultsPerSlot per slot) are
// returned apart, to be sent right after it. x.mu must be held.
func (x *Executor) helloLocked() (hello *executorv1.Hello, overflow []*executorv1.TaskFinished) {
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
	limit := x.cfg.Slots * contract.MaxHeldResultsPerSlot
	for _, r := range x.held {
		if len(h.HeldResults) < limit {
			h.HeldResults = append(h.HeldResults, r)
		} else {
			overflow = append(overflow, r)
		}
	}
	return h, overflow
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

// reconnectBackoff is how the executor dials the pool again after a connection failed: from 100 ms,
// growing to at most 2 s (gRPC's default grows to 120 s), so that it is back within seconds of the pool,
// or a new leader, listening again: well within the reconnect grace.
var reconnectBackoff = backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second}
