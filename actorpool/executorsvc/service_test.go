package executorsvc_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/executorsvc"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
	executorv1 "github.com/flyteactors/flyteactors/go/executor/v1"
)

// serve starts a pool with one ready environment of the given TTL, which has run a task "a" the
// plugin has not released yet, and its service; it returns a client.
func serve(t *testing.T, opts executorsvc.Options, ttl time.Duration) (*actorpool.Pool, actorpool.EnvironmentSpec, executorv1.ExecutorServiceClient) {
	ctx, cancel := context.WithCancel(context.Background())
	pool := actorpool.New(ctx, pooltest.NewCluster(), func(types.NamespacedName) {}, actorpool.Options{})
	spec := pooltest.Spec("team-secret-name", ttl)
	require.NoError(t, pool.Submit(ctx, pooltest.Task("a", spec)))
	probe, _, err := pooltest.Attach(pool, pooltest.Hello(spec, "probe", 1), &pooltest.Link{}, 5*time.Second)
	require.NoError(t, err)
	pool.TaskFinished(probe, actorpool.Result{TaskID: "a"})

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = executorsvc.New(pool, opts).Serve(ctx, lis)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		<-served
		pool.Wait()
	})
	return pool, spec, executorv1.NewExecutorServiceClient(conn)
}

// TestStreamWithoutHelloIsEnded: any pod could otherwise hold streams open forever.
func TestStreamWithoutHelloIsEnded(t *testing.T) {
	_, _, client := serve(t, executorsvc.Options{HelloTimeout: 100 * time.Millisecond}, time.Hour)
	stream, err := client.Connect(context.Background())
	require.NoError(t, err)
	start := time.Now()
	_, err = stream.Recv()
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
	assert.Less(t, time.Since(start), 5*time.Second)
}

// TestWrongTokenLearnsNothing: the refusal names neither the environment nor why.
func TestWrongTokenLearnsNothing(t *testing.T) {
	_, spec, client := serve(t, executorsvc.Options{}, time.Hour)
	stream, err := client.Connect(context.Background())
	require.NoError(t, err)
	hello := pooltest.Hello(spec, "pod-x", 1)
	require.NoError(t, stream.Send(&executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Hello{Hello: &executorv1.Hello{
		ProtocolVersion: executorv1.ProtocolVersion_PROTOCOL_VERSION_1, EnvironmentId: hello.EnvironmentID,
		PodName: hello.PodName, Token: "guess", Slots: 1}}}))
	_, err = stream.Recv()
	assert.Equal(t, codes.PermissionDenied, status.Code(err))
	assert.Equal(t, "permission denied", status.Convert(err).Message())
}

// TestPoolEndsTheSessionsOfADeletedEnvironment: the executor of a deleted pod learns
// its session is over, and reconnects (UNAVAILABLE) instead of idling on a stream the pool ignores.
func TestPoolEndsTheSessionsOfADeletedEnvironment(t *testing.T) {
	pool, spec, client := serve(t, executorsvc.Options{}, 50*time.Millisecond)
	stream, err := client.Connect(context.Background())
	require.NoError(t, err)
	hello := pooltest.Hello(spec, "pod-y", 1)
	require.NoError(t, stream.Send(&executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Hello{Hello: &executorv1.Hello{
		ProtocolVersion: executorv1.ProtocolVersion_PROTOCOL_VERSION_1, EnvironmentId: hello.EnvironmentID,
		PodName: hello.PodName, Token: hello.Token, Slots: 1}}}))
	first, err := stream.Recv()
	require.NoError(t, err)
	require.NotNil(t, first.GetWelcome())
	pool.Release("a") // the environment is idle; its TTL is 50 ms
	for {
		msg, err := stream.Recv()
		if err != nil {
			assert.Equal(t, codes.Unavailable, status.Code(err))
			assert.Contains(t, status.Convert(err).Message(), "environment was deleted")
			return
		}
		assert.Nil(t, msg.GetAssignment(), "a deleted executor gets no work")
	}
}

// TestStoppedExecutorRequeuesWhatItNeverStartedAtOnce: an assignment the pool sent before it read that
// the executor was stopping is refused by the executor, which then closes its session for good; the
// attempt is queued again then, for another executor, costing no retry, not failed after the reconnect
// grace as lost.
func TestStoppedExecutorRequeuesWhatItNeverStartedAtOnce(t *testing.T) {
	pool, _, client := serve(t, executorsvc.Options{}, time.Hour)
	spec := pooltest.Spec("stopping", time.Hour)
	require.NoError(t, pool.Submit(context.Background(), pooltest.Task("b", spec)))
	hello := pooltest.Hello(spec, "pod-z", 1)
	var stream executorv1.ExecutorService_ConnectClient
	require.Eventually(t, func() bool { // the environment is ready once the pool ensured it
		var err error
		stream, err = client.Connect(context.Background())
		require.NoError(t, err)
		require.NoError(t, stream.Send(&executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Hello{Hello: &executorv1.Hello{
			ProtocolVersion: executorv1.ProtocolVersion_PROTOCOL_VERSION_1, EnvironmentId: hello.EnvironmentID,
			PodName: hello.PodName, Token: hello.Token, Slots: 1}}}))
		first, err := stream.Recv()
		return err == nil && first.GetWelcome() != nil
	}, 5*time.Second, 20*time.Millisecond)
	msg, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, "b", msg.GetAssignment().GetTaskId())

	require.NoError(t, stream.Send(&executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Draining{Draining: &executorv1.Draining{}}}))
	require.NoError(t, stream.CloseSend())
	for err == nil {
		_, err = stream.Recv()
	}
	require.Eventually(t, func() bool {
		s, _ := pool.Status("b")
		return s.Phase() == actorpool.TaskQueued
	}, 2*time.Second, 10*time.Millisecond, "queued again at once, not lost after the reconnect grace (20 s)")
	link := &pooltest.Link{}
	_, _, err = pool.AttachExecutor(pooltest.Hello(spec, "pod-y", 1), link)
	require.NoError(t, err)
	require.Len(t, link.Assignments(), 1, "another executor runs it")
	assert.Equal(t, "b", link.Assignments()[0].TaskID)
}

// TestStreamsWithoutHelloAreLimited: streams that have not sent their Hello are bounded in number; one
// over the bound is refused at once, and an executor that says hello is served.
func TestStreamsWithoutHelloAreLimited(t *testing.T) {
	_, spec, client := serve(t, executorsvc.Options{HelloTimeout: time.Minute, MaxStreamsWithoutHello: 2}, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Open silent streams until one is refused; one still open after a while was taken.
	taken := 0
	for refused := false; !refused; {
		stream, err := client.Connect(ctx)
		require.NoError(t, err)
		got := make(chan error, 1)
		go func() { _, err := stream.Recv(); got <- err }()
		select {
		case err := <-got:
			require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
			refused = true
		case <-time.After(300 * time.Millisecond):
			taken++
			require.LessOrEqual(t, taken, 2, "no more than two streams wait for their hello")
		}
	}
	assert.Equal(t, 2, taken)
	cancel() // the silent streams go

	hello := pooltest.Hello(spec, "pod-h", 1)
	require.Eventually(t, func() bool {
		stream, err := client.Connect(context.Background())
		require.NoError(t, err)
		require.NoError(t, stream.Send(&executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Hello{Hello: &executorv1.Hello{
			ProtocolVersion: executorv1.ProtocolVersion_PROTOCOL_VERSION_1, EnvironmentId: hello.EnvironmentID,
			PodName: hello.PodName, Token: hello.Token, Slots: 1}}}))
		first, err := stream.Recv()
		return err == nil && first.GetWelcome() != nil
	}, 5*time.Second, 10*time.Millisecond, "served once the silent streams went")
}
