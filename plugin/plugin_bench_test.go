package plugin

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
)

// runningPool reports every task running, as the pool does for a task an executor is working on.
type runningPool struct{ status actorpool.TaskStatus }

func (p runningPool) Submit(context.Context, actorpool.Task) error { return nil }
func (p runningPool) Status(string) (actorpool.TaskStatus, bool)   { return p.status, true }
func (p runningPool) Release(string)                               {}
func (p runningPool) AwaitEnd(context.Context, string, time.Duration) (actorpool.TaskStatus, bool) {
	return p.status, true
}

// fastContext is the part of a TaskExecutionContext that Handle reads for a task the pool knows; a
// mockery mock would measure testify, not Handle.
type fastContext struct {
	pluginsCore.TaskExecutionContext
	meta fastMetadata
}

func (c fastContext) TaskExecutionMetadata() pluginsCore.TaskExecutionMetadata { return c.meta }
func (c fastContext) TaskReader() pluginsCore.TaskReader {
	return templateReader{&idlcore.TaskTemplate{}}
}

type fastMetadata struct {
	pluginsCore.TaskExecutionMetadata
	id fastID
}

func (m fastMetadata) GetTaskExecutionID() pluginsCore.TaskExecutionID { return m.id }
func (m fastMetadata) GetNamespace() string                            { return "ns" }

type fastID struct{ pluginsCore.TaskExecutionID }

func (fastID) GetGeneratedName() string               { return "exec-n0-0" }
func (fastID) GetID() idlcore.TaskExecutionIdentifier { return idlcore.TaskExecutionIdentifier{} }
func (fastID) GetUniqueNodeID() string                { return "n0" }

// BenchmarkHandleRunningTask measures Handle for a task the pool reports running: the cost propeller
// pays on every round for every actor task in flight.
func BenchmarkHandleRunningTask(b *testing.B) {
	running := runningStatus(b)
	if running.Phase() != actorpool.TaskRunning {
		b.Fatalf("status is %s, not running", running.Phase())
	}
	cfg := defaultConfig
	p, err := New(runningPool{status: running}, &cfg, "")
	if err != nil {
		b.Fatal(err)
	}
	tCtx := fastContext{}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		tr, err := p.Handle(ctx, tCtx)
		if err != nil || tr.Info().Phase() != pluginsCore.PhaseRunning {
			b.Fatalf("Handle: %v %v", tr.Info().Phase(), err)
		}
	}
}

// runningStatus drives a real pool until a task runs and returns its status: only the pool makes
// statuses.
func runningStatus(b *testing.B) actorpool.TaskStatus {
	ctx, cancel := context.WithCancel(context.Background())
	pool := actorpool.New(ctx, pooltest.NewCluster(), func(types.NamespacedName) {}, actorpool.Options{})
	defer func() {
		cancel()
		pool.Wait()
	}()
	spec := actorpool.EnvironmentSpec{Key: actorpool.EnvironmentKey{Namespace: "ns", Name: "e"}, Replicas: 1, Slots: 1,
		Pod: &corev1.Pod{}, PrimaryContainer: "actor"}
	if err := pool.Submit(ctx, actorpool.Task{ID: "t", Environment: spec, Command: []string{"x"}}); err != nil {
		b.Fatal(err)
	}
	session, _, err := pooltest.Attach(pool, pooltest.Hello(spec, "p", 1), &pooltest.Link{}, 5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	pool.TaskStarted(session, "t", time.Now())
	s, _ := pool.Status("t")
	return s
}
