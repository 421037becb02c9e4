package executor

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/flyteactors/flyteactors/go/contract"
	executorv1 "github.com/flyteactors/flyteactors/go/executor/v1"
)

// sessionRecorder is an executor service that ends the first session right after its Welcome and
// records what every later session receives.
type sessionRecorder struct {
	executorv1.UnimplementedExecutorServiceServer
	mu       sync.Mutex
	sessions int
	got      []*executorv1.ExecutorMessage
}

func (s *sessionRecorder) Connect(stream executorv1.ExecutorService_ConnectServer) error {
	hello, err := stream.Recv()
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.sessions++
	first := s.sessions == 1
	if !first {
		s.got = append(s.got, hello)
	}
	s.mu.Unlock()
	if err := stream.Send(&executorv1.PoolMessage{Message: &executorv1.PoolMessage_Welcome{Welcome: &executorv1.Welcome{
		ProtocolVersion: executorv1.ProtocolVersion_PROTOCOL_VERSION_1, HeartbeatInterval: durationpb.New(time.Hour)}}}); err != nil {
		return err
	}
	if first {
		return nil
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.got = append(s.got, msg)
		s.mu.Unlock()
	}
}

// reported says whether the later sessions heard of task id's result, in a Hello or on its own.
func (s *sessionRecorder) reported(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.got {
		for _, r := range m.GetHello().GetHeldResults() {
			if r.GetTaskId() == id {
				return true
			}
		}
		if m.GetFinished().GetTaskId() == id {
			return true
		}
	}
	return false
}

// TestResultFinishedWhileReconnectingReachesThePool: a task that finishes while the
// executor opens a new session (after the Hello's snapshot was taken) is reported on that session.
func TestResultFinishedWhileReconnectingReachesThePool(t *testing.T) {
	recorder := &sessionRecorder{}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	executorv1.RegisterExecutorServiceServer(srv, recorder)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	x, err := New(Config{PoolAddress: lis.Addr().String(), EnvironmentID: "env", PodName: "pod", Token: "t", Slots: 1,
		RuntimeCommand: []string{"python3", "testdata/fake_runtime.py"}, Stdout: &discard{}, Stderr: &discard{},
		ReconnectDelay: 10 * time.Millisecond})
	require.NoError(t, err)
	opened := 0
	x.afterSnapshot = func() {
		opened++
		if opened == 2 {
			// The task ends between the snapshot and the Hello on the wire: its report must wait for
			// the Hello, then go on this session.
			go x.finish("t1", time.Now(), nil, nil)
			time.Sleep(100 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	assert.Eventually(t, func() bool { return recorder.reported("t1") }, 10*time.Second, 10*time.Millisecond)
}

// TestSameTaskAssignedAgainRunsOnce: an assignment of an ID the executor runs, or
// holds a result for, is ignored, whatever the timing.
func TestSameTaskAssignedAgainRunsOnce(t *testing.T) {
	out := &syncBuffer{}
	x, err := New(Config{PoolAddress: "unused:1", EnvironmentID: "env", PodName: "pod", Token: "t", Slots: 2,
		RuntimeCommand: []string{"python3", "testdata/fake_runtime.py"}, Stdout: out, Stderr: out})
	require.NoError(t, err)
	require.NoError(t, x.warm(context.Background()))
	t.Cleanup(x.stop)

	ctx := context.Background()
	for range 50 {
		x.start(ctx, &executorv1.Assignment{TaskId: "same", Command: []string{"ok"}})
	}
	require.Eventually(t, func() bool {
		x.mu.Lock()
		defer x.mu.Unlock()
		return x.held["same"] != nil
	}, 10*time.Second, 10*time.Millisecond)
	x.start(ctx, &executorv1.Assignment{TaskId: "same", Command: []string{"ok"}})
	x.wg.Wait()
	assert.Equal(t, 1, strings.Count(out.String(), "ran same in "), "one run, however often it was assigned")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// syncBuffer collects output safely across goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

// slowReader is an executor service that welcomes one session with a heartbeat every millisecond, then
// reads nothing until told to: a pool busy elsewhere while the executor stops.
type slowReader struct {
	executorv1.UnimplementedExecutorServiceServer
	connected, read chan struct{}
	// cancelled is the session's context error when the reader looked, got what it read after.
	cancelled error
	got       []*executorv1.ExecutorMessage
}

func (s *slowReader) Connect(stream executorv1.ExecutorService_ConnectServer) error {
	if _, err := stream.Recv(); err != nil {
		return err
	}
	if err := stream.Send(&executorv1.PoolMessage{Message: &executorv1.PoolMessage_Welcome{Welcome: &executorv1.Welcome{
		ProtocolVersion: executorv1.ProtocolVersion_PROTOCOL_VERSION_1, HeartbeatInterval: durationpb.New(time.Millisecond)}}}); err != nil {
		return err
	}
	close(s.connected)
	<-s.read
	s.cancelled = stream.Context().Err()
	for {
		msg, err := stream.Recv()
		if err != nil {
			return nil
		}
		s.got = append(s.got, msg)
	}
}

// TestStoppingExecutorSendsNothingAfterClosing: once a stopping executor closed its side of the session,
// its heartbeats stop. gRPC cancels a stream sent on after CloseSend, and the pool, reading late, lost
// the last results: a task that had succeeded counted as lost, and Flyte ran it again.
func TestStoppingExecutorSendsNothingAfterClosing(t *testing.T) {
	reader := &slowReader{connected: make(chan struct{}), read: make(chan struct{})}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	executorv1.RegisterExecutorServiceServer(srv, reader)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-served
	})

	x, err := New(Config{PoolAddress: lis.Addr().String(), EnvironmentID: "env", PodName: "pod", Token: "t", Slots: 1,
		RuntimeCommand: []string{"python3", "testdata/fake_runtime.py"}, Stdout: &discard{}, Stderr: &discard{}})
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	<-reader.connected
	stop() // SIGTERM: nothing runs, so the executor closes its side at once
	time.Sleep(200 * time.Millisecond)
	close(reader.read)
	require.NoError(t, <-done)
	srv.GracefulStop()

	assert.NoError(t, reader.cancelled, "the executor cancelled the session before the pool read it")
	var draining bool
	for _, m := range reader.got {
		draining = draining || m.GetDraining() != nil
	}
	assert.True(t, draining, "the pool read what the executor sent before it closed: %v", reader.got)
}

// silentPool is an executor service that assigns one task, answers heartbeats until told to fall silent
// (the stream stays open, as in a network partition), and records the Hellos of later sessions.
type silentPool struct {
	executorv1.UnimplementedExecutorServiceServer
	grace  time.Duration
	silent chan struct{}
	mu     sync.Mutex
	hellos []*executorv1.Hello
}

func (s *silentPool) Connect(stream executorv1.ExecutorService_ConnectServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.hellos = append(s.hellos, first.GetHello())
	later := len(s.hellos) > 1
	s.mu.Unlock()
	if err := stream.Send(&executorv1.PoolMessage{Message: &executorv1.PoolMessage_Welcome{Welcome: &executorv1.Welcome{
		ProtocolVersion: executorv1.ProtocolVersion_PROTOCOL_VERSION_1, HeartbeatInterval: durationpb.New(time.Second),
		ReconnectGrace: durationpb.New(s.grace)}}}); err != nil {
		return err
	}
	if later {
		<-stream.Context().Done()
		return nil
	}
	if err := stream.Send(&executorv1.PoolMessage{Message: &executorv1.PoolMessage_Assignment{Assignment: &executorv1.Assignment{
		TaskId: "long", Command: []string{"sleep", "30"}}}}); err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			return err
		}
		select {
		case <-s.silent:
			continue // heard, never answered
		default:
		}
		if msg.GetHeartbeat() != nil {
			if err := stream.Send(&executorv1.PoolMessage{Message: &executorv1.PoolMessage_Heartbeat{Heartbeat: &executorv1.Heartbeat{}}}); err != nil {
				return err
			}
		}
	}
}

// heldResult returns the result of task id a later session's Hello carried, if one did.
func (s *silentPool) heldResult(id string) *executorv1.TaskFinished {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.hellos[1:] {
		for _, r := range h.GetHeldResults() {
			if r.GetTaskId() == id {
				return r
			}
		}
	}
	return nil
}

// TestExecutorStopsTasksAfterDisconnectLongerThanGrace: once the pool has failed a lost executor's
// tasks (after its reconnect grace), Flyte runs them elsewhere; an executor cut off from the pool for
// that long, even on a connection that looks open, stops them, so that no task runs twice at once.
func TestExecutorStopsTasksAfterDisconnectLongerThanGrace(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	pool := &silentPool{grace: time.Second, silent: make(chan struct{})}
	srv := grpc.NewServer()
	executorv1.RegisterExecutorServiceServer(srv, pool)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	out := &syncBuffer{}
	x, err := New(Config{PoolAddress: lis.Addr().String(), EnvironmentID: "e", PodName: "pod-1", Token: "t", Slots: 1,
		RuntimeCommand: []string{"python3", "testdata/fake_runtime.py"}, Stdout: out, Stderr: out, ReconnectDelay: 50 * time.Millisecond})
	require.NoError(t, err)
	runExecutor(t, x)

	require.Eventually(t, func() bool { return strings.Contains(out.String(), "actor task long: start") }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(2 * pool.grace) // answered heartbeats keep it running past the grace
	require.NotContains(t, out.String(), "actor task long: end", "a pool that answers keeps the task running")
	silentAt := time.Now()
	close(pool.silent)

	require.Eventually(t, func() bool { return pool.heldResult("long") != nil }, 10*time.Second, 10*time.Millisecond)
	stoppedAfter := time.Since(silentAt)
	r := pool.heldResult("long")
	assert.Equal(t, contract.CodeExecutorLost, r.GetFailure().GetCode())
	assert.Contains(t, r.GetFailure().GetMessage(), "heard nothing from the actor pool for 1s")
	assert.Less(t, stoppedAfter, pool.grace+2*time.Second, "stopped within the grace of the pool's last word")
}
