package harness

import (
	"context"
	"net"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/admin"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/service"
	"github.com/flyteorg/flyte/flytepropeller/pkg/apis/flyteworkflow/v1alpha1"
	flyteclient "github.com/flyteorg/flyte/flytepropeller/pkg/client/clientset/versioned"
	"github.com/flyteorg/flyte/flytestdlib/storage"
)

// What the harness's flyteadmin sets that flyteadmin takes from its configuration (flyteadmin's
// defaults, except that no platform task resources and no matchable attributes are configured).
const (
	// adminEventVersion is flyteadmin's default event version, written into every FlyteWorkflow.
	adminEventVersion = 2
	// adminMaxParallelism is flyteadmin's default max parallelism of an execution.
	adminMaxParallelism = 25
)

// Admin is the harness's stand-in for flyteadmin: the part of its AdminService propeller calls, and
// the one the harness itself uses to launch executions. It serves, as flyteadmin does:
//
//   - CreateExecution: look up the launch plan, merge the request's inputs with the launch plan's
//     defaults and fixed inputs (flyteadmin's rules and messages), compile its workflow with what it
//     references, and create the FlyteWorkflow in the namespace <project>-<domain> with the execution
//     config, labels, annotations, security context and raw output location of the request, or else of
//     the launch plan;
//   - GetExecution: the execution's phase, error, outputs location or abort cause (flyteadmin learns them
//     from propeller's events; the harness reads the FlyteWorkflow, since its propeller logs events);
//   - GetExecutionData: the execution's full inputs and outputs;
//   - TerminateExecution: record the cause and delete the FlyteWorkflow, which propeller aborts; an
//     execution that already ended is a FailedPrecondition carrying AlreadyInTerminalState;
//   - GetLaunchPlan: the registered launch plan with its expected inputs and outputs;
//   - CreateTaskEvent (and node and workflow events): recorded, as flyteadmin does for the UI (TaskEvents).
//
// Every other method returns Unimplemented. Executions are remembered for the stack's lifetime, as
// flyteadmin's database would.
type Admin struct {
	service.UnimplementedAdminServiceServer

	registry *registry
	flyte    flyteclient.Interface
	store    *storage.DataStore
	// offloadClosure keeps each FlyteWorkflow's static closure in the blob store, as flyteadmin's
	// useOffloadedWorkflowClosure does (Options.OffloadWorkflowClosure).
	offloadClosure bool

	mu         sync.Mutex // guards executions
	executions map[string]*executionRecord
	events     eventLog
}

// executionRecord is what the harness's flyteadmin keeps of an execution.
type executionRecord struct {
	id         *idlcore.WorkflowExecutionIdentifier
	spec       *admin.ExecutionSpec
	workflowID *idlcore.Identifier
	inputs     *idlcore.LiteralMap
	namespace  string
	createdAt  time.Time
	// abortCause is set by TerminateExecution.
	abortCause string
	// last is the closure last seen, for when the FlyteWorkflow is gone.
	last *admin.ExecutionClosure
	// outputs is where the execution's outputs are, once it succeeded with outputs.
	outputs storage.DataReference
}

func newAdmin(reg *registry, flyte flyteclient.Interface, store *storage.DataStore, offloadClosure bool) *Admin {
	return &Admin{registry: reg, flyte: flyte, store: store, offloadClosure: offloadClosure, executions: map[string]*executionRecord{}}
}

// serveAdmin serves a's AdminService on a free loopback port until ctx is done, and returns the address.
func serveAdmin(ctx context.Context, a *Admin) (string, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := grpc.NewServer()
	service.RegisterAdminServiceServer(srv, a)
	go func() { _ = srv.Serve(lis) }()
	go func() {
		<-ctx.Done()
		srv.Stop()
	}()
	return lis.Addr().String(), nil
}

// namespaceOf is flyteadmin's default namespace template, {{ project }}-{{ domain }}.
func namespaceOf(project, domain string) string { return project + "-" + domain }

func (a *Admin) record(id *idlcore.WorkflowExecutionIdentifier) *executionRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.executions[executionKey(id)]
}

// existing returns the record of execution id, or flyteadmin's NotFound error.
func (a *Admin) existing(id *idlcore.WorkflowExecutionIdentifier) (*executionRecord, error) {
	if rec := a.record(id); rec != nil {
		return rec, nil
	}
	return nil, status.Errorf(codes.NotFound, "missing entity of type execution with identifier %v", id)
}

// remember records rec unless an execution of its id exists; it says whether it did.
func (a *Admin) remember(rec *executionRecord) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := executionKey(rec.id)
	if _, ok := a.executions[key]; ok {
		return false
	}
	a.executions[key] = rec
	return true
}

// forget drops the record of an execution that could not be created.
func (a *Admin) forget(rec *executionRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.executions, executionKey(rec.id))
}

func executionKey(id *idlcore.WorkflowExecutionIdentifier) string {
	return id.GetProject() + "/" + id.GetDomain() + "/" + id.GetName()
}

// observe returns the execution's closure as its FlyteWorkflow shows it now, and the FlyteWorkflow
// (nil once it is gone).
func (a *Admin) observe(ctx context.Context, rec *executionRecord) (*admin.ExecutionClosure, *v1alpha1.FlyteWorkflow, error) {
	wf, err := a.flyte.FlyteworkflowV1alpha1().FlyteWorkflows(rec.namespace).Get(ctx, rec.id.GetName(), metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, nil, status.Errorf(codes.Internal, "read execution %s: %v", rec.id.GetName(), err)
	}
	if apierrors.IsNotFound(err) {
		wf = nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	closure := &admin.ExecutionClosure{
		Phase:      idlcore.WorkflowExecution_UNDEFINED,
		CreatedAt:  timestamppb.New(rec.createdAt),
		UpdatedAt:  timestamppb.Now(),
		WorkflowId: rec.workflowID,
	}
	switch {
	case wf != nil:
		fillFromWorkflow(closure, wf)
		if closure.GetPhase() == idlcore.WorkflowExecution_SUCCEEDED {
			rec.outputs = wf.Status.OutputReference
		}
	case rec.last != nil:
		closure = proto.Clone(rec.last).(*admin.ExecutionClosure)
	}
	if rec.abortCause != "" && !terminal(closure.GetPhase()) {
		// Terminated: aborting while propeller aborts the FlyteWorkflow, aborted once it is gone.
		closure.Phase = idlcore.WorkflowExecution_ABORTING
		if wf == nil {
			closure.Phase = idlcore.WorkflowExecution_ABORTED
		}
	}
	if rec.abortCause != "" && closure.GetPhase() == idlcore.WorkflowExecution_ABORTED {
		closure.OutputResult = &admin.ExecutionClosure_AbortMetadata{AbortMetadata: &admin.AbortMetadata{Cause: rec.abortCause}}
	}
	rec.last = closure
	return closure, wf, nil
}

// fillFromWorkflow sets the closure's phase, start, error and outputs from the FlyteWorkflow's status,
// what propeller's workflow events would have told flyteadmin.
func fillFromWorkflow(closure *admin.ExecutionClosure, wf *v1alpha1.FlyteWorkflow) {
	closure.Phase = workflowPhase(wf.Status.Phase)
	if started := wf.Status.StartedAt; started != nil {
		closure.StartedAt = timestamppb.New(started.Time)
	}
	switch closure.GetPhase() {
	case idlcore.WorkflowExecution_SUCCEEDED:
		if ref := wf.Status.OutputReference; ref != "" {
			closure.OutputResult = &admin.ExecutionClosure_Outputs{Outputs: &admin.LiteralMapBlob{
				Data: &admin.LiteralMapBlob_Uri{Uri: ref.String()}}}
		}
	case idlcore.WorkflowExecution_FAILED, idlcore.WorkflowExecution_FAILING:
		if e := wf.Status.Error; e != nil {
			closure.OutputResult = &admin.ExecutionClosure_Error{Error: e.ExecutionError}
		}
	}
}

// workflowPhase is the execution phase propeller reports for a FlyteWorkflow phase (Ready sends no
// event: flyteadmin still says UNDEFINED).
func workflowPhase(p v1alpha1.WorkflowPhase) idlcore.WorkflowExecution_Phase {
	switch p {
	case v1alpha1.WorkflowPhaseRunning:
		return idlcore.WorkflowExecution_RUNNING
	case v1alpha1.WorkflowPhaseSucceeding:
		return idlcore.WorkflowExecution_SUCCEEDING
	case v1alpha1.WorkflowPhaseSuccess:
		return idlcore.WorkflowExecution_SUCCEEDED
	case v1alpha1.WorkflowPhaseFailing, v1alpha1.WorkflowPhaseHandlingFailureNode:
		return idlcore.WorkflowExecution_FAILING
	case v1alpha1.WorkflowPhaseFailed:
		return idlcore.WorkflowExecution_FAILED
	case v1alpha1.WorkflowPhaseAborted:
		return idlcore.WorkflowExecution_ABORTED
	}
	return idlcore.WorkflowExecution_UNDEFINED
}

// terminal tells whether an execution in phase p has ended.
func terminal(p idlcore.WorkflowExecution_Phase) bool {
	switch p {
	case idlcore.WorkflowExecution_SUCCEEDED, idlcore.WorkflowExecution_FAILED, idlcore.WorkflowExecution_ABORTED,
		idlcore.WorkflowExecution_TIMED_OUT:
		return true
	}
	return false
}

// ChildExecutions returns the ids of the executions launched by nodes of execution parent (child
// launch plans), in the order they were created.
func (a *Admin) ChildExecutions(parent string) []*idlcore.WorkflowExecutionIdentifier {
	a.mu.Lock()
	defer a.mu.Unlock()
	var children []*executionRecord
	for _, rec := range a.executions {
		if rec.spec.GetMetadata().GetParentNodeExecution().GetExecutionId().GetName() == parent {
			children = append(children, rec)
		}
	}
	sort.Slice(children, func(i, j int) bool { return children[i].createdAt.Before(children[j].createdAt) })
	ids := make([]*idlcore.WorkflowExecutionIdentifier, 0, len(children))
	for _, rec := range children {
		ids = append(ids, rec.id)
	}
	return ids
}
