package executor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

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
