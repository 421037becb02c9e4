// Package executorsvc serves the executor protocol (executor-proto) on top of an actorpool.Pool: one
// bidirectional gRPC stream per executor, translated to and from the pool's calls.
package executorsvc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/flyteorg/flyte/flytestdlib/logger"

	"github.com/flyteactors/flyteactors/actorpool"
	executorv1 "github.com/flyteactors/flyteactors/go/executor/v1"
)

// Options tune the service. The zero value of each field means its default.
type Options struct {
	// HeartbeatInterval is how often executors must speak when idle. Default 5s.
	HeartbeatInterval time.Duration
	// MissedHeartbeats is how many intervals may pass in silence before the executor is lost. Default 3.
	MissedHeartbeats int
}

// Service implements executorv1.ExecutorServiceServer.
type Service struct {
	executorv1.UnimplementedExecutorServiceServer
	pool *actorpool.Pool
	opts Options
}

// New returns the service for pool.
func New(pool *actorpool.Pool, opts Options) *Service {
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = 5 * time.Second
	}
	if opts.MissedHeartbeats <= 0 {
		opts.MissedHeartbeats = 3
	}
	return &Service{pool: pool, opts: opts}
}

// Serve serves the service on lis until ctx is done, then stops the server and returns.
func (s *Service) Serve(ctx context.Context, lis net.Listener) error {
	srv := grpc.NewServer()
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

// Connect runs one executor's session.
func (s *Service) Connect(stream executorv1.ExecutorService_ConnectServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hello := first.GetHello()
	if hello == nil {
		return status.Error(codes.InvalidArgument, "the first message of a session must be a hello")
	}
	if hello.GetProtocolVersion() != executorv1.ProtocolVersion_PROTOCOL_VERSION_1 {
		return status.Errorf(codes.FailedPrecondition, "protocol version %s is not supported; this pool speaks %s",
			hello.GetProtocolVersion(), executorv1.ProtocolVersion_PROTOCOL_VERSION_1)
	}

	out := newOutbox()
	executor, cancel, err := s.pool.AttachExecutor(helloFromWire(hello), out)
	if err != nil {
		return attachStatus(err)
	}
	reason := "session ended"
	defer func() { s.pool.DetachExecutor(executor, reason) }()
	logger.Infof(ctx, "executor %s of environment %s connected with %d slots", hello.GetPodName(), hello.GetEnvironmentId(), hello.GetSlots())

	err = stream.Send(&executorv1.PoolMessage{Message: &executorv1.PoolMessage_Welcome{Welcome: &executorv1.Welcome{
		ProtocolVersion:   executorv1.ProtocolVersion_PROTOCOL_VERSION_1,
		HeartbeatInterval: durationpb.New(s.opts.HeartbeatInterval),
		CancelTaskIds:     cancel,
	}}})
	if err != nil {
		reason = fmt.Sprintf("cannot send welcome: %v", err)
		return err
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
			s.handle(executor, msg)
		case err := <-recvErr:
			reason = fmt.Sprintf("stream closed: %v", err)
			return nil
		case err := <-sendErr:
			reason = fmt.Sprintf("cannot send: %v", err)
			return err
		case <-silence.C:
			reason = fmt.Sprintf("no message for %s", lostAfter)
			return status.Errorf(codes.DeadlineExceeded, "executor %s sent nothing for %s", hello.GetPodName(), lostAfter)
		case <-ctx.Done():
			reason = "pool stopping"
			return ctx.Err()
		}
	}
}

func (s *Service) handle(e *actorpool.Executor, msg *executorv1.ExecutorMessage) {
	switch m := msg.GetMessage().(type) {
	case *executorv1.ExecutorMessage_Started:
		s.pool.TaskStarted(e, m.Started.GetTaskId(), m.Started.GetStartedAt().AsTime())
	case *executorv1.ExecutorMessage_Finished:
		s.pool.TaskFinished(e, resultFromWire(m.Finished))
	case *executorv1.ExecutorMessage_Heartbeat:
		// Arriving was the point.
	}
}

func attachStatus(err error) error {
	switch {
	case errors.Is(err, actorpool.ErrBadToken):
		return status.Error(codes.PermissionDenied, err.Error())
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
			Code: fl.GetCode(), Message: fl.GetMessage()}
	}
	return r
}

func timeFromWire(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}
