// Package executorsvc serves the executor protocol (executor-proto) on top of an actorpool.Pool: one
// bidirectional gRPC stream per executor, translated to and from the pool's calls.
package executorsvc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/flyteorg/flyte/flytestdlib/logger"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/go/contract"
	executorv1 "github.com/flyteactors/flyteactors/go/executor/v1"
)

// Options tune the service. A zero field takes its value from DefaultOptions.
type Options struct {
	// HeartbeatInterval is how often executors must speak when idle.
	HeartbeatInterval time.Duration
	// MissedHeartbeats is how many intervals may pass in silence before the executor is lost.
	MissedHeartbeats int
	// HelloTimeout is how long a new stream may take to send its Hello.
	HelloTimeout time.Duration
	// MaxStreamsWithoutHello bounds the streams that have not sent their Hello yet: more are refused
	// (RESOURCE_EXHAUSTED; an executor tries again), so that nobody who can reach the port holds an
	// unbounded number open. Executors send their Hello at once, so the bound is reached only by a
	// flood.
	MaxStreamsWithoutHello int
	// ReconnectGrace is the pool's reconnect grace, which executors are told (Welcome): one that hears
	// nothing from the pool for that long stops its tasks, which the pool has failed by then. Zero:
	// executors are told nothing and never stop their tasks for it.
	ReconnectGrace time.Duration
	// TLS, if set, is the server's TLS: executors verify the pool, and nobody on the network reads the
	// tasks or the tokens.
	TLS *tls.Config
}

// DefaultOptions returns the options the service runs with unless told otherwise; the plugin's
// configuration defaults are taken from here.
func DefaultOptions() Options {
	return Options{HeartbeatInterval: contract.DefaultHeartbeatInterval, MissedHeartbeats: 3, HelloTimeout: 10 * time.Second,
		MaxStreamsWithoutHello: 256}
}

// Pool is the service's view of the actor pool: exactly the calls it makes for each executor's stream
// (an *actorpool.Pool is one). Every call but AttachExecutor takes the Session AttachExecutor returned.
type Pool interface {
	// AttachExecutor admits an executor on its Hello; it returns its session and the attempts it
	// reported running that it must cancel, or an actorpool error saying why it is refused.
	AttachExecutor(h actorpool.ExecutorHello, link actorpool.ExecutorLink) (*actorpool.Session, []string, error)
	// TaskStarted and TaskFinished report an attempt's start and result.
	TaskStarted(s *actorpool.Session, taskID string, at time.Time)
	TaskFinished(s *actorpool.Session, r actorpool.Result)
	// ExecutorDraining reports that the executor is stopping; ExecutorClosed that it then closed its
	// side of the stream for good.
	ExecutorDraining(s *actorpool.Session)
	ExecutorClosed(s *actorpool.Session)
	// DetachExecutor ends the session once its stream has ended, for whatever reason.
	DetachExecutor(s *actorpool.Session, reason string)
	// RuntimesRestarted reports how many times the executor has started its runtimes again, in all.
	RuntimesRestarted(s *actorpool.Session, restarts int)
}

var _ Pool = (*actorpool.Pool)(nil)

// Service implements executorv1.ExecutorServiceServer.
type Service struct {
	executorv1.UnimplementedExecutorServiceServer
	pool Pool
	opts Options
	// awaitingHello holds a token for each stream that has not sent its Hello yet.
	awaitingHello chan struct{}
}

// New returns the service for pool.
func New(pool Pool, opts Options) *Service {
	d := DefaultOptions()
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = d.HeartbeatInterval
	}
	if opts.MissedHeartbeats <= 0 {
		opts.MissedHeartbeats = d.MissedHeartbeats
	}
	if opts.HelloTimeout <= 0 {
		opts.HelloTimeout = d.HelloTimeout
	}
	if opts.MaxStreamsWithoutHello <= 0 {
		opts.MaxStreamsWithoutHello = d.MaxStreamsWithoutHello
	}
	return &Service{pool: pool, opts: opts, awaitingHello: make(chan struct{}, opts.MaxStreamsWithoutHello)}
}

// Serve serves the service on lis until ctx is done, then stops the server and returns.
func (s *Service) Serve(ctx context.Context, lis net.Listener) error {
	srv := grpc.NewServer(s.ServerOptions()...)
	executorv1.RegisterExecutorServiceServer(srv, s)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		srv.Stop()
	}()
	err := srv.Serve(lis)
	<-stopped
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// ServerOptions are the gRPC server options the service needs: keepalive pings, so that a half-open
// connection (an executor whose network vanished) is noticed within seconds, not never; and TLS.
func (s *Service) ServerOptions() []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: s.opts.HeartbeatInterval, Timeout: s.opts.HeartbeatInterval}),
		// Executors ping every contract.KeepaliveInterval; allow that, and no more often.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: contract.KeepaliveInterval / 2, PermitWithoutStream: true}),
	}
	if s.opts.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.opts.TLS)))
	}
	return opts
}

// Connect runs one executor's session: it admits the executor, then relays messages both ways until
// the stream ends, and detaches the session from the pool when it does.
func (s *Service) Connect(stream executorv1.ExecutorService_ConnectServer) error {
	select {
	case s.awaitingHello <- struct{}{}:
	default:
		return status.Errorf(codes.ResourceExhausted, "%d streams are waiting to say hello already", cap(s.awaitingHello))
	}
	hello, err := receiveHello(stream, s.opts.HelloTimeout)
	<-s.awaitingHello
	if err != nil {
		return err
	}
	out := newOutbox()
	session, cancel, err := s.pool.AttachExecutor(helloFromWire(hello), out)
	if err != nil {
		return attachStatus(err)
	}
	logger.Infof(stream.Context(), "executor %s of environment %s connected with %d slots",
		hello.GetPodName(), hello.GetEnvironmentId(), hello.GetSlots())
	reason, err := s.serve(stream, session, out, cancel)
	s.pool.DetachExecutor(session, reason)
	return err
}

// receiveHello reads the session's first message, which must be a Hello of a protocol version this
// pool speaks and arrive within timeout: a stream that says nothing is not held open.
func receiveHello(stream executorv1.ExecutorService_ConnectServer, timeout time.Duration) (*executorv1.Hello, error) {
	type received struct {
		msg *executorv1.ExecutorMessage
		err error
	}
	got := make(chan received, 1)
	go func() {
		msg, err := stream.Recv()
		got <- received{msg, err}
	}()
	var first *executorv1.ExecutorMessage
	select {
	case r := <-got:
		if r.err != nil {
			return nil, r.err
		}
		first = r.msg
	case <-time.After(timeout):
		// Returning ends the stream, which ends the Recv above.
		return nil, status.Errorf(codes.DeadlineExceeded, "no hello within %s", timeout)
	}
	hello := first.GetHello()
	if hello == nil {
		return nil, status.Error(codes.InvalidArgument, "the first message of a session must be a hello")
	}
	if hello.GetProtocolVersion() != executorv1.ProtocolVersion_PROTOCOL_VERSION_1 {
		return nil, status.Errorf(codes.FailedPrecondition, "protocol version %s is not supported; this pool speaks %s",
			hello.GetProtocolVersion(), executorv1.ProtocolVersion_PROTOCOL_VERSION_1)
	}
	return hello, nil
}

// serve welcomes an attached session and relays until the stream ends. It returns why the session
// ended (for the tasks it loses) and the error to end the stream with.
func (s *Service) serve(stream executorv1.ExecutorService_ConnectServer, session *actorpool.Session, out *outbox,
	cancel []string) (reason string, err error) {
	ctx := stream.Context()
	err = stream.Send(&executorv1.PoolMessage{Message: &executorv1.PoolMessage_Welcome{Welcome: &executorv1.Welcome{
		ProtocolVersion:   executorv1.ProtocolVersion_PROTOCOL_VERSION_1,
		HeartbeatInterval: durationpb.New(s.opts.HeartbeatInterval),
		CancelTaskIds:     cancel,
		ReconnectGrace:    reconnectGrace(s.opts.ReconnectGrace),
	}}})
	if err != nil {
		return fmt.Sprintf("cannot send welcome: %v", err), err
	}

	sendErr := make(chan error, 1)
	go func() { sendErr <- out.drain(ctx, stream.Send) }()
	received := make(chan *executorv1.ExecutorMessage)
	recvErr := make(chan error, 1)
	go func() {
		for {
			msg, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case received <- msg:
			case <-ctx.Done():
				return
			}
		}
	}()

	lostAfter := time.Duration(s.opts.MissedHeartbeats) * s.opts.HeartbeatInterval
	silence := time.NewTimer(lostAfter)
	defer silence.Stop()
	for {
		select {
		case msg := <-received:
			silence.Reset(lostAfter)
			s.handle(session, out, msg)
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				// The executor closed its side, having sent everything before: it is done for good.
				s.pool.ExecutorClosed(session)
			}
			return fmt.Sprintf("stream closed: %v", err), nil
		case err := <-sendErr:
			return fmt.Sprintf("cannot send: %v", err), err
		case <-silence.C:
			return fmt.Sprintf("no message for %s", lostAfter),
				status.Errorf(codes.DeadlineExceeded, "executor %s sent nothing for %s", session.PodName(), lostAfter)
		case <-ctx.Done():
			return "pool stopping", ctx.Err()
		}
	}
}

func (s *Service) handle(session *actorpool.Session, out *outbox, msg *executorv1.ExecutorMessage) {
	switch m := msg.GetMessage().(type) {
	case *executorv1.ExecutorMessage_Started:
		s.pool.TaskStarted(session, m.Started.GetTaskId(), m.Started.GetStartedAt().AsTime())
	case *executorv1.ExecutorMessage_Finished:
		s.pool.TaskFinished(session, resultFromWire(m.Finished))
		s.pool.RuntimesRestarted(session, int(m.Finished.GetRuntimeRestarts()))
	case *executorv1.ExecutorMessage_Draining:
		logger.Infof(context.Background(), "executor %s is stopping: %s", session.PodName(), m.Draining.GetReason())
		s.pool.ExecutorDraining(session)
	case *executorv1.ExecutorMessage_Heartbeat:
		// Answered, in order with everything else the pool sends, so that the executor knows the pool
		// hears it (see Options.ReconnectGrace).
		out.heartbeat()
		s.pool.RuntimesRestarted(session, int(m.Heartbeat.GetRuntimeRestarts()))
	}
}

// reconnectGrace is the Welcome's reconnect_grace: unset for zero.
func reconnectGrace(d time.Duration) *durationpb.Duration {
	if d <= 0 {
		return nil
	}
	return durationpb.New(d)
}

func attachStatus(err error) error {
	switch {
	case errors.Is(err, actorpool.ErrBadToken):
		return status.Error(codes.PermissionDenied, "permission denied")
	case errors.Is(err, actorpool.ErrUnknownEnvironment):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, actorpool.ErrEnvironmentNotReady):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, actorpool.ErrBadHello):
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func helloFromWire(h *executorv1.Hello) actorpool.ExecutorHello {
	held := make([]actorpool.Result, 0, len(h.GetHeldResults()))
	for _, r := range h.GetHeldResults() {
		held = append(held, resultFromWire(r))
	}
	return actorpool.ExecutorHello{
		EnvironmentID: h.GetEnvironmentId(),
		PodName:       h.GetPodName(),
		Token:         h.GetToken(),
		Slots:         int(h.GetSlots()),
		Running:       h.GetRunningTaskIds(),
		Held:          held,
	}
}

func resultFromWire(f *executorv1.TaskFinished) actorpool.Result {
	r := actorpool.Result{
		TaskID:     f.GetTaskId(),
		StartedAt:  timeFromWire(f.GetStartedAt()),
		FinishedAt: timeFromWire(f.GetFinishedAt()),
	}
	if fl := f.GetFailure(); fl != nil {
		kind := actorpool.FailureSystem
		if fl.GetKind() == executorv1.FailureKind_FAILURE_KIND_USER {
			kind = actorpool.FailureUser
		}
		r.Failure = &actorpool.Failure{Kind: kind, Retryable: fl.GetRetryable(), OOM: fl.GetOom(),
			Code: fl.GetCode(), Message: fl.GetMessage(), ExitCode: fl.GetExitCode()}
	}
	return r
}

func timeFromWire(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}
