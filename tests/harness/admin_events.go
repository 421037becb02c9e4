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
	mu        sync.Mutex // guards tasks and workflows
	tasks     []*event.TaskExecutionEvent
	workflows []*event.WorkflowExecutionEvent
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

// CreateWorkflowEvent records a workflow execution event (the harness reads phases from the FlyteWorkflow;
// the events tell when each phase began, as propeller saw it).
func (a *Admin) CreateWorkflowEvent(_ context.Context, req *admin.WorkflowExecutionEventRequest) (*admin.WorkflowExecutionEventResponse, error) {
	a.events.mu.Lock()
	defer a.events.mu.Unlock()
	a.events.workflows = append(a.events.workflows, proto.Clone(req.GetEvent()).(*event.WorkflowExecutionEvent))
	return &admin.WorkflowExecutionEventResponse{}, nil
}

// WorkflowEvents returns the workflow events of execution name, in the order propeller sent them.
func (a *Admin) WorkflowEvents(execution string) []*event.WorkflowExecutionEvent {
	a.events.mu.Lock()
	defer a.events.mu.Unlock()
	var out []*event.WorkflowExecutionEvent
	for _, e := range a.events.workflows {
		if e.GetExecutionId().GetName() == execution {
			out = append(out, e)
		}
	}
	return out
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
