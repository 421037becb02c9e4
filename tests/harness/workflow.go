package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/admin"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/flyteorg/flyte/flytepropeller/pkg/apis/flyteworkflow/v1alpha1"
)

// Serialize runs real flytekit (`pyflyte serialize workflows`) over packages under srcDir with the
// given image, reads what it wrote and registers it on the stack's flyteadmin, as `pyflyte register`
// would, as version v1.
func (s *Stack) Serialize(ctx context.Context, srcDir, image string, packages ...string) (*Registration, error) {
	reg, err := s.SerializeVersion(ctx, srcDir, image, s.version, packages...)
	if err != nil {
		return nil, err
	}
	s.Register(reg)
	return reg, nil
}

// Register registers reg on the stack's flyteadmin, beside what is registered under other versions.
func (s *Stack) Register(reg *Registration) { s.registry.add(reg) }

// SerializeVersion is Serialize with identifiers of the given version, and registers nothing: the
// caller may change the registration (as a fast registration does) and then Register it.
func (s *Stack) SerializeVersion(ctx context.Context, srcDir, image, version string, packages ...string) (*Registration, error) {
	out, err := os.MkdirTemp(s.dir, "serialized-")
	if err != nil {
		return nil, err
	}
	args := []string{}
	for _, p := range packages {
		args = append(args, "--pkgs", p)
	}
	args = append(args, "serialize", "--image", image, "workflows", "-f", out)
	cmd := exec.CommandContext(ctx, filepath.Join(s.root, ".venv", "bin", "pyflyte"), args...)
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(), "PYTHONPATH="+srcDir)
	if output, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pyflyte serialize: %v\n%s", err, output)
	}
	return readSerialized(out, s.project, s.domain, version)
}

// Execution is one execution on the stack: launched by the harness, or by propeller for a child
// launch plan.
type Execution struct {
	// ID identifies the execution; ID.Name is also the name of its FlyteWorkflow.
	ID *idlcore.WorkflowExecutionIdentifier
	// Name is ID.Name.
	Name string
	// Workflow is the execution's FlyteWorkflow as last seen (an aborted one disappears).
	Workflow *v1alpha1.FlyteWorkflow
	// Phase is the execution's phase as flyteadmin reports it, as of the last Wait or Refresh.
	Phase idlcore.WorkflowExecution_Phase
	// Error is why the execution failed, once it did.
	Error *idlcore.ExecutionError
	// AbortCause is the cause given to TerminateExecution, once the execution was aborted.
	AbortCause string
	// Started is when the harness launched the execution; Finished when propeller recorded its end.
	Started, Finished time.Time
	// Outputs are the execution's outputs, once it succeeded.
	Outputs *idlcore.LiteralMap

	stack *Stack
}

// Duration is the execution's wall time, from launching it to its end.
func (e *Execution) Duration() time.Duration { return e.Finished.Sub(e.Started) }

// Launch starts an execution of launch plan lpName of reg (a workflow's default launch plan has the
// workflow's name) with the given inputs, through the stack's flyteadmin as a user would, and returns
// without waiting.
func (s *Stack) Launch(ctx context.Context, reg *Registration, lpName string, inputs map[string]*idlcore.Literal) (*Execution, error) {
	return s.LaunchNamed(ctx, reg, lpName, "e"+strings.ToLower(rand.String(10)), inputs)
}

// LaunchNamed is Launch with the execution's name given (e.g. ExecutionNameIn, for a shard).
func (s *Stack) LaunchNamed(ctx context.Context, reg *Registration, lpName, name string, inputs map[string]*idlcore.Literal) (*Execution, error) {
	lp, ok := reg.LaunchPlans[lpName]
	if !ok {
		return nil, fmt.Errorf("no launch plan %q in the registration (have %v)", lpName, keys(reg.LaunchPlans))
	}
	id := &idlcore.WorkflowExecutionIdentifier{Project: s.project, Domain: s.domain, Name: name}
	lpID := &idlcore.Identifier{ResourceType: idlcore.ResourceType_LAUNCH_PLAN, Project: lp.GetId().GetProject(),
		Domain: lp.GetId().GetDomain(), Name: lp.GetId().GetName(), Version: lp.GetId().GetVersion()}
	exec := &Execution{ID: id, Name: id.GetName(), stack: s, Started: time.Now()}
	_, err := s.Admin.CreateExecution(ctx, &admin.ExecutionCreateRequest{
		Project: id.GetProject(), Domain: id.GetDomain(), Name: id.GetName(),
		Inputs: &idlcore.LiteralMap{Literals: inputs},
		Spec: &admin.ExecutionSpec{LaunchPlan: lpID, Metadata: &admin.ExecutionMetadata{
			Mode: admin.ExecutionMetadata_MANUAL, Principal: "harness"}},
	})
	if err != nil {
		return nil, fmt.Errorf("create execution of %s: %w", lpName, err)
	}
	return exec, nil
}

// Run launches an execution of workflow wfName's default launch plan (see Launch) and waits until it
// ends or timeout passes. An execution that does not succeed is an error that lists its nodes' phases
// and messages.
func (s *Stack) Run(ctx context.Context, reg *Registration, wfName string, inputs map[string]*idlcore.Literal, timeout time.Duration) (*Execution, error) {
	exec, err := s.Launch(ctx, reg, wfName, inputs)
	if err != nil {
		return nil, err
	}
	return exec, exec.Wait(ctx, timeout)
}

// ChildExecutions returns the executions that nodes of execution parent launched (child launch plans),
// in the order they were created.
func (s *Stack) ChildExecutions(parent *Execution) []*Execution {
	var children []*Execution
	for _, id := range s.Admin.ChildExecutions(parent.Name) {
		children = append(children, &Execution{ID: id, Name: id.GetName(), stack: s})
	}
	return children
}

// Refresh reads the execution's phase (and its FlyteWorkflow, while there is one) from the stack.
func (e *Execution) Refresh(ctx context.Context) error {
	got, err := e.stack.Admin.GetExecution(ctx, &admin.WorkflowExecutionGetRequest{Id: e.ID})
	if err != nil {
		return err
	}
	closure := got.GetClosure()
	e.Phase, e.Error = closure.GetPhase(), closure.GetError()
	e.AbortCause = closure.GetAbortMetadata().GetCause()
	wf, err := e.stack.Flyte.FlyteworkflowV1alpha1().FlyteWorkflows(e.stack.Namespace).Get(ctx, e.Name, metav1.GetOptions{})
	switch {
	case err == nil:
		e.Workflow = wf
	case !apierrors.IsNotFound(err):
		return err
	}
	return nil
}

// Abort terminates the execution through the stack's flyteadmin, as a user would.
func (e *Execution) Abort(ctx context.Context, cause string) error {
	_, err := e.stack.Admin.TerminateExecution(ctx, &admin.ExecutionTerminateRequest{Id: e.ID, Cause: cause})
	return err
}

// Wait waits until the execution ends or timeout passes, then reads its outputs if it succeeded. An
// execution that does not succeed is an error that lists its nodes' phases and messages.
func (e *Execution) Wait(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	// Propeller's terminal workflow event says at once that the execution ended; reading the execution
	// (its FlyteWorkflow) is costly, for the API server and this process, so it is read on such an event
	// and otherwise only now and then, for an end no event tells (an abort of a workflow propeller never
	// ran).
	var lastRead time.Time
	for time.Now().Before(deadline) {
		if e.terminalEventSeen() || time.Since(lastRead) >= 500*time.Millisecond {
			if err := e.Refresh(ctx); err != nil {
				return err
			}
			lastRead = time.Now()
			if terminal(e.Phase) {
				e.Finished = e.endedAt()
				return e.ended(ctx)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("execution %s still %s after %s\n%s\npropeller's log:\n%s", e.Name, e.Phase, timeout,
		describeNodes(e.Workflow), e.stack.propellerTails(80))
}

// terminalEventSeen reports whether propeller sent the execution's terminal workflow event.
func (e *Execution) terminalEventSeen() bool {
	events := e.stack.Admin.WorkflowEvents(e.Name)
	return len(events) > 0 && terminal(events[len(events)-1].GetPhase())
}

// endedAt is when propeller recorded the execution's end (its terminal workflow event), or now if it
// sent none: the harness polls, so seeing the end comes up to a poll later.
func (e *Execution) endedAt() time.Time {
	events := e.stack.Admin.WorkflowEvents(e.Name)
	for i := len(events) - 1; i >= 0; i-- {
		if terminal(events[i].GetPhase()) && events[i].GetOccurredAt() != nil {
			return events[i].GetOccurredAt().AsTime()
		}
	}
	return time.Now()
}

// propellerTails returns the last n lines of each propeller's log.
func (s *Stack) propellerTails(n int) string {
	var b strings.Builder
	for i, p := range s.propellers {
		fmt.Fprintf(&b, "(propeller %d)\n%s\n", i, p.tail(n))
	}
	return b.String()
}

// ended reads the outputs of a succeeded execution, or describes why it did not succeed.
func (e *Execution) ended(ctx context.Context) error {
	if e.Phase != idlcore.WorkflowExecution_SUCCEEDED {
		return fmt.Errorf("execution %s ended %s: %s%s\n%s", e.Name, e.Phase, e.Error.GetMessage(), e.AbortCause, describeNodes(e.Workflow))
	}
	data, err := e.stack.Admin.GetExecutionData(ctx, &admin.WorkflowExecutionGetDataRequest{Id: e.ID})
	if err != nil {
		return fmt.Errorf("read outputs of %s: %w", e.Name, err)
	}
	e.Outputs = data.GetFullOutputs()
	if e.Outputs == nil {
		e.Outputs = &idlcore.LiteralMap{}
	}
	return nil
}

// describeNodes lists a workflow's nodes with their phases and messages.
func describeNodes(wf *v1alpha1.FlyteWorkflow) string {
	if wf == nil {
		return "  (no FlyteWorkflow seen)"
	}
	var lines []string
	for id, n := range wf.Status.NodeStatus {
		line := fmt.Sprintf("  node %s: %s %s", id, n.GetPhase(), n.GetMessage())
		if n.GetExecutionError() != nil {
			line += fmt.Sprintf(" error[%s %s]: %s", n.GetExecutionError().GetKind(), n.GetExecutionError().GetCode(), n.GetExecutionError().GetMessage())
		}
		lines = append(lines, line)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// NodeOutputs reads the outputs that node nodeID of the execution's workflow wrote.
func (e *Execution) NodeOutputs(ctx context.Context, nodeID string) (*idlcore.LiteralMap, error) {
	if e.Workflow == nil {
		return nil, fmt.Errorf("execution %s: no FlyteWorkflow seen", e.Name)
	}
	if _, ok := e.Workflow.Status.NodeStatus[nodeID]; !ok {
		return nil, fmt.Errorf("execution %s has no node %s", e.Name, nodeID)
	}
	// The node's folders are not stored in the FlyteWorkflow: propeller derives them, so do the same.
	wfStatus := e.Workflow.Status.DeepCopy()
	wfStatus.DataReferenceConstructor = e.stack.Store
	node := wfStatus.GetNodeExecutionStatus(ctx, nodeID)
	var outputs idlcore.LiteralMap
	ref := v1alpha1.GetOutputsFile(node.GetOutputDir())
	if err := e.stack.Store.ReadProtobuf(ctx, ref, &outputs); err != nil {
		return nil, fmt.Errorf("read outputs of node %s at %s: %w", nodeID, ref, err)
	}
	return &outputs, nil
}
