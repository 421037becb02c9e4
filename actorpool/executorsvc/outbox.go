package executorsvc

import (
	"context"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/flyteactors/flyteactors/actorpool"
	executorv1 "github.com/flyteactors/flyteactors/go/executor/v1"
)

// outbox is the actorpool.ExecutorLink of one session: the pool appends without ever blocking, and
// the session's sender goroutine drains in order onto the stream.
type outbox struct {
	mu      sync.Mutex // guards pending and closed
	pending []*executorv1.PoolMessage
	// closed, once set, is why the pool ended the session; nothing more is sent.
	closed string
	ready  chan struct{} // holds a token while pending is not empty or the outbox is closed
}

func newOutbox() *outbox { return &outbox{ready: make(chan struct{}, 1)} }

// Assign queues an assignment.
func (o *outbox) Assign(a actorpool.Assignment) {
	env := make([]*executorv1.EnvVar, 0, len(a.Env))
	for _, v := range a.Env {
		env = append(env, &executorv1.EnvVar{Name: v.Name, Value: v.Value})
	}
	o.push(&executorv1.PoolMessage{Message: &executorv1.PoolMessage_Assignment{Assignment: &executorv1.Assignment{
		TaskId: a.TaskID, Command: a.Command, Env: env,
	}}})
}

// Cancel queues a cancel.
func (o *outbox) Cancel(taskID string) {
	o.push(&executorv1.PoolMessage{Message: &executorv1.PoolMessage_Cancel{Cancel: &executorv1.Cancel{TaskId: taskID}}})
}

// Ack queues a result acknowledgement.
func (o *outbox) Ack(taskID string) {
	o.push(&executorv1.PoolMessage{Message: &executorv1.PoolMessage_Ack{Ack: &executorv1.ResultAck{TaskId: taskID}}})
}

// heartbeat queues the answer to an executor's heartbeat.
func (o *outbox) heartbeat() {
	o.push(&executorv1.PoolMessage{Message: &executorv1.PoolMessage_Heartbeat{Heartbeat: &executorv1.Heartbeat{SentAt: timestamppb.Now()}}})
}

// Close ends the session: drain stops with reason.
func (o *outbox) Close(reason string) {
	o.mu.Lock()
	if o.closed == "" {
		o.closed = reason
	}
	o.mu.Unlock()
	o.signal()
}

func (o *outbox) push(m *executorv1.PoolMessage) {
	o.mu.Lock()
	o.pending = append(o.pending, m)
	o.mu.Unlock()
	o.signal()
}

func (o *outbox) signal() {
	select {
	case o.ready <- struct{}{}:
	default:
	}
}

// drain sends queued messages with send, in order, until ctx is done, send fails, or the pool closes
// the outbox, which ends it with an UNAVAILABLE status: the executor reconnects.
func (o *outbox) drain(ctx context.Context, send func(*executorv1.PoolMessage) error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-o.ready:
		}
		o.mu.Lock()
		batch, closed := o.pending, o.closed
		o.pending = nil
		o.mu.Unlock()
		if closed != "" {
			return status.Errorf(codes.Unavailable, "the pool ended the session: %s", closed)
		}
		for _, m := range batch {
			if err := send(m); err != nil {
				return err
			}
		}
	}
}
