package executorsvc

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
	executorv1 "github.com/flyteactors/flyteactors/go/executor/v1"
)

// FuzzSession: any Hello and any messages after it, as the service hands them to
// the pool, never panic and never leave an executor with more tasks than its slots. The first byte
// says whether the Hello carries the right identity, so that most inputs reach past the token check.
func FuzzSession(f *testing.F) {
	seeds := [][]*executorv1.ExecutorMessage{
		{hello("pod", 1, []string{"t1"}, nil), started("t1"), finished("t1", nil)},
		{hello("pod", 2, nil, []*executorv1.TaskFinished{{TaskId: "t0", Failure: &executorv1.Failure{Code: "X"}}}), finished("t0", nil), {}},
		{hello("", 0, nil, nil)},
		{hello("pod", 1000000, []string{"a", "a", "b"}, nil), finished("zzz", &executorv1.Failure{ExitCode: -1, Oom: true})},
		{hello("pod", 1, nil, nil), {Message: &executorv1.ExecutorMessage_Draining{Draining: &executorv1.Draining{}}}},
	}
	for _, msgs := range seeds {
		f.Add(encode(msgs), true)
		f.Add(encode(msgs), false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, validIdentity bool) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pool := actorpool.New(ctx, pooltest.NewCluster(), func(types.NamespacedName) {}, actorpool.Options{})
		defer pool.Wait()
		defer cancel()
		spec := pooltest.Spec("env", time.Hour)
		spec.Slots = 2
		for _, id := range []string{"t0", "t1", "a", "b"} {
			if err := pool.Submit(ctx, pooltest.Task(id, spec)); err != nil {
				t.Fatal(err)
			}
		}
		msgs := decode(raw)
		if len(msgs) == 0 || msgs[0].GetHello() == nil {
			return
		}
		h := helloFromWire(msgs[0].GetHello())
		if validIdentity {
			h.EnvironmentID, h.Token = spec.Key.ID(), pooltest.Token(spec.Key, h.PodName)
		}
		link := &pooltest.Link{}
		session, _, err := pooltest.Attach(pool, h, link, time.Second)
		if err != nil {
			return
		}
		svc := New(pool, Options{})
		for _, m := range msgs[1:] {
			svc.handle(session, newOutbox(), m)
		}
		assigned := 0
		for _, id := range []string{"t0", "t1", "a", "b"} {
			if s, ok := pool.Status(id); ok && (s.Phase() == actorpool.TaskAssigned || s.Phase() == actorpool.TaskRunning) {
				assigned++
			}
		}
		if assigned > spec.Slots {
			t.Fatalf("%d tasks on an executor of %d slots", assigned, spec.Slots)
		}
	})
}

func hello(pod string, slots uint32, running []string, held []*executorv1.TaskFinished) *executorv1.ExecutorMessage {
	return &executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Hello{Hello: &executorv1.Hello{
		ProtocolVersion: executorv1.ProtocolVersion_PROTOCOL_VERSION_1, PodName: pod, Slots: slots,
		RunningTaskIds: running, HeldResults: held}}}
}

func started(id string) *executorv1.ExecutorMessage {
	return &executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Started{Started: &executorv1.TaskStarted{TaskId: id, StartedAt: timestamppb.Now()}}}
}

func finished(id string, f *executorv1.Failure) *executorv1.ExecutorMessage {
	return &executorv1.ExecutorMessage{Message: &executorv1.ExecutorMessage_Finished{Finished: &executorv1.TaskFinished{TaskId: id, Failure: f}}}
}

// encode writes messages as length-prefixed protobuf.
func encode(msgs []*executorv1.ExecutorMessage) []byte {
	var out []byte
	for _, m := range msgs {
		b, _ := proto.Marshal(m)
		out = binary.AppendUvarint(out, uint64(len(b)))
		out = append(out, b...)
	}
	return out
}

// decode reads length-prefixed protobuf messages, as many as make sense.
func decode(raw []byte) []*executorv1.ExecutorMessage {
	var msgs []*executorv1.ExecutorMessage
	for len(raw) > 0 && len(msgs) < 64 {
		n, k := binary.Uvarint(raw)
		if k <= 0 || n > uint64(len(raw)-k) {
			break
		}
		var m executorv1.ExecutorMessage
		if proto.Unmarshal(raw[k:k+int(n)], &m) != nil {
			break
		}
		msgs = append(msgs, &m)
		raw = raw[k+int(n):]
	}
	return msgs
}
