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
	"github.com/flyteorg/flyte/flytepropeller/pkg/compiler/transformers/k8s"
	"github.com/flyteorg/flyte/flytepropeller/pkg/compiler/validators"
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

func newAdmin(reg *registry, flyte flyteclient.Interface, store *storage.DataStore) *Admin {
	return &Admin{registry: reg, flyte: flyte, store: store, executions: map[string]*executionRecord{}}
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

// CreateExecution launches an execution of a launch plan.
func (a *Admin) CreateExecution(ctx context.Context, req *admin.ExecutionCreateRequest) (*admin.ExecutionCreateResponse, error) {
	id := &idlcore.WorkflowExecutionIdentifier{Project: req.GetProject(), Domain: req.GetDomain(), Name: req.GetName()}
	if id.GetProject() == "" || id.GetDomain() == "" || id.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "missing project, domain or name")
	}
	lpID := req.GetSpec().GetLaunchPlan()
	if lpID.GetResourceType() != idlcore.ResourceType_LAUNCH_PLAN {
		return nil, status.Errorf(codes.InvalidArgument, "Invalid reference entity resource type [%v], only [LAUNCH_PLAN] allowed", lpID.GetResourceType())
	}
	if a.record(id) != nil {
		return nil, status.Errorf(codes.AlreadyExists, "execution %s already exists", id.GetName())
	}
	lp, err := a.registry.launchPlan(lpID)
	if err != nil {
		return nil, err
	}
	inputs, err := executionInputs(req.GetInputs(), lp.GetSpec().GetFixedInputs(), lp.GetClosure().GetExpectedInputs())
	if err != nil {
		return nil, err
	}
	closure, err := a.registry.compile(lp)
	if err != nil {
		return nil, err
	}
	rec := &executionRecord{id: id, spec: proto.Clone(req.GetSpec()).(*admin.ExecutionSpec), workflowID: lp.GetSpec().GetWorkflowId(),
		inputs: inputs, namespace: namespaceOf(id.GetProject(), id.GetDomain()), createdAt: time.Now()}
	wf, err := flyteWorkflow(closure, rec, lp.GetSpec())
	if err != nil {
		return nil, err
	}
	if !a.remember(rec) {
		return nil, status.Errorf(codes.AlreadyExists, "execution %s already exists", id.GetName())
	}
	if _, err := a.flyte.FlyteworkflowV1alpha1().FlyteWorkflows(rec.namespace).Create(ctx, wf, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		a.forget(rec)
		return nil, status.Errorf(codes.Internal, "failed to create workflow in propeller %v", err)
	}
	return &admin.ExecutionCreateResponse{Id: id}, nil
}

// executionInputs merges an execution's inputs as flyteadmin does: every given input must be expected
// and of a castable type, missing ones take their default or are an error when required, and fixed
// inputs are added but cannot be given.
func executionInputs(given, fixed *idlcore.LiteralMap, expected *idlcore.ParameterMap) (*idlcore.LiteralMap, error) {
	inputs := map[string]*idlcore.Literal{}
	params := expected.GetParameters()
	for name, value := range given.GetLiterals() {
		if _, ok := params[name]; !ok {
			return nil, status.Errorf(codes.InvalidArgument, "invalid input %s", name)
		}
		inputs[name] = value
	}
	for name, param := range params {
		value, ok := inputs[name]
		if !ok {
			if param.GetRequired() {
				return nil, status.Errorf(codes.InvalidArgument, "expected_inputs %s missing", name)
			}
			inputs[name] = param.GetDefault()
			continue
		}
		if t := validators.LiteralTypeForLiteral(value); !validators.AreTypesCastable(t, param.GetVar().GetType()) {
			return nil, status.Errorf(codes.InvalidArgument, "invalid %s input wrong type. Expected %s, but got %s", name, param.GetVar().GetType(), t)
		}
	}
	for name, value := range fixed.GetLiterals() {
		if _, ok := inputs[name]; ok {
			return nil, status.Errorf(codes.InvalidArgument, "fixed_inputs %s cannot be overridden", name)
		}
		inputs[name] = value
	}
	return &idlcore.LiteralMap{Literals: inputs}, nil
}

// flyteWorkflow builds the FlyteWorkflow of an execution as flyteadmin's Kubernetes executor does: the
// request's settings first, the launch plan's where the request has none.
func flyteWorkflow(closure *idlcore.CompiledWorkflowClosure, rec *executionRecord, lp *admin.LaunchPlanSpec) (*v1alpha1.FlyteWorkflow, error) {
	wf, err := k8s.BuildFlyteWorkflow(closure, rec.inputs, rec.id, rec.namespace)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "build FlyteWorkflow: %v", err)
	}
	spec := rec.spec
	wf.ExecutionID = v1alpha1.WorkflowExecutionIdentifier{WorkflowExecutionIdentifier: rec.id}
	wf.AcceptedAt = &metav1.Time{Time: rec.createdAt}
	if wf.WorkflowMeta == nil {
		wf.WorkflowMeta = &v1alpha1.WorkflowMeta{}
	}
	wf.WorkflowMeta.EventVersion = adminEventVersion
	wf.Labels = mergeStrings(wf.Labels, firstNonEmpty(spec.GetLabels().GetValues(), lp.GetLabels().GetValues()))
	wf.Annotations = mergeStrings(wf.Annotations, firstNonEmpty(spec.GetAnnotations().GetValues(), lp.GetAnnotations().GetValues()))

	config := v1alpha1.ExecutionConfig{TaskPluginImpls: map[string]v1alpha1.TaskPluginOverride{}}
	config.MaxParallelism = adminMaxParallelism
	if p := spec.GetMaxParallelism(); p > 0 {
		config.MaxParallelism = uint32(p)
	} else if p := lp.GetMaxParallelism(); p > 0 {
		config.MaxParallelism = uint32(p)
	}
	if i := spec.GetInterruptible(); i != nil {
		config.Interruptible = &i.Value
	} else if i := lp.GetInterruptible(); i != nil {
		config.Interruptible = &i.Value
	}
	config.OverwriteCache = spec.GetOverwriteCache() || lp.GetOverwriteCache()
	if envs := firstNonEmptyEnvs(spec.GetEnvs(), lp.GetEnvs()); len(envs) > 0 {
		config.EnvironmentVariables = map[string]string{}
		for _, kv := range envs {
			config.EnvironmentVariables[kv.GetKey()] = kv.GetValue()
		}
	}
	wf.ExecutionConfig = config

	if raw := spec.GetRawOutputDataConfig(); raw.GetOutputLocationPrefix() != "" {
		wf.RawOutputDataConfig = v1alpha1.RawOutputDataConfig{RawOutputDataConfig: raw}
	} else if raw := lp.GetRawOutputDataConfig(); raw.GetOutputLocationPrefix() != "" {
		wf.RawOutputDataConfig = v1alpha1.RawOutputDataConfig{RawOutputDataConfig: raw}
	}
	security := spec.GetSecurityContext()
	if security.GetRunAs() == nil {
		security = lp.GetSecurityContext()
	}
	if security.GetRunAs() != nil {
		wf.SecurityContext = idlcore.SecurityContext{RunAs: security.GetRunAs(), Secrets: security.GetSecrets(),
			Tokens: security.GetTokens()}
		if sa := security.GetRunAs().GetK8SServiceAccount(); sa != "" {
			wf.ServiceAccountName = sa
		}
	}
	return wf, nil
}

func mergeStrings(base, overrides map[string]string) map[string]string {
	if base == nil {
		base = map[string]string{}
	}
	for k, v := range overrides {
		base[k] = v
	}
	return base
}

func firstNonEmpty(a, b map[string]string) map[string]string {
	if len(a) > 0 {
		return a
	}
	return b
}

func firstNonEmptyEnvs(a, b *admin.Envs) []*idlcore.KeyValuePair {
	if len(a.GetValues()) > 0 {
		return a.GetValues()
	}
	return b.GetValues()
}

// GetExecution returns an execution's spec and closure (phase, error, outputs, abort cause).
func (a *Admin) GetExecution(ctx context.Context, req *admin.WorkflowExecutionGetRequest) (*admin.Execution, error) {
	rec, err := a.existing(req.GetId())
	if err != nil {
		return nil, err
	}
	closure, _, err := a.observe(ctx, rec)
	if err != nil {
		return nil, err
	}
	return &admin.Execution{Id: rec.id, Spec: rec.spec, Closure: closure}, nil
}

// GetExecutionData returns an execution's full inputs and, once it succeeded, its full outputs.
func (a *Admin) GetExecutionData(ctx context.Context, req *admin.WorkflowExecutionGetDataRequest) (*admin.WorkflowExecutionGetDataResponse, error) {
	rec, err := a.existing(req.GetId())
	if err != nil {
		return nil, err
	}
	if _, _, err := a.observe(ctx, rec); err != nil {
		return nil, err
	}
	resp := &admin.WorkflowExecutionGetDataResponse{FullInputs: rec.inputs}
	a.mu.Lock()
	ref := rec.outputs
	a.mu.Unlock()
	if ref != "" {
		var outputs idlcore.LiteralMap
		if err := a.store.ReadProtobuf(ctx, ref, &outputs); err != nil {
			return nil, status.Errorf(codes.Internal, "read outputs of %s: %v", rec.id.GetName(), err)
		}
		resp.FullOutputs = &outputs
	}
	return resp, nil
}

// TerminateExecution aborts an execution that has not ended.
func (a *Admin) TerminateExecution(ctx context.Context, req *admin.ExecutionTerminateRequest) (*admin.ExecutionTerminateResponse, error) {
	rec, err := a.existing(req.GetId())
	if err != nil {
		return nil, err
	}
	closure, _, err := a.observe(ctx, rec)
	if err != nil {
		return nil, err
	}
	if terminal(closure.GetPhase()) {
		return nil, alreadyTerminal(closure.GetPhase())
	}
	a.mu.Lock()
	rec.abortCause = req.GetCause()
	a.mu.Unlock()
	background := metav1.DeletePropagationBackground
	err = a.flyte.FlyteworkflowV1alpha1().FlyteWorkflows(rec.namespace).Delete(ctx, rec.id.GetName(), metav1.DeleteOptions{PropagationPolicy: &background})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, status.Errorf(codes.Internal, "failed to terminate execution: %v with err %v", rec.id, err)
	}
	return &admin.ExecutionTerminateResponse{}, nil
}

// alreadyTerminal is flyteadmin's error for terminating an execution that already ended.
func alreadyTerminal(phase idlcore.WorkflowExecution_Phase) error {
	st, err := status.New(codes.FailedPrecondition, "Cannot abort an already terminated workflow execution").WithDetails(
		&admin.EventFailureReason{Reason: &admin.EventFailureReason_AlreadyInTerminalState{
			AlreadyInTerminalState: &admin.EventErrorAlreadyInTerminalState{CurrentPhase: phase.String()},
		}})
	if err != nil {
		return status.Error(codes.FailedPrecondition, "Cannot abort an already terminated workflow execution")
	}
	return st.Err()
}

// GetLaunchPlan returns a registered launch plan.
func (a *Admin) GetLaunchPlan(_ context.Context, req *admin.ObjectGetRequest) (*admin.LaunchPlan, error) {
	return a.registry.launchPlan(req.GetId())
}

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
