package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/flyteorg/flyte/flyteidl/clients/go/coreutils"
	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/tests/harness"
)

// literalLimit is propeller's limit on a task's outputs document: storage.limits.maxDownloadMBs,
// 2 MiB by default, for pod and actor tasks alike.
const literalLimit = 2 * 1024 * 1024

// typeFamily is one workflow of typefamilies.actor and typefamilies.pod, and its inputs.
type typeFamily struct {
	name     string
	workflow string
	inputs   map[string]*idlcore.Literal
	// fails is true when both runs must fail (and fail alike).
	fails bool
}

func typeFamilies() []typeFamily {
	n := func(v int) map[string]*idlcore.Literal {
		return map[string]*idlcore.Literal{"n": coreutils.MustMakeLiteral(v)}
	}
	return []typeFamily{
		{name: "primitives", workflow: "primitives_wf"},
		{name: "lists and dicts", workflow: "collections_wf"},
		{name: "dataclass", workflow: "dataclass_wf"},
		{name: "FlyteFile", workflow: "file_wf"},
		{name: "FlyteDirectory", workflow: "dir_wf"},
		{name: "StructuredDataset (pandas)", workflow: "frame_wf"},
		{name: "50 MiB FlyteFile", workflow: "file_wf", inputs: map[string]*idlcore.Literal{
			"n": coreutils.MustMakeLiteral(1), "mib": coreutils.MustMakeLiteral(50)}},
		{name: "output just under the literal size limit", workflow: "long_string_wf", inputs: n(literalLimit - 4096)},
		{name: "output over the literal size limit", workflow: "long_string_wf", inputs: n(literalLimit + 4096), fails: true},
	}
}

// TestTypeFamiliesThroughActorTasksEqualPodTasks: each flytekit type family passes through actor tasks
// exactly as through pod tasks: equal outputs (blobs compared by content, which downstream tasks of the
// same kind also digest), and an output over propeller's literal size limit fails alike.
func TestTypeFamiliesThroughActorTasksEqualPodTasks(t *testing.T) {
	ctx := context.Background()
	stack, reg := startWith(t, "typefamilies")
	type pair struct{ actor, pod *harness.Execution }
	runs := map[string]pair{}
	// Launch everything at once: pods run side by side, actor tasks queue for their one executor.
	for _, f := range typeFamilies() {
		actor, err := stack.Launch(ctx, reg, "typefamilies.actor."+f.workflow, f.inputs)
		require.NoError(t, err)
		pod, err := stack.Launch(ctx, reg, "typefamilies.pod."+f.workflow, f.inputs)
		require.NoError(t, err)
		runs[f.name] = pair{actor, pod}
	}
	for _, f := range typeFamilies() {
		t.Run(f.name, func(t *testing.T) {
			run := runs[f.name]
			actorErr := run.actor.Wait(ctx, 5*time.Minute)
			podErr := run.pod.Wait(ctx, 5*time.Minute)
			if f.fails {
				require.Error(t, podErr)
				require.Error(t, actorErr)
				assertSameFailure(t, run.pod, run.actor)
				return
			}
			require.NoError(t, podErr)
			require.NoError(t, actorErr)
			assertEqualOutputs(t, stack, run.pod.Outputs, run.actor.Outputs)
			t.Logf("pod per task %s, actor %s", run.pod.Duration().Round(time.Millisecond), run.actor.Duration().Round(time.Millisecond))
		})
	}
	digest := stringOf(runs["50 MiB FlyteFile"].actor.Outputs.GetLiterals()["o1"])
	assert.True(t, strings.HasPrefix(digest, "52428800 bytes "), "the big file is 50 MiB: %s", digest)
	assert.Equal(t, int64(42), intOf(runs["primitives"].actor.Outputs.GetLiterals()["o0"]))
	assert.Len(t, executorSpans(ctx, t, stack), 1, "every actor task ran on the environment's one executor")
}

// assertEqualOutputs compares two runs' outputs: literals equal but for blob and dataset locations,
// blobs equal by content.
func assertEqualOutputs(t *testing.T, stack *harness.Stack, want, got *idlcore.LiteralMap) {
	t.Helper()
	require.Equal(t, len(want.GetLiterals()), len(got.GetLiterals()))
	for key, w := range want.GetLiterals() {
		g := got.GetLiterals()[key]
		require.NotNil(t, g, "output %s", key)
		assert.Empty(t, cmpLiterals(withoutLocations(w), withoutLocations(g)), "output %s", key)
		if uri := w.GetScalar().GetBlob().GetUri(); uri != "" {
			assert.Equal(t, blobDigest(t, stack, uri), blobDigest(t, stack, g.GetScalar().GetBlob().GetUri()), "contents of output %s", key)
		}
	}
}

// cmpLiterals returns the differences between two literals, empty when equal.
func cmpLiterals(a, b *idlcore.Literal) string {
	return cmp.Diff(a, b, protocmp.Transform())
}

// withoutLocations returns a copy of l without the locations of its blobs and datasets.
func withoutLocations(l *idlcore.Literal) *idlcore.Literal {
	c := proto.Clone(l).(*idlcore.Literal)
	if b := c.GetScalar().GetBlob(); b != nil {
		b.Uri = ""
	}
	if sd := c.GetScalar().GetStructuredDataset(); sd != nil {
		sd.Uri = ""
	}
	for _, item := range c.GetCollection().GetLiterals() {
		*item = *withoutLocations(item)
	}
	return c
}

// blobDigest hashes what a local blob holds: a file's bytes, or a folder's paths and bytes. Raw data
// on the stack is under plain paths; a file:// reference is relative to the storage root.
func blobDigest(t *testing.T, stack *harness.Stack, uri string) string {
	t.Helper()
	root := uri
	if rel, ok := strings.CutPrefix(uri, "file://"); ok {
		root = filepath.Join(stack.StorageRoot, rel)
	}
	h := sha256.New()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		_, _ = io.WriteString(h, rel)
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		_, err = io.Copy(h, f)
		return err
	})
	require.NoError(t, err, "read blob %s", uri)
	return hex.EncodeToString(h.Sum(nil))
}

// assertSameFailure checks that two runs failed in the same node alike: phase, kind, code, and message
// once the execution names are taken out.
func assertSameFailure(t *testing.T, want, got *harness.Execution) {
	t.Helper()
	assert.Equal(t, want.Phase, got.Phase)
	w, g := want.Workflow.Status.NodeStatus["n0"], got.Workflow.Status.NodeStatus["n0"]
	require.NotNil(t, w)
	require.NotNil(t, g)
	assert.Equal(t, w.GetPhase(), g.GetPhase())
	we, ge := w.GetExecutionError(), g.GetExecutionError()
	require.NotNil(t, we, "the pod task's node carries its error")
	require.NotNil(t, ge, "the actor task's node carries its error")
	assert.Equal(t, we.GetKind(), ge.GetKind())
	assert.Equal(t, we.GetCode(), ge.GetCode())
	assert.Equal(t, strings.ReplaceAll(we.GetMessage(), want.Name, "<execution>"), strings.ReplaceAll(ge.GetMessage(), got.Name, "<execution>"))
	t.Logf("both failed: %s %s: %s", ge.GetKind(), ge.GetCode(), ge.GetMessage())
}
