package plugin

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/structpb"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	"github.com/flyteorg/flyte/flyteplugins/tests"
	"github.com/flyteorg/flyte/flytestdlib/storage"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
)

// actorTemplate is an actor task as flytekit's ActorEnvironment serializes it.
func actorTemplate(t *testing.T, spec map[string]any) *idlcore.TaskTemplate {
	t.Helper()
	custom, err := structpb.NewStruct(map[string]any{"name": "my-actor", "type": "actor", "version": "v1", "spec": spec})
	require.NoError(t, err)
	return &idlcore.TaskTemplate{
		Id:   &idlcore.Identifier{ResourceType: idlcore.ResourceType_TASK, Project: "a", Domain: "d", Name: "wf.plus_one", Version: "abc"},
		Type: taskTypeActor,
		Interface: &idlcore.TypedInterface{
			Inputs:  &idlcore.VariableMap{Variables: map[string]*idlcore.Variable{"x": {Type: &idlcore.LiteralType{Type: &idlcore.LiteralType_Simple{Simple: idlcore.SimpleType_INTEGER}}}}},
			Outputs: &idlcore.VariableMap{Variables: map[string]*idlcore.Variable{"o0": {Type: &idlcore.LiteralType{Type: &idlcore.LiteralType_Simple{Simple: idlcore.SimpleType_INTEGER}}}}},
		},
		Custom: custom,
		Target: &idlcore.TaskTemplate_Container{Container: &idlcore.Container{
			Image: "ghcr.io/example/flytekit:1",
			Args: []string{"pyflyte-execute", "--inputs", "{{.input}}", "--output-prefix", "{{.outputPrefix}}",
				"--raw-output-data-prefix", "{{.rawOutputDataPrefix}}", "--resolver",
				"flytekit.core.python_auto_container.default_task_resolver", "--", "task-module", "wf", "task-name", "plus_one"},
			Env: []*idlcore.KeyValuePair{{Key: "MY_ENV", Value: "from-the-environment"}, {Key: "_F_SS_C", Value: "settings"}},
		}},
		SecurityContext: &idlcore.SecurityContext{Secrets: []*idlcore.Secret{{Group: "db", Key: "password"}}},
	}
}

// fakeExecutor plays an executor connected to the pool: it "runs" each assignment by writing the
// outputs where the rendered command says, as flytekit would, then reports the result.
type fakeExecutor struct {
	t    *testing.T
	pool *actorpool.Pool
	link *pooltest.Link
	// self is set once, before attached is closed; run reads it only after that.
	self     *actorpool.Session
	attached chan struct{}
	store    *storage.DataStore
	result   func(a actorpool.Assignment) *actorpool.Failure
}

func newFakeExecutor(t *testing.T, pool *actorpool.Pool, result func(actorpool.Assignment) *actorpool.Failure) *fakeExecutor {
	f := &fakeExecutor{t: t, pool: pool, result: result, attached: make(chan struct{})}
	// The pool calls links under its lock: run elsewhere.
	f.link = &pooltest.Link{OnAssign: func(a actorpool.Assignment) { go f.run(a) }}
	return f
}

func (f *fakeExecutor) run(a actorpool.Assignment) {
	<-f.attached // the pool may assign while AttachExecutor has not returned yet
	started := time.Now()
	f.pool.TaskStarted(f.self, a.TaskID, started)
	failure := f.result(a)
	if failure == nil {
		prefix := a.Command[slices.Index(a.Command, "--output-prefix")+1]
		outputs := &idlcore.LiteralMap{Literals: map[string]*idlcore.Literal{"o0": coreutils.MustMakeLiteral(42)}}
		if err := f.store.WriteProtobuf(context.Background(), storage.DataReference(prefix+"/outputs.pb"), storage.Options{}, outputs); err != nil {
			f.t.Errorf("write outputs: %v", err)
		}
	}
	f.pool.TaskFinished(f.self, actorpool.Result{TaskID: a.TaskID, Failure: failure, StartedAt: started, FinishedAt: time.Now()})
}

type harness struct {
	pool     *actorpool.Pool
	cluster  *pooltest.Cluster
	executor *fakeExecutor
	plugin   *Plugin
}

func newHarness(t *testing.T, result func(actorpool.Assignment) *actorpool.Failure) *harness {
	return newHarnessWith(t, defaultConfig, result)
}

func newHarnessWith(t *testing.T, cfg Config, result func(actorpool.Assignment) *actorpool.Failure) *harness {
	ctx, cancel := context.WithCancel(context.Background())
	cluster := pooltest.NewCluster()
	pool := actorpool.New(ctx, cluster, func(types.NamespacedName) {}, actorpool.Options{})
	t.Cleanup(func() {
		cancel()
		pool.Wait()
	})
	plugin, err := New(pool, &cfg, "")
	require.NoError(t, err)
	return &harness{pool: pool, cluster: cluster, plugin: plugin, executor: newFakeExecutor(t, pool, result)}
}

// connectOnFirstSubmit attaches the fake executor once the environment exists, and gives it the store
// the plugin's outputs are read from.
func (h *harness) connectOnFirstSubmit(t *testing.T) func(context.Context, pluginsCore.TaskExecutionContext) error {
	return func(_ context.Context, tCtx pluginsCore.TaskExecutionContext) error {
		if h.executor.self != nil {
			return nil
		}
		specs := h.cluster.Specs()
		if len(specs) == 0 {
			return nil
		}
		h.executor.store = tCtx.DataStore()
		e, _, err := h.pool.AttachExecutor(pooltest.Hello(specs[0], "pod-1", 1), h.executor.link)
		if err == nil {
			h.executor.self = e
			close(h.executor.attached)
		}
		return nil
	}
}

func TestHandleRunsAttemptThroughThePool(t *testing.T) {
	h := newHarness(t, func(actorpool.Assignment) *actorpool.Failure { return nil })
	inputs := &idlcore.LiteralMap{Literals: map[string]*idlcore.Literal{"x": coreutils.MustMakeLiteral(41)}}
	expected := &idlcore.LiteralMap{Literals: map[string]*idlcore.Literal{"o0": coreutils.MustMakeLiteral(42)}}

	phase := tests.RunPluginEndToEndTest(t, h.plugin, actorTemplate(t, map[string]any{"replica_count": 2, "ttl_seconds": 30}),
		inputs, expected, nil, h.connectOnFirstSubmit(t))
	assert.True(t, phase.Phase().IsSuccess())

	assigned := h.executor.link.Assignments()
	require.Len(t, assigned, 1)
	a := assigned[0]
	assert.True(t, strings.HasSuffix(a.TaskID, "-my-task-1"), "keyed by the attempt's generated name: %s", a.TaskID)
	command := strings.Join(a.Command, " ")
	assert.NotContains(t, command, "{{", "templates are rendered: %s", command)
	assert.Contains(t, command, "--inputs fake://bucket/prefix/")
	env := map[string]string{}
	for _, v := range a.Env {
		env[v.Name] = v.Value
	}
	assert.Equal(t, "exec", env["FLYTE_INTERNAL_EXECUTION_ID"], "the attempt gets the env its pod would have had")
	assert.Equal(t, "from-the-environment", env["MY_ENV"])
	assert.Equal(t, "settings", env["_F_SS_C"], "flytekit's serialization settings go with the task")

	spec := h.cluster.Specs()[0]
	assert.Equal(t, 2, spec.Replicas)
	assert.Equal(t, 30*time.Second, spec.TTL)
	assert.Equal(t, "fake-development", spec.Key.Namespace)
	assert.Equal(t, "my-actor", spec.Key.Name)
	assert.Equal(t, "a", spec.Key.Project)

	pod := spec.Pod
	require.Len(t, pod.Spec.Containers, 1)
	c := pod.Spec.Containers[0]
	assert.Equal(t, executorContainerName, c.Name)
	assert.Equal(t, spec.PrimaryContainer, c.Name)
	assert.Equal(t, []string{"actor-executor"}, c.Command)
	assert.Empty(t, c.Args)
	assert.Equal(t, "ghcr.io/example/flytekit:1", c.Image)
	for _, v := range c.Env {
		assert.False(t, strings.HasPrefix(v.Name, "FLYTE_INTERNAL_"), "per-attempt variable %s left in the executor pod", v.Name)
		assert.NotEqual(t, "FLYTE_ATTEMPT_NUMBER", v.Name)
		assert.NotEqual(t, "_F_SS_C", v.Name, "a dynamic task's settings would give it an environment of its own")
	}
	assert.Contains(t, c.Env, corev1.EnvVar{Name: "MY_ENV", Value: "from-the-environment"})
	assert.Equal(t, "true", pod.Labels["inject-flyte-secrets"], "secrets are requested from Flyte's webhook")
	assert.NotEmpty(t, pod.Annotations, "with the secret annotations")
	assert.Equal(t, "s", pod.Spec.ServiceAccountName)
}

func TestHandleFailsPermanentlyOnBadSpecNamingTheField(t *testing.T) {
	h := newHarness(t, nil)
	phase := tests.RunPluginEndToEndTest(t, h.plugin, actorTemplate(t, map[string]any{"replica_count": -2}),
		&idlcore.LiteralMap{}, nil, nil, nil)
	require.Equal(t, pluginsCore.PhasePermanentFailure, phase.Phase())
	assert.Equal(t, codeBadTaskSpec, phase.Err().GetCode())
	assert.Contains(t, phase.Err().GetMessage(), "spec.replica_count: must be at least 1, got -2")
}
