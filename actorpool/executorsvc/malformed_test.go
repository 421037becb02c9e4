package executorsvc_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flyteactors/flyteactors/actorpool/executorsvc"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
	executorv1 "github.com/flyteactors/flyteactors/go/executor/v1"
)

// TestMalformedSessionsAreRefusedClearly: each way a session can open wrong, and
// the status it ends with.
func TestMalformedSessionsAreRefusedClearly(t *testing.T) {
	_, spec, client := serve(t, executorsvc.Options{HelloTimeout: 200 * time.Millisecond}, time.Hour)
	good := pooltest.Hello(spec, "pod-z", 1)
	hello := func(edit func(h *executorv1.Hello)) []*executorv1.ExecutorMessage {
		h := &executorv1.Hello{ProtocolVersion: executorv1.ProtocolVersion_PROTOCOL_VERSION_1, EnvironmentId: good.EnvironmentID,
			PodName: good.PodName, Token: good.Token, Slots: 1}
		edit(h)
		return []*executorv1.ExecutorMessage{{Message: &executorv1.ExecutorMessage_Hello{Hello: h}}}
	}
	for name, tc := range map[string]struct {
		send []*executorv1.ExecutorMessage
		code codes.Code
		want string
	}{
		"heartbeat first": {[]*executorv1.ExecutorMessage{{Message: &executorv1.ExecutorMessage_Heartbeat{Heartbeat: &executorv1.Heartbeat{}}}},
			codes.InvalidArgument, "the first message of a session must be a hello"},
		"result first": {[]*executorv1.ExecutorMessage{{Message: &executorv1.ExecutorMessage_Finished{Finished: &executorv1.TaskFinished{TaskId: "a"}}}},
			codes.InvalidArgument, "the first message of a session must be a hello"},
		"empty message first": {[]*executorv1.ExecutorMessage{{}}, codes.InvalidArgument, "must be a hello"},
		"no protocol version": {hello(func(h *executorv1.Hello) { h.ProtocolVersion = 0 }), codes.FailedPrecondition, "not supported"},
		"future version":      {hello(func(h *executorv1.Hello) { h.ProtocolVersion = 99 }), codes.FailedPrecondition, "not supported"},
		"no pod name":         {hello(func(h *executorv1.Hello) { h.PodName = "" }), codes.InvalidArgument, "malformed hello"},
		"no slots":            {hello(func(h *executorv1.Hello) { h.Slots = 0 }), codes.InvalidArgument, "malformed hello"},
		"unknown environment": {hello(func(h *executorv1.Hello) { h.EnvironmentId = "nope" }), codes.NotFound, "unknown environment"},
		"no token":            {hello(func(h *executorv1.Hello) { h.Token = "" }), codes.PermissionDenied, "permission denied"},
		"another pod's token": {hello(func(h *executorv1.Hello) { h.Token = pooltest.Token(spec.Key, "pod-other") }), codes.PermissionDenied, "permission denied"},
		"nothing at all":      {nil, codes.DeadlineExceeded, "no hello within"},
		"another env's token": {hello(func(h *executorv1.Hello) { h.Token = pooltest.Token(pooltest.Spec("other", time.Hour).Key, "pod-z") }), codes.PermissionDenied, "permission denied"},
	} {
		t.Run(name, func(t *testing.T) {
			stream, err := client.Connect(context.Background())
			require.NoError(t, err)
			for _, m := range tc.send {
				require.NoError(t, stream.Send(m))
			}
			_, err = stream.Recv()
			assert.Equal(t, tc.code, status.Code(err), "%v", err)
			assert.Contains(t, status.Convert(err).Message(), tc.want)
		})
	}
}
