package plugin

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/structpb"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/flyteorg/flyte/flytepropeller/pkg/apis/flyteworkflow/v1alpha1"
	propellerconfig "github.com/flyteorg/flyte/flytepropeller/pkg/controller/config"
	"github.com/flyteorg/flyte/flytestdlib/promutils"

	"github.com/flyteactors/flyteactors/actorpool"
)

// prewarmWorkflow is a FlyteWorkflow as flyteadmin makes it: a pod task first, then actor tasks of the
// seed's hello world environment (a node, a map task's sub-node, a subworkflow's node) and, in the
// subworkflow, one of another environment.
func prewarmWorkflow(t *testing.T) *v1alpha1.FlyteWorkflow {
	t.Helper()
	hello := readFixture(t, filepath.Join("testdata", "flyteactors", "hello_world.say_hello.json"))
	other := readFixture(t, filepath.Join("testdata", "flyteactors", "multiple_instances.plus_one.json"))
	for name, tmpl := range map[string]*idlcore.TaskTemplate{"say_hello": hello, "plus_one": other} {
		tmpl.Id = &idlcore.Identifier{ResourceType: idlcore.ResourceType_TASK, Project: "p", Domain: "d", Name: name, Version: "v1"}
	}
	podTask := &idlcore.TaskTemplate{Id: &idlcore.Identifier{ResourceType: idlcore.ResourceType_TASK, Project: "p", Domain: "d",
		Name: "download", Version: "v1"}, Type: "python-task",
		Target: &idlcore.TaskTemplate_Container{Container: &idlcore.Container{Image: "img:1", Args: []string{"pyflyte-execute"}}}}
	// A task whose environment is invalid: its node is skipped, its attempt will say why.
	broken := &idlcore.TaskTemplate{Id: &idlcore.Identifier{ResourceType: idlcore.ResourceType_TASK, Project: "p", Domain: "d",
		Name: "broken", Version: "v1"}, Type: taskTypeActor, Custom: &structpb.Struct{},
		Target: &idlcore.TaskTemplate_Container{Container: &idlcore.Container{Image: "img:1", Args: []string{"pyflyte-execute"}}}}
	tasks := map[string]*idlcore.TaskTemplate{"hello": hello, "other": other, "download": podTask, "broken": broken}
	taskNode := func(id, task string) *v1alpha1.NodeSpec {
		ref := task
		// Propeller's compiler gives every task node its resource overrides, empty when there are none.
		return &v1alpha1.NodeSpec{ID: id, Kind: v1alpha1.NodeKindTask, TaskRef: &ref, Resources: &corev1.ResourceRequirements{}}
	}
	wf := &v1alpha1.FlyteWorkflow{
		ObjectMeta: metav1.ObjectMeta{Name: "exec1", Namespace: "p-d", Labels: map[string]string{"shard-key": "7"}},
		ExecutionID: v1alpha1.ExecutionID{WorkflowExecutionIdentifier: &idlcore.WorkflowExecutionIdentifier{
			Project: "p", Domain: "d", Name: "exec1"}},
		ServiceAccountName: "runner",
		Tasks:              map[v1alpha1.TaskID]*v1alpha1.TaskSpec{},
		WorkflowSpec: &v1alpha1.WorkflowSpec{ID: "wf", Nodes: map[v1alpha1.NodeID]*v1alpha1.NodeSpec{
			"n0": taskNode("n0", "download"),
			"n1": taskNode("n1", "hello"),
			"n2": {ID: "n2", Kind: v1alpha1.NodeKindArray, ArrayNode: &v1alpha1.ArrayNodeSpec{SubNodeSpec: taskNode("n2", "hello")}},
			"n3": {ID: "n3", Kind: v1alpha1.NodeKindWorkflow},
			"n4": taskNode("n4", "broken"),
		}},
		SubWorkflows: map[v1alpha1.WorkflowID]*v1alpha1.WorkflowSpec{"sub": {ID: "sub", Nodes: map[v1alpha1.NodeID]*v1alpha1.NodeSpec{
			"s0": taskNode("s0", "other"),
		}}},
	}
	for id, tmpl := range tasks {
		wf.Tasks[id] = &v1alpha1.TaskSpec{TaskTemplate: tmpl}
	}
	return wf
}

func TestPrewarmFindsEachActorEnvironmentOfTheWorkflowOnce(t *testing.T) {
	cfg := defaultConfig
	specs := environmentsOf(context.Background(), prewarmWorkflow(t), &cfg, "", 10)
	require.Len(t, specs, 2, "hello world's environment (a node and a map task) once, the subworkflow's other one; no pod task")
	names := []string{specs[0].Key.Name, specs[1].Key.Name}
	assert.Equal(t, []string{"my-actor", "my-actor"}, names, "both seed environments are named my-actor")
	assert.NotEqual(t, specs[0].Key.ID(), specs[1].Key.ID(), "but they are different environments")
	for _, s := range specs {
		assert.Equal(t, "p-d", s.Key.Namespace)
		assert.Equal(t, []string{"p", "d"}, []string{s.Key.Project, s.Key.Domain}, "the task's project and domain")
		assert.Equal(t, "runner", s.Pod.Spec.ServiceAccountName, "the workflow's service account, as its attempts get")
		assert.NoError(t, s.Validate())
	}
	assert.Equal(t, "2", specs[0].Pod.Spec.Containers[0].Resources.Requests.Cpu().String(), "the environment's own requests")

	limited := environmentsOf(context.Background(), prewarmWorkflow(t), &cfg, "", 1)
	assert.Len(t, limited, 1, "bounded by max-environments")
	assert.Equal(t, specs[0].Key, limited[0].Key)

	sharded := environmentsOf(context.Background(), prewarmWorkflow(t), &cfg, "shard-0123456789", 10)
	assert.Equal(t, "shard-0123456789", sharded[0].Key.Shard, "a shard prewarms its own environments")
}

func TestPrewarmReadsATaskOncePerOverrides(t *testing.T) {
	wf := prewarmWorkflow(t)
	node := func(id string, cpu string) *v1alpha1.NodeSpec {
		ref := "hello"
		n := &v1alpha1.NodeSpec{ID: id, Kind: v1alpha1.NodeKindTask, TaskRef: &ref, Resources: &corev1.ResourceRequirements{}}
		if cpu != "" {
			n.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
		}
		return n
	}
	assert.Equal(t, taskVariantOf(wf, node("a", "")), taskVariantOf(wf, node("b", "")), "a fan-out of one task is read once")
	assert.NotEqual(t, taskVariantOf(wf, node("a", "")), taskVariantOf(wf, node("b", "3")), "an override may change the environment")

	wf.WorkflowSpec.Nodes["n5"] = node("n5", "3")
	for i := range 50 {
		id := fmt.Sprintf("fan%02d", i)
		wf.WorkflowSpec.Nodes[id] = node(id, "")
	}
	cfg := defaultConfig
	specs := environmentsOf(context.Background(), wf, &cfg, "", 10)
	require.Len(t, specs, 3, "hello world's environment, the one its cpu override makes, the subworkflow's")
	cpus := map[string]bool{}
	for _, s := range specs {
		cpus[s.Pod.Spec.Containers[0].Resources.Requests.Cpu().String()] = true
	}
	assert.True(t, cpus["3"], "the overridden node's environment is prewarmed too: %v", cpus)
}

// TestPrewarmBuildsTheEnvironmentTheFirstAttemptWillUse compares the environment built ahead from the
// workflow with the one the plugin builds for an attempt, when the workflow's settings are those
// flyteplugins' end-to-end test context gives the attempt (service account "s", interruptible, no platform
// resources): the same pod, so the same key. The integration tests show the same on the real stack.
func TestPrewarmBuildsTheEnvironmentTheFirstAttemptWillUse(t *testing.T) {
	tmpl := readFixture(t, filepath.Join("testdata", "union", "hello_world.say_hello.json"))
	attempt := executorEnvironment(t, tmpl)

	wf := prewarmWorkflow(t)
	wf.Namespace, wf.ServiceAccountName = attempt.Key.Namespace, "s"
	wf.SecurityContext = idlcore.SecurityContext{RunAs: &idlcore.Identity{K8SServiceAccount: "s"}}
	wf.NodeDefaults.Interruptible = true
	wf.Tasks["hello"] = &v1alpha1.TaskSpec{TaskTemplate: tmpl}
	ahead := environmentsOf(context.Background(), wf, &defaultConfig, "", 1)
	require.Len(t, ahead, 1)
	assert.Equal(t, attempt.Pod, ahead[0].Pod)
	assert.Equal(t, attempt.Key.PodHash, ahead[0].Key.PodHash)
	assert.Equal(t, attempt.Key.Name, ahead[0].Key.Name)
}

func TestPrewarmSelectsTheWorkflowsOfItsShard(t *testing.T) {
	assert.Equal(t, "termination-status notin (terminated)", workflowSelector(&propellerconfig.Config{}))
	assert.Equal(t, "project notin (secret),shard-key in (1,2),termination-status notin (terminated)",
		workflowSelector(&propellerconfig.Config{IncludeShardKeyLabel: []string{"1", "2"}, ExcludeProjectLabel: []string{"secret"}}))
}

func TestPrewarmTakesTheTaskTypesPropellerHandsThePlugin(t *testing.T) {
	assert.ElementsMatch(t, []string{"actor", "fast-task"}, actorTaskTypes(nil))
	assert.ElementsMatch(t, []string{"actor", "fast-task", "union-actor"},
		actorTaskTypes(map[string]string{"union-actor": "actor", "container": "container"}))
	assert.ElementsMatch(t, []string{"actor"}, actorTaskTypes(map[string]string{"fast-task": "other-plugin"}))
}

// recordingPrewarmer records what it is asked to prewarm.
type recordingPrewarmer struct{ specs []actorpool.EnvironmentSpec }

func (r *recordingPrewarmer) Prewarm(_ context.Context, spec actorpool.EnvironmentSpec) (bool, error) {
	r.specs = append(r.specs, spec)
	return true, nil
}

func TestPrewarmIgnoresAWorkflowThatAlreadyRuns(t *testing.T) {
	pool := &recordingPrewarmer{}
	cfg := defaultConfig
	w := &prewarmer{pool: pool, cfg: &cfg, metrics: newPrewarmMetrics(promutils.NewTestScope())}
	running := prewarmWorkflow(t)
	running.Status.Phase = v1alpha1.WorkflowPhaseRunning
	w.workflowStarted(context.Background(), running)
	assert.Empty(t, pool.specs, "a workflow seen again after a restart of the watch has begun: its tasks come as they come")

	w.workflowStarted(context.Background(), prewarmWorkflow(t))
	assert.Len(t, pool.specs, 2)
}
