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

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/admin"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/flyteorg/flyte/flytepropeller/pkg/apis/flyteworkflow/v1alpha1"
	"github.com/flyteorg/flyte/flytepropeller/pkg/compiler"
	"github.com/flyteorg/flyte/flytepropeller/pkg/compiler/common"
	"github.com/flyteorg/flyte/flytepropeller/pkg/compiler/transformers/k8s"
	"github.com/flyteorg/flyte/flytestdlib/storage"
)

// Registration is what `pyflyte serialize` made of a set of Python packages, with every identifier
// completed with a project, domain and version, as registering it with flyteadmin would.
type Registration struct {
	Tasks       map[string]*idlcore.TaskTemplate
	Workflows   map[string]*idlcore.WorkflowTemplate
	LaunchPlans map[string]*admin.LaunchPlanSpec
}

// Serialize runs real flytekit (`pyflyte serialize workflows`) over packages under srcDir with the
// given image, and reads what it wrote.
func (s *Stack) Serialize(ctx context.Context, srcDir, image string, packages ...string) (*Registration, error) {
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
	return readSerialized(out, s.project, s.domain, s.version)
}

// readSerialized reads the files pyflyte serialize wrote: <n>_<name>_<kind>.pb, kind 1 a task spec, 2 a
// workflow spec, 3 a launch plan.
func readSerialized(dir, project, domain, version string) (*Registration, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	reg := &Registration{Tasks: map[string]*idlcore.TaskTemplate{}, Workflows: map[string]*idlcore.WorkflowTemplate{},
		LaunchPlans: map[string]*admin.LaunchPlanSpec{}}
	for _, e := range entries {
		name := e.Name()
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		switch {
		case strings.HasSuffix(name, "_1.pb"):
			var spec admin.TaskSpec
			if err := proto.Unmarshal(raw, &spec); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			fillIdentifiers(&spec, project, domain, version)
			reg.Tasks[spec.GetTemplate().GetId().GetName()] = spec.GetTemplate()
		case strings.HasSuffix(name, "_2.pb"):
			var spec admin.WorkflowSpec
			if err := proto.Unmarshal(raw, &spec); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			fillIdentifiers(&spec, project, domain, version)
			reg.Workflows[spec.GetTemplate().GetId().GetName()] = spec.GetTemplate()
		case strings.HasSuffix(name, "_3.pb"):
			var lp admin.LaunchPlan
			if err := proto.Unmarshal(raw, &lp); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			fillIdentifiers(&lp, project, domain, version)
			reg.LaunchPlans[lp.GetId().GetName()] = lp.GetSpec()
		}
	}
	return reg, nil
}

// fillIdentifiers completes every flyteidl.core.Identifier in m that lacks a project, domain or
// version, as flyteadmin does at registration.
func fillIdentifiers(m proto.Message, project, domain, version string) {
	var walk func(protoreflect.Message)
	walk = func(msg protoreflect.Message) {
		if id, ok := msg.Interface().(*idlcore.Identifier); ok {
			if id.Project == "" {
				id.Project = project
			}
			if id.Domain == "" {
				id.Domain = domain
			}
			if id.Version == "" {
				id.Version = version
			}
			return
		}
		msg.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList() && fd.Message() != nil:
				for i := 0; i < v.List().Len(); i++ {
					walk(v.List().Get(i).Message())
				}
			case fd.IsMap() && fd.MapValue().Message() != nil:
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					walk(mv.Message())
					return true
				})
			case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
				walk(v.Message())
			}
			return true
		})
	}
	walk(m.ProtoReflect())
}

// Execution is one workflow run on the stack.
type Execution struct {
	Name      string
	Workflow  *v1alpha1.FlyteWorkflow
	Started   time.Time
	Finished  time.Time
	Outputs   *idlcore.LiteralMap
	stack     *Stack
	namespace string
}

// Duration is the execution's wall time, from creating its FlyteWorkflow to seeing it end.
func (e *Execution) Duration() time.Duration { return e.Finished.Sub(e.Started) }

// Run compiles workflow wfName of reg with propeller's compiler, creates its FlyteWorkflow (as
// flyteadmin would on launch) and waits until it ends or timeout passes. A workflow that does not
// succeed is an error that lists its nodes' phases and messages.
func (s *Stack) Run(ctx context.Context, reg *Registration, wfName string, inputs map[string]*idlcore.Literal, timeout time.Duration) (*Execution, error) {
	wf, ok := reg.Workflows[wfName]
	if !ok {
		return nil, fmt.Errorf("no workflow %q in the registration (have %v)", wfName, keys(reg.Workflows))
	}
	tasks := make([]*idlcore.CompiledTask, 0, len(reg.Tasks))
	for _, name := range keys(reg.Tasks) {
		compiled, err := compiler.CompileTask(reg.Tasks[name])
		if err != nil {
			return nil, fmt.Errorf("compile task %s: %w", name, err)
		}
		tasks = append(tasks, compiled)
	}
	var subworkflows []*idlcore.WorkflowTemplate
	for name, sub := range reg.Workflows {
		if name != wfName {
			subworkflows = append(subworkflows, sub)
		}
	}
	var launchPlans []common.InterfaceProvider
	closure, err := compiler.CompileWorkflow(wf, subworkflows, tasks, launchPlans)
	if err != nil {
		return nil, fmt.Errorf("compile workflow %s: %w", wfName, err)
	}
	name := "e" + strings.ToLower(rand.String(10))
	execID := &idlcore.WorkflowExecutionIdentifier{Project: s.project, Domain: s.domain, Name: name}
	if inputs == nil {
		inputs = map[string]*idlcore.Literal{}
	}
	for key, param := range reg.LaunchPlans[wfName].GetDefaultInputs().GetParameters() {
		if _, given := inputs[key]; !given && param.GetDefault() != nil {
			inputs[key] = param.GetDefault()
		}
	}
	crd, err := k8s.BuildFlyteWorkflow(closure, &idlcore.LiteralMap{Literals: inputs}, execID, s.Namespace)
	if err != nil {
		return nil, fmt.Errorf("build FlyteWorkflow: %w", err)
	}
	crd.ExecutionID = v1alpha1.WorkflowExecutionIdentifier{WorkflowExecutionIdentifier: execID}
	exec := &Execution{Name: name, stack: s, namespace: s.Namespace, Started: time.Now()}
	if _, err := s.Flyte.FlyteworkflowV1alpha1().FlyteWorkflows(s.Namespace).Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create FlyteWorkflow: %w", err)
	}
	if err := exec.wait(ctx, timeout); err != nil {
		return exec, err
	}
	return exec, nil
}

func (e *Execution) wait(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last *v1alpha1.FlyteWorkflow
	for time.Now().Before(deadline) {
		wf, err := e.stack.Flyte.FlyteworkflowV1alpha1().FlyteWorkflows(e.namespace).Get(ctx, e.Name, metav1.GetOptions{})
		if err == nil {
			last = wf
			switch wf.Status.Phase {
			case v1alpha1.WorkflowPhaseSuccess:
				e.Finished, e.Workflow = time.Now(), wf
				return e.readOutputs(ctx)
			case v1alpha1.WorkflowPhaseFailed, v1alpha1.WorkflowPhaseAborted:
				e.Finished, e.Workflow = time.Now(), wf
				return fmt.Errorf("workflow %s ended %s: %s\n%s", e.Name, wf.Status.Phase, wf.Status.Message, describeNodes(wf))
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if last == nil {
		return fmt.Errorf("workflow %s: not seen in %s", e.Name, timeout)
	}
	return fmt.Errorf("workflow %s still %s after %s\n%s\npropeller's log:\n%s", e.Name, last.Status.Phase, timeout,
		describeNodes(last), e.stack.propeller.tail(80))
}

func (e *Execution) readOutputs(ctx context.Context) error {
	ref := e.Workflow.Status.OutputReference
	if ref == "" {
		e.Outputs = &idlcore.LiteralMap{}
		return nil
	}
	var outputs idlcore.LiteralMap
	if err := e.stack.Store.ReadProtobuf(ctx, storage.DataReference(ref), &outputs); err != nil {
		return fmt.Errorf("read outputs of %s at %s: %w", e.Name, ref, err)
	}
	e.Outputs = &outputs
	return nil
}

// describeNodes lists a workflow's nodes with their phases and messages.
func describeNodes(wf *v1alpha1.FlyteWorkflow) string {
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
