package harness

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/admin"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/flyteorg/flyte/flytepropeller/pkg/apis/flyteworkflow/v1alpha1"
	"github.com/flyteorg/flyte/flytepropeller/pkg/compiler/transformers/k8s"
	"github.com/flyteorg/flyte/flytepropeller/pkg/compiler/validators"
	"github.com/flyteorg/flyte/flytestdlib/storage"
)

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
	if a.offloadClosure {
		if err := a.offload(ctx, wf, closure); err != nil {
			return nil, err
		}
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

// offload writes wf's static closure to the blob store and leaves only a reference to it in wf, as
// flyteadmin does with useOffloadedWorkflowClosure: propeller reads the closure back on each round.
func (a *Admin) offload(ctx context.Context, wf *v1alpha1.FlyteWorkflow, closure *idlcore.CompiledWorkflowClosure) error {
	ref, err := a.store.ConstructReference(ctx, a.store.GetBaseContainerFQN(ctx), "metadata", "admin", wf.GetNamespace(),
		wf.GetName(), "closure.pb")
	if err != nil {
		return status.Errorf(codes.Internal, "offload closure: %v", err)
	}
	if err := a.store.WriteProtobuf(ctx, ref, storage.Options{}, &admin.WorkflowClosure{CompiledWorkflow: closure}); err != nil {
		return status.Errorf(codes.Internal, "offload closure: %v", err)
	}
	wf.WorkflowClosureReference = ref
	wf.WorkflowSpec, wf.SubWorkflows, wf.Tasks = nil, nil, nil
	return nil
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
