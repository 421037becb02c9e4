package harness

import (
	"context"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/admin"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/event"
)

// eventLog keeps the execution events propeller sends the harness's flyteadmin: what flyteadmin stores
// and the Flyte UI shows (a task's phases, with their reasons: why it waits, why it failed).
type eventLog struct {
	mu    sync.Mutex // guards tasks
	tasks []*event.TaskExecutionEvent
}

// CreateTaskEvent records a task execution event.
func (a *Admin) CreateTaskEvent(_ context.Context, req *admin.TaskExecutionEventRequest) (*admin.TaskExecutionEventResponse, error) {
	a.events.mu.Lock()
	defer a.events.mu.Unlock()
	a.events.tasks = append(a.events.tasks, proto.Clone(req.GetEvent()).(*event.TaskExecutionEvent))
	return &admin.TaskExecutionEventResponse{}, nil
}

// CreateNodeEvent accepts a node execution event (the harness reads nodes from the FlyteWorkflow).
func (a *Admin) CreateNodeEvent(context.Context, *admin.NodeExecutionEventRequest) (*admin.NodeExecutionEventResponse, error) {
	return &admin.NodeExecutionEventResponse{}, nil
}

// CreateWorkflowEvent accepts a workflow execution event (the harness reads the FlyteWorkflow).
func (a *Admin) CreateWorkflowEvent(context.Context, *admin.WorkflowExecutionEventRequest) (*admin.WorkflowExecutionEventResponse, error) {
	return &admin.WorkflowExecutionEventResponse{}, nil
}

// TaskEvents returns the task events of execution name, in the order propeller sent them.
func (a *Admin) TaskEvents(execution string) []*event.TaskExecutionEvent {
	a.events.mu.Lock()
	defer a.events.mu.Unlock()
	var out []*event.TaskExecutionEvent
	for _, e := range a.events.tasks {
		if e.GetParentNodeExecutionId().GetExecutionId().GetName() == execution {
			out = append(out, e)
		}
	}
	return out
}
