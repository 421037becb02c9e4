package integration

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/reflect/protoreflect"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/tests/harness"
)

// TestStateCarriesOverBetweenTasks: an environment variable one actor task sets and a module global it
// changes are there for the next task of the environment, in the same process.
func TestStateCarriesOverBetweenTasks(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "state")

	exec, err := stack.Run(ctx, reg, "state.carried_over.carried_over", nil, 3*time.Minute)
	require.NoError(t, err)
	out := exec.Outputs.GetLiterals()
	assert.Equal(t, "run_time", literalString(out["o0"]), "the second task sees the variable the first one set")
	assert.Equal(t, int64(1), literalInt(out["o1"]), "and the global it changed")
	assert.Equal(t, literalInt(out["o2"]), literalInt(out["o3"]), "both ran in one process")

	again, err := stack.Run(ctx, reg, "state.carried_over.carried_over", nil, 3*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, int64(2), literalInt(again.Outputs.GetLiterals()["o1"]), "a second workflow finds the state too")
}

// TestPerAttemptVariablesNeverLeak: the variables Flyte gives one attempt are the attempt's alone. A task
// whose first attempt fails and whose second overwrites its Flyte variables hands none of them to the next
// task, nor to the next workflow.
func TestPerAttemptVariablesNeverLeak(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "state")
	const tampering, observing = "state.attempt_variables.retried_and_tampering", "state.attempt_variables.observe"

	for range 2 {
		exec, err := stack.Run(ctx, reg, "state.attempt_variables.attempt_variables", nil, 3*time.Minute)
		require.NoError(t, err)
		out := exec.Outputs.GetLiterals()
		retried, observed := seenVariables(t, out["o0"]), seenVariables(t, out["o1"])
		assert.Equal(t, map[string]string{
			"FLYTE_INTERNAL_EXECUTION_ID": exec.Name, "FLYTE_ATTEMPT_NUMBER": "1", "FLYTE_INTERNAL_TASK_NAME": tampering,
		}, retried, "the retried task ran as its second attempt")
		assert.Equal(t, map[string]string{
			"FLYTE_INTERNAL_EXECUTION_ID": exec.Name, "FLYTE_ATTEMPT_NUMBER": "0", "FLYTE_INTERNAL_TASK_NAME": observing,
		}, observed, "the next task got its own values, not the retried attempt's or the ones it wrote")
	}
	executors, err := stack.ExecutorPods(ctx)
	require.NoError(t, err)
	assert.Len(t, executors, 1, "every attempt ran on the one executor")
}

// TestActorCacheHitsAcrossTasksAndWorkflows: a result of an actor_cache function built by one task is
// served to the next task and to another workflow, which therefore take measurably less time.
func TestActorCacheHitsAcrossTasksAndWorkflows(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "state")
	const buildSeconds = 2.0 // state/cached.py's BUILD_SECONDS

	twice, err := stack.Run(ctx, reg, "state.cached.cached_twice", nil, 3*time.Minute)
	require.NoError(t, err)
	out := twice.Outputs.GetLiterals()
	first, second := literalFloat(out["o0"]), literalFloat(out["o1"])
	assert.GreaterOrEqual(t, first, buildSeconds, "the first call builds the model")
	assert.Less(t, second, 0.1, "the second task gets it from the cache")
	assert.Equal(t, literalInt(out["o2"]), literalInt(out["o3"]), "built once, by one process")

	elsewhere, err := stack.Run(ctx, reg, "state.cached.cached_elsewhere", nil, 3*time.Minute)
	require.NoError(t, err)
	other := literalFloat(elsewhere.Outputs.GetLiterals()["o0"])
	assert.Less(t, other, 0.1, "another workflow gets it from the cache too")
	t.Logf("actor_cache: first call %.3fs, second task %.6fs, other workflow %.6fs", first, second, other)
}

// TestCodeVersionsNeverMix: one task module registered twice, as two fast-registration bundles with two
// versions, in one environment: each run uses its own code, tasks of one version share module globals,
// and a module only the first bundle has cannot be imported by the second.
func TestCodeVersionsNeverMix(t *testing.T) {
	ctx := context.Background()
	stack := harness.Start(t, workflowSrc(t), harness.Options{})
	bundles := map[string]*harness.Registration{}
	for _, version := range []string{"v1", "v2"} {
		bundles[version] = registerBundle(t, stack, version)
	}

	var pids []int64
	for _, version := range []string{"v1", "v2", "v1"} {
		exec, err := stack.Run(ctx, bundles[version], "stateversions.code.twice", nil, 3*time.Minute)
		require.NoError(t, err)
		out := exec.Outputs.GetLiterals()
		assert.Equal(t, []string{version, version}, []string{literalString(out["o0"]), literalString(out["o4"])},
			"both tasks ran bundle %s's code", version)
		assert.Equal(t, []int64{1, 2}, []int64{literalInt(out["o1"]), literalInt(out["o5"])},
			"the two tasks of %s shared the module's globals, which started fresh for this version", version)
		assert.Equal(t, version == "v1", literalBool(out["o7"]), "only bundle v1 has stateversions.only_v1")
		pids = append(pids, literalInt(out["o2"]), literalInt(out["o6"]))
	}
	for _, pid := range pids {
		assert.Equal(t, pids[0], pid, "all versions ran in one warm process of one environment")
	}
	assert.Len(t, stack.Kubelet.StartedPods(), 1)
}

// registerBundle serializes tests/integration/testdata/bundles/<version> as pyflyte would for a fast
// registration: the bundle goes to the blob store as an archive, every task runs pyflyte-fast-execute with
// it, and every identifier gets the version.
func registerBundle(t *testing.T, stack *harness.Stack, version string) *harness.Registration {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("testdata", "bundles", version))
	require.NoError(t, err)
	reg, err := stack.Serialize(context.Background(), src, "localhost/flytekit:local", "stateversions")
	require.NoError(t, err)
	key := "fast/stateversions-" + version + ".tar.gz"
	require.NoError(t, writeArchive(src, filepath.Join(stack.StorageRoot, harness.Bucket, key)))
	distribution := "file://" + harness.Bucket + "/" + key
	for _, task := range reg.Tasks {
		container := task.GetContainer()
		require.NotNil(t, container, "task %s", task.GetId().GetName())
		container.Args = append([]string{"pyflyte-fast-execute", "--additional-distribution", distribution,
			"--dest-dir", ".", "--"}, container.Args...)
		setVersion(task, version)
	}
	for _, wf := range reg.Workflows {
		setVersion(wf, version)
	}
	for _, lp := range reg.LaunchPlans {
		setVersion(lp, version)
	}
	return reg
}

// writeArchive writes the Python files under src as a gzipped tar at dest, paths relative to src.
func writeArchive(src, dest string) error {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	f, err := os.Create(dest)
	if err != nil {
		return err
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".py") {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// flytekit's archives carry one fixed mtime for every file: so does this one.
		hdr := &tar.Header{Name: rel, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(315532800, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = tw.Write(body)
		return err
	})
	for _, closer := range []interface{ Close() error }{tw, gz, f} {
		if cerr := closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// setVersion sets the version of every flyteidl Identifier in m, as registering it under version would.
func setVersion(m interface{ ProtoReflect() protoreflect.Message }, version string) {
	var walk func(protoreflect.Message)
	walk = func(msg protoreflect.Message) {
		if id, ok := msg.Interface().(*idlcore.Identifier); ok {
			id.Version = version
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

// seenVariables decodes the JSON object of variables a state/attempt_variables.py task returns.
func seenVariables(t *testing.T, l *idlcore.Literal) map[string]string {
	t.Helper()
	var seen map[string]string
	require.NoError(t, json.Unmarshal([]byte(literalString(l)), &seen))
	return seen
}

// literalString, literalInt, literalFloat and literalBool read a primitive output.
func literalString(l *idlcore.Literal) string { return l.GetScalar().GetPrimitive().GetStringValue() }
func literalInt(l *idlcore.Literal) int64     { return l.GetScalar().GetPrimitive().GetInteger() }
func literalFloat(l *idlcore.Literal) float64 { return l.GetScalar().GetPrimitive().GetFloatValue() }
func literalBool(l *idlcore.Literal) bool     { return l.GetScalar().GetPrimitive().GetBoolean() }
