package plugin

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/structpb"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/flytek8s"
	"github.com/flyteorg/flyte/flyteplugins/tests"
	"github.com/flyteorg/flyte/flytestdlib/storage"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
	"github.com/flyteactors/flyteactors/go/contract"
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
	f.pool.TaskStarted(f.self, a.TaskID, time.Now())
	failure := f.result(a)
	if failure == nil {
		prefix := a.Command[slices.Index(a.Command, "--output-prefix")+1]
		outputs := &idlcore.LiteralMap{Literals: map[string]*idlcore.Literal{"o0": coreutils.MustMakeLiteral(42)}}
		if err := f.store.WriteProtobuf(context.Background(), storage.DataReference(prefix+"/outputs.pb"), storage.Options{}, outputs); err != nil {
			f.t.Errorf("write outputs: %v", err)
		}
	}
	f.pool.TaskFinished(f.self, actorpool.Result{TaskID: a.TaskID, Failure: failure, StartedAt: time.Now(), FinishedAt: time.Now()})
}

type harness struct {
	pool     *actorpool.Pool
	cluster  *pooltest.Cluster
	executor *fakeExecutor
	plugin   *Plugin
}

func newHarness(t *testing.T, result func(actorpool.Assignment) *actorpool.Failure) *harness {
	ctx, cancel := context.WithCancel(context.Background())
	cluster := pooltest.NewCluster()
	pool := actorpool.New(ctx, cluster, func(types.NamespacedName) {}, actorpool.Options{})
	t.Cleanup(func() {
		cancel()
		pool.Wait()
	})
	cfg := defaultConfig
	return &harness{pool: pool, cluster: cluster, plugin: New(pool, &cfg), executor: newFakeExecutor(t, pool, result)}
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

func TestHandleReportsExecutorFailures(t *testing.T) {
	for name, tc := range map[string]struct {
		failure   actorpool.Failure
		wantKind  idlcore.ExecutionError_ErrorKind
		wantCode  string
		retryable bool
	}{
		"lost executor": {actorpool.Failure{Kind: actorpool.FailureSystem, Retryable: true, Code: contract.CodeExecutorLost, Message: "gone"},
			idlcore.ExecutionError_SYSTEM, contract.CodeExecutorLost, true},
		"out of memory": {actorpool.Failure{Kind: actorpool.FailureSystem, Retryable: true, OOM: true, Code: contract.CodeRuntimeExited, Message: "killed"},
			idlcore.ExecutionError_USER, codeOOM, true},
		"user, permanent": {actorpool.Failure{Kind: actorpool.FailureUser, Code: "Bad", Message: "no"},
			idlcore.ExecutionError_USER, "Bad", false},
		"system, permanent": {actorpool.Failure{Kind: actorpool.FailureSystem, Code: "Broken", Message: "no"},
			idlcore.ExecutionError_SYSTEM, "Broken", false},
		// Issue 7, item 7: an executor killed with its runtime by a group OOM is OOMKilled, not lost.
		"executor lost to OOM": {actorpool.Failure{Kind: actorpool.FailureSystem, Retryable: true, OOM: true, Code: contract.CodeExecutorLost, Message: "its pod: OOMKilled"},
			idlcore.ExecutionError_USER, codeOOM, true},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, func(actorpool.Assignment) *actorpool.Failure { f := tc.failure; return &f })
			phase := tests.RunPluginEndToEndTest(t, h.plugin, actorTemplate(t, map[string]any{}),
				&idlcore.LiteralMap{}, nil, nil, h.connectOnFirstSubmit(t))
			require.True(t, phase.Phase().IsFailure(), "phase %s", phase.Phase())
			assert.Equal(t, tc.retryable, phase.Phase() == pluginsCore.PhaseRetryableFailure)
			assert.Equal(t, tc.wantKind, phase.Err().GetKind())
			assert.Equal(t, tc.wantCode, phase.Err().GetCode())
		})
	}
}

// TestExitedTaskFailsAsItsPodWould (issue 7, item 7): a task whose process exited non-zero (sys.exit)
// or was killed is classified by Flyte's own reading of a pod whose container ended the same way.
func TestExitedTaskFailsAsItsPodWould(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		exitCode int32
		oom      bool
	}{"sys.exit(3)": {exitCode: 3}, "killed by SIGKILL": {exitCode: 137}, "out of memory": {exitCode: 137, oom: true}} {
		t.Run(name, func(t *testing.T) {
			reason := "Error"
			if tc.oom {
				reason = flytek8s.OOMKilled
			}
			pod := corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: "primary",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: tc.exitCode, Reason: reason, Message: "m"}}}}}
			want, err := flytek8s.DemystifyFailure(ctx, pod, pluginsCore.TaskInfo{}, "primary")
			require.NoError(t, err)

			got := failurePhase(ctx, actorpool.Failure{Kind: actorpool.FailureUser, Retryable: true, OOM: tc.oom,
				Code: contract.CodeEntrypointExited, Message: "m", ExitCode: tc.exitCode}, &pluginsCore.TaskInfo{})
			assert.Equal(t, want.Phase(), got.Phase())
			assert.Equal(t, want.Err().GetKind(), got.Err().GetKind())
			assert.Equal(t, want.Err().GetCode(), got.Err().GetCode())
		})
	}
}

// TestSpecOverThePlatformsLimitsFailsNamingTheLimit (issue 7, item 8).
func TestSpecOverThePlatformsLimitsFailsNamingTheLimit(t *testing.T) {
	for field, spec := range map[string]map[string]any{
		"plugins.actor.max-replicas":    {"replica_count": 2000000000},
		"plugins.actor.max-parallelism": {"parallelism": 1000000},
		"plugins.actor.max-ttl":         {"ttl_seconds": 10 * 365 * 24 * 3600},
	} {
		t.Run(field, func(t *testing.T) {
			h := newHarness(t, nil)
			phase := tests.RunPluginEndToEndTest(t, h.plugin, actorTemplate(t, spec), &idlcore.LiteralMap{}, nil, nil, nil)
			require.Equal(t, pluginsCore.PhasePermanentFailure, phase.Phase())
			assert.Equal(t, codeBadTaskSpec, phase.Err().GetCode())
			assert.Contains(t, phase.Err().GetMessage(), field)
			assert.Empty(t, h.cluster.Specs(), "nothing was asked of the cluster")
		})
	}
}

// TestNewWaitingReasonIsANewPhaseVersion (issue 7, item 4): propeller records an event only when the
// phase or its version changes, so a changed reason must change the version.
func TestNewWaitingReasonIsANewPhaseVersion(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cluster := pooltest.NewCluster()
	cluster.FailWith(errors.New("pods are forbidden"))
	pool := actorpool.New(ctx, cluster, func(types.NamespacedName) {}, actorpool.Options{RetryInterval: time.Millisecond})
	t.Cleanup(func() {
		cancel()
		pool.Wait()
	})
	plugin := New(pool, &defaultConfig)
	require.NoError(t, pool.Submit(ctx, pooltest.Task("a", pooltest.Spec("env", time.Hour))))
	phaseWhen := func(reason string) pluginsCore.PhaseInfo {
		var info pluginsCore.PhaseInfo
		require.Eventually(t, func() bool {
			s, _ := pool.Status("a")
			tr, err := plugin.transition(ctx, nil, s)
			require.NoError(t, err)
			info = tr.Info()
			return strings.Contains(info.Reason(), reason)
		}, 5*time.Second, 2*time.Millisecond)
		return info
	}
	forbidden := phaseWhen("pods are forbidden")
	cluster.FailWith(nil)
	starting := phaseWhen("waiting for executors")
	assert.Equal(t, pluginsCore.PhaseWaitingForResources, starting.Phase())
	assert.Greater(t, starting.Version(), forbidden.Version())
}

func TestHandleFailsPermanentlyOnBadSpecNamingTheField(t *testing.T) {
	h := newHarness(t, nil)
	phase := tests.RunPluginEndToEndTest(t, h.plugin, actorTemplate(t, map[string]any{"replica_count": -2}),
		&idlcore.LiteralMap{}, nil, nil, nil)
	require.Equal(t, pluginsCore.PhasePermanentFailure, phase.Phase())
	assert.Equal(t, codeBadTaskSpec, phase.Err().GetCode())
	assert.Contains(t, phase.Err().GetMessage(), "spec.replica_count: must be at least 1, got -2")
}

func TestPodHashIgnoresTheAttemptButNotThePod(t *testing.T) {
	base := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "actor", Image: "a:1",
		Env: []corev1.EnvVar{{Name: "B", Value: "2"}, {Name: "A", Value: "1"}}}}}}
	reordered := base.DeepCopy()
	slices.Reverse(reordered.Spec.Containers[0].Env)
	otherImage := base.DeepCopy()
	otherImage.Spec.Containers[0].Image = "a:2"
	otherAccount := base.DeepCopy()
	otherAccount.Spec.ServiceAccountName = "other"

	h := func(p *corev1.Pod) string {
		s, err := podHash(p)
		require.NoError(t, err)
		return s
	}
	assert.Equal(t, h(base), h(reordered), "env order (from Go maps) does not change the environment")
	assert.NotEqual(t, h(base), h(otherImage))
	assert.NotEqual(t, h(base), h(otherAccount))
}

// TestSecondLoadWithAnotherConfigIsAnError: the process has one pool; a plugin loaded later with
// another plugins.actor section must not silently run with the first one.
func TestSecondLoadWithAnotherConfigIsAnError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pool := actorpool.New(ctx, pooltest.NewCluster(), func(types.NamespacedName) {}, actorpool.Options{})
	t.Cleanup(func() {
		cancel()
		pool.Wait()
	})
	once := poolOnce{pool: pool, cfg: defaultConfig}

	same := defaultConfig
	got, err := once.get(ctx, nil, &same)
	require.NoError(t, err)
	assert.Same(t, pool, got)

	other := defaultConfig
	other.ListenAddress = ":9999"
	_, err = once.get(ctx, nil, &other)
	assert.ErrorContains(t, err, "restart FlytePropeller")
}

// TestExecutorIsInjectedFromItsImage (issue 9): with plugins.actor.executor-image set, an init
// container installs the executor into a shared emptyDir and the primary container runs it from there,
// so the task's image need not contain it; either way a failing executor's log tail becomes its
// termination message.
func TestExecutorIsInjectedFromItsImage(t *testing.T) {
	cfg := defaultConfig
	cfg.ExecutorImage = "registry.example.com/flyteactors/actor-executor:1.0"
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "actor", Image: "task:1",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}}}
	injectExecutor(pod, "actor", &cfg)

	require.Len(t, pod.Spec.InitContainers, 1)
	install := pod.Spec.InitContainers[0]
	assert.Equal(t, cfg.ExecutorImage, install.Image)
	assert.Equal(t, corev1.PullIfNotPresent, install.ImagePullPolicy)
	assert.Equal(t, []string{"/actor-executor", "install", "/flyte-actor"}, install.Command)
	assert.Equal(t, pod.Spec.Containers[0].Resources, install.Resources, "quota-friendly, and no larger than the pod's")
	primary := pod.Spec.Containers[0]
	assert.Equal(t, []string{"/flyte-actor/actor-executor"}, primary.Command)
	assert.Equal(t, "task:1", primary.Image, "the task's own image")
	assert.Equal(t, corev1.TerminationMessageFallbackToLogsOnError, primary.TerminationMessagePolicy)
	require.Len(t, pod.Spec.Volumes, 1)
	assert.NotNil(t, pod.Spec.Volumes[0].EmptyDir)
	assert.Equal(t, install.VolumeMounts, primary.VolumeMounts)

	inImage := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "actor", Command: []string{"actor-executor"}}}}}
	injectExecutor(inImage, "actor", &defaultConfig)
	assert.Empty(t, inImage.Spec.InitContainers, "without an executor image, the image holds the executor")
	assert.Equal(t, []string{"actor-executor"}, inImage.Spec.Containers[0].Command)
}
