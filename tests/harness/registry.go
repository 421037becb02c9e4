package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/admin"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/flyteorg/flyte/flytepropeller/pkg/compiler"
	"github.com/flyteorg/flyte/flytepropeller/pkg/compiler/common"
	"github.com/flyteorg/flyte/flytepropeller/pkg/compiler/validators"
)

// Registration is what `pyflyte serialize` made of a set of Python packages, with every identifier
// completed with a project, domain and version, and every launch plan's closure (its expected inputs
// and outputs) computed, as registering it with flyteadmin would.
type Registration struct {
	// Tasks by name.
	Tasks map[string]*idlcore.TaskTemplate
	// Workflows by name, each with the subworkflows it uses.
	Workflows map[string]*admin.WorkflowSpec
	// LaunchPlans by name; the default launch plan of a workflow has the workflow's name.
	LaunchPlans map[string]*admin.LaunchPlan
}

// readSerialized reads the files pyflyte serialize wrote: <n>_<name>_<kind>.pb, kind 1 a task spec, 2 a
// workflow spec, 3 a launch plan.
func readSerialized(dir, project, domain, version string) (*Registration, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	reg := newRegistration()
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
			reg.Workflows[spec.GetTemplate().GetId().GetName()] = &spec
		case strings.HasSuffix(name, "_3.pb"):
			var lp admin.LaunchPlan
			if err := proto.Unmarshal(raw, &lp); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			fillIdentifiers(&lp, project, domain, version)
			reg.LaunchPlans[lp.GetId().GetName()] = &lp
		}
	}
	for name, lp := range reg.LaunchPlans {
		wf := reg.Workflows[lp.GetSpec().GetWorkflowId().GetName()]
		if wf == nil {
			return nil, fmt.Errorf("launch plan %s: workflow %s was not serialized", name, lp.GetSpec().GetWorkflowId().GetName())
		}
		closure, err := launchPlanClosure(lp.GetSpec(), wf.GetTemplate().GetInterface())
		if err != nil {
			return nil, fmt.Errorf("launch plan %s: %w", name, err)
		}
		lp.Closure = closure
	}
	return reg, nil
}

func newRegistration() *Registration {
	return &Registration{Tasks: map[string]*idlcore.TaskTemplate{}, Workflows: map[string]*admin.WorkflowSpec{},
		LaunchPlans: map[string]*admin.LaunchPlan{}}
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

// launchPlanClosure computes what flyteadmin stores with a launch plan at registration: the inputs an
// execution of it expects (the workflow's inputs without the fixed ones, with the launch plan's
// defaults, the rest required) and the workflow's outputs.
func launchPlanClosure(spec *admin.LaunchPlanSpec, iface *idlcore.TypedInterface) (*admin.LaunchPlanClosure, error) {
	wfInputs := iface.GetInputs().GetVariables()
	defaults := spec.GetDefaultInputs().GetParameters()
	fixed := spec.GetFixedInputs().GetLiterals()
	for name, param := range defaults {
		v, ok := wfInputs[name]
		if !ok {
			return nil, fmt.Errorf("unexpected default_input %s", name)
		}
		if !validators.AreTypesCastable(param.GetVar().GetType(), v.GetType()) {
			return nil, fmt.Errorf("invalid default_input wrong type %s", name)
		}
	}
	for name, literal := range fixed {
		v, ok := wfInputs[name]
		if !ok {
			return nil, fmt.Errorf("unexpected fixed_input %s", name)
		}
		if !validators.AreTypesCastable(validators.LiteralTypeForLiteral(literal), v.GetType()) {
			return nil, fmt.Errorf("invalid fixed_input wrong type %s", name)
		}
	}
	expected := map[string]*idlcore.Parameter{}
	for name, v := range wfInputs {
		if param, ok := defaults[name]; ok {
			expected[name] = param
		} else if _, ok := fixed[name]; !ok {
			expected[name] = &idlcore.Parameter{
				Var:      &idlcore.Variable{Type: v.GetType(), Description: v.GetDescription()},
				Behavior: &idlcore.Parameter_Required{Required: true},
			}
		}
	}
	return &admin.LaunchPlanClosure{
		State:           admin.LaunchPlanState_ACTIVE,
		ExpectedInputs:  &idlcore.ParameterMap{Parameters: expected},
		ExpectedOutputs: iface.GetOutputs(),
	}, nil
}

// registry is everything registered on the stack, as flyteadmin's database would hold it. A later
// registration of the same name replaces the earlier one (the harness serializes one code base).
type registry struct {
	mu  sync.Mutex // guards reg
	reg *Registration
}

func newRegistry() *registry { return &registry{reg: newRegistration()} }

// add registers everything in reg.
func (r *registry) add(reg *Registration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, v := range reg.Tasks {
		r.reg.Tasks[k] = v
	}
	for k, v := range reg.Workflows {
		r.reg.Workflows[k] = v
	}
	for k, v := range reg.LaunchPlans {
		r.reg.LaunchPlans[k] = v
	}
}

// launchPlan returns the launch plan with identifier id, or a NotFound status.
func (r *registry) launchPlan(id *idlcore.Identifier) (*admin.LaunchPlan, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.launchPlanLocked(id)
}

func (r *registry) launchPlanLocked(id *idlcore.Identifier) (*admin.LaunchPlan, error) {
	lp, ok := r.reg.LaunchPlans[id.GetName()]
	if !ok || !sameEntity(lp.GetId(), id) {
		return nil, status.Errorf(codes.NotFound, "missing entity of type LAUNCH_PLAN with identifier %v", id)
	}
	return lp, nil
}

// compile compiles the workflow of launch plan lp with what it needs (its subworkflows, the tasks and
// launch plans it references) as flyteadmin does when it creates an execution.
func (r *registry) compile(lp *admin.LaunchPlan) (*idlcore.CompiledWorkflowClosure, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	wfID := lp.GetSpec().GetWorkflowId()
	wf, ok := r.reg.Workflows[wfID.GetName()]
	if !ok || !sameEntity(wf.GetTemplate().GetId(), wfID) {
		return nil, status.Errorf(codes.NotFound, "missing entity of type WORKFLOW with identifier %v", wfID)
	}
	reqs, err := compiler.GetRequirements(wf.GetTemplate(), wf.GetSubWorkflows())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "requirements of workflow %s: %v", wfID.GetName(), err)
	}
	// The compiler wants a list, even an empty one (a workflow of launch plans only).
	tasks := []*idlcore.CompiledTask{}
	for _, id := range reqs.GetRequiredTaskIds() {
		task, ok := r.reg.Tasks[id.GetName()]
		if !ok || !sameEntity(task.GetId(), id) {
			return nil, status.Errorf(codes.NotFound, "missing entity of type TASK with identifier %v", id)
		}
		compiled, err := compiler.CompileTask(task)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "compile task %s: %v", id.GetName(), err)
		}
		tasks = append(tasks, compiled)
	}
	var launchPlans []common.InterfaceProvider
	for _, id := range reqs.GetRequiredLaunchPlanIds() {
		child, err := r.launchPlanLocked(id)
		if err != nil {
			return nil, err
		}
		launchPlans = append(launchPlans, compiler.NewLaunchPlanInterfaceProvider(child))
	}
	closure, err := compiler.CompileWorkflow(wf.GetTemplate(), wf.GetSubWorkflows(), tasks, launchPlans)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "compile workflow %s: %v", wfID.GetName(), err)
	}
	return closure, nil
}

// sameEntity tells whether two identifiers name the same project, domain, name and version.
func sameEntity(a, b *idlcore.Identifier) bool {
	return a.GetProject() == b.GetProject() && a.GetDomain() == b.GetDomain() && a.GetName() == b.GetName() &&
		a.GetVersion() == b.GetVersion()
}
