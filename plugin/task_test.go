package plugin

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	"github.com/flyteorg/flyte/flyteplugins/tests"

	"github.com/flyteactors/flyteactors/actorpool/kubepods"
)

// podTemplateSpec is an environment's pod template as another SDK sends it: JSON, then base64.
func podTemplateSpec(json string) string { return base64.StdEncoding.EncodeToString([]byte(json)) }

const environmentPodTemplate = `{
  "metadata": {"labels": {"team": "ml"}, "annotations": {"note": "from the template"}},
  "spec": {
    "nodeSelector": {"pool": "gpu"},
    "volumes": [{"name": "cache", "emptyDir": {}}],
    "containers": [
      {"name": "main", "image": "template:1",
       "env": [{"name": "FROM_TEMPLATE", "value": "t"}],
       "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
       "resources": {"limits": {"memory": "2Gi"}}},
      {"name": "proxy", "image": "proxy:1"}
    ]
  }
}`

// TestAnyEnvironmentNameGivesObjectsTheAPIServerAccepts: whatever name an SDK sends, the objects made for
// the environment have valid names, labels and annotations; names longer than a DNS subdomain are refused.
func TestAnyEnvironmentNameGivesObjectsTheAPIServerAccepts(t *testing.T) {
	for _, name := range []string{"my-actor", "my.actor", "My_Actor!!", "ä-ö", "---", "UPPER.case", "a b\tc",
		strings.Repeat("x", maxEnvironmentNameLength), strings.Repeat("ab.", 80) + "z"} {
		t.Run(name, func(t *testing.T) {
			tmpl := actorTemplate(t, map[string]any{})
			tmpl.GetCustom().GetFields()["name"] = mustStruct(t, map[string]any{"n": name}).GetFields()["n"]
			spec := executorEnvironment(t, tmpl)
			assert.Equal(t, name, spec.Key.Name)

			client := fakeAPIServer()
			_, err := kubepods.New(client, kubepods.Options{PoolAddress: "pool:8089"}).EnsureEnvironment(context.Background(), spec, spec.Replicas)
			require.NoError(t, err)
			pods, err := client.CoreV1().Pods(spec.Key.Namespace).List(context.Background(), metav1.ListOptions{})
			require.NoError(t, err)
			secrets, err := client.CoreV1().Secrets(spec.Key.Namespace).List(context.Background(), metav1.ListOptions{})
			require.NoError(t, err)
			require.Len(t, pods.Items, 1)
			require.Len(t, secrets.Items, 1)
			assertAcceptable(t, &pods.Items[0].ObjectMeta)
			assertAcceptable(t, &secrets.Items[0].ObjectMeta)
			for _, c := range pods.Items[0].Spec.Containers {
				assert.Empty(t, validation.IsDNS1123Label(c.Name), "container name %q", c.Name)
			}
		})
	}

	tmpl := actorTemplate(t, map[string]any{})
	tmpl.GetCustom().GetFields()["name"] = mustStruct(t, map[string]any{"n": strings.Repeat("x", maxEnvironmentNameLength+1)}).GetFields()["n"]
	phase := tests.RunPluginEndToEndTest(t, newHarness(t, nil).plugin, tmpl, &idlcore.LiteralMap{}, nil, nil, nil)
	require.Equal(t, pluginsCore.PhasePermanentFailure, phase.Phase())
	assert.Contains(t, phase.Err().GetMessage(), "execution env name: must be at most 253 characters, got 254")
}

// fakeAPIServer is a fake clientset that, like the API server, gives every object it creates a UID (owner
// references need it).
func fakeAPIServer() *fake.Clientset {
	client := fake.NewClientset()
	client.PrependReactor("create", "*", func(action clienttesting.Action) (bool, runtime.Object, error) {
		if object, err := meta.Accessor(action.(clienttesting.CreateAction).GetObject()); err == nil {
			object.SetUID(uuid.NewUUID())
		}
		return false, nil, nil
	})
	return client
}

// assertAcceptable checks an object's metadata as the API server does on create (pods and secrets both
// take DNS subdomain names).
func assertAcceptable(t *testing.T, meta *metav1.ObjectMeta) {
	t.Helper()
	errs := apivalidation.ValidateObjectMeta(meta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	assert.Empty(t, errs, "%s", meta.Name)
}

// TestFlyte2SpecScalesBetweenMinAndMax: the spec Flyte 2's SDK writes (replicas=(1, 4), concurrency=2,
// scaledown_ttl and idle_ttl as float seconds, backlog_length null) gives an environment that scales
// between one and four executors of two slots; Union's (no min_replica_count) a fixed one.
func TestFlyte2SpecScalesBetweenMinAndMax(t *testing.T) {
	flyte2 := executorEnvironment(t, actorTemplate(t, map[string]any{
		"container_image": "ghcr.io/example/flytekit:1", "backlog_length": nil, "parallelism": 2,
		"min_replica_count": 1, "replica_count": 4, "ttl_seconds": 60.0, "scaledown_ttl_seconds": 45.0,
	}))
	assert.Equal(t, []int{1, 4, 2, 0}, []int{flyte2.MinReplicas, flyte2.Replicas, flyte2.Slots, flyte2.Backlog})
	assert.Equal(t, 45*time.Second, flyte2.ScaledownTTL)
	assert.Equal(t, time.Minute, flyte2.TTL)

	union := executorEnvironment(t, actorTemplate(t, map[string]any{"replica_count": 3, "backlog_length": 5}))
	assert.Equal(t, []int{3, 3, 1, 5}, []int{union.MinReplicas, union.Replicas, union.Slots, union.Backlog}, "fixed size")
	assert.Equal(t, defaultScaledownTTL, union.ScaledownTTL)
}
