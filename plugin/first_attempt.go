package plugin

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/catalog"
	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/io"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/utils"
	"github.com/flyteorg/flyte/flytepropeller/pkg/apis/flyteworkflow/v1alpha1"
	propellerconfig "github.com/flyteorg/flyte/flytepropeller/pkg/controller/config"
	propellerutils "github.com/flyteorg/flyte/flytepropeller/pkg/utils"
	"github.com/flyteorg/flyte/flytestdlib/storage"
)

// firstAttemptContext is the TaskExecutionContext FlytePropeller will give the first attempt of a task
// node of a workflow, as far as it shapes the attempt's pod: the task's template, the node's overrides,
// and the workflow's service account, security context, interruptible default, platform resources,
// labels and annotations — taken from the FlyteWorkflow as propeller's node and task handlers take them.
// It is made before the node runs (lookahead prewarm), so its environment gets the key the attempt's
// will have. It holds no inputs, outputs or plugin state, and its data paths are placeholders: the
// executor pod built from it carries none of them (the attempt's command and variables go with each
// task).
type firstAttemptContext struct {
	tmpl *idlcore.TaskTemplate
	meta *firstAttemptMetadata
}

var _ pluginsCore.TaskExecutionContext = (*firstAttemptContext)(nil)

// newFirstAttemptContext returns the context of the first attempt of node, a task node of wf running
// task tmpl.
func newFirstAttemptContext(wf *v1alpha1.FlyteWorkflow, node *v1alpha1.NodeSpec, tmpl *idlcore.TaskTemplate) *firstAttemptContext {
	interruptible := wf.IsInterruptible()
	if node.IsInterruptible() != nil {
		interruptible = *node.IsInterruptible()
	}
	nodeCfg := propellerconfig.GetConfig().NodeConfig
	maxAttempts := uint32(max(nodeCfg.DefaultMaxAttempts, 0)) // #nosec G115 -- not negative
	if rs := node.GetRetryStrategy(); rs != nil && rs.MinAttempts != nil {
		maxAttempts = uint32(max(*rs.MinAttempts, 0)) // #nosec G115 -- not negative
	}
	// As propeller labels a node's attempts: the workflow's labels, the node, the task, interruptible.
	labels := utils.CopyMap(wf.GetLabels())
	if labels == nil {
		labels = map[string]string{}
	}
	labels["node-id"] = propellerutils.SanitizeLabelValue(node.GetID())
	labels["task-name"] = propellerutils.SanitizeLabelValue(tmpl.GetId().GetName())
	labels["interruptible"] = strconv.FormatBool(interruptible)
	id := &firstAttemptID{task: tmpl.GetId(), name: wf.GetName() + "-" + node.GetID() + "-0",
		node: &idlcore.NodeExecutionIdentifier{NodeId: node.GetID(), ExecutionId: wf.GetExecutionID().WorkflowExecutionIdentifier}}
	return &firstAttemptContext{tmpl: tmpl, meta: &firstAttemptMetadata{
		wf: wf, node: node, id: id,
		interruptible: interruptible, interruptibleThreshold: nodeCfg.InterruptibleFailureThreshold,
		maxAttempts: maxAttempts, labels: labels,
	}}
}

func (c *firstAttemptContext) ResourceManager() pluginsCore.ResourceManager     { return nil }
func (c *firstAttemptContext) SecretManager() pluginsCore.SecretManager         { return nil }
func (c *firstAttemptContext) TaskRefreshIndicator() pluginsCore.SignalAsync    { return nil }
func (c *firstAttemptContext) DataStore() *storage.DataStore                    { return nil }
func (c *firstAttemptContext) PluginStateReader() pluginsCore.PluginStateReader { return nil }
func (c *firstAttemptContext) PluginStateWriter() pluginsCore.PluginStateWriter { return nil }
func (c *firstAttemptContext) Catalog() catalog.AsyncClient                     { return nil }
func (c *firstAttemptContext) EventsRecorder() pluginsCore.EventsRecorder       { return nil }
func (c *firstAttemptContext) InputReader() io.InputReader                      { return placeholderData{} }
func (c *firstAttemptContext) OutputWriter() io.OutputWriter                    { return placeholderData{} }
func (c *firstAttemptContext) TaskReader() pluginsCore.TaskReader               { return templateReader{c.tmpl} }
func (c *firstAttemptContext) TaskExecutionMetadata() pluginsCore.TaskExecutionMetadata {
	return c.meta
}

// templateReader reads a template the workflow holds.
type templateReader struct{ tmpl *idlcore.TaskTemplate }

func (r templateReader) Read(context.Context) (*idlcore.TaskTemplate, error) { return r.tmpl, nil }
func (r templateReader) Path(context.Context) (storage.DataReference, error) {
	return placeholderPath + "/task.pb", nil
}

// placeholderPath is where a first attempt's data would be: no attempt reads or writes it.
const placeholderPath = storage.DataReference("prewarm://first-attempt")

// placeholderData are a first attempt's inputs and outputs: placeholder paths, no data.
type placeholderData struct{}

func (placeholderData) GetInputPrefixPath() storage.DataReference { return placeholderPath }
func (placeholderData) GetInputPath() storage.DataReference       { return placeholderPath + "/inputs.pb" }
func (placeholderData) Get(context.Context) (*idlcore.LiteralMap, error) {
	return &idlcore.LiteralMap{}, nil
}
func (placeholderData) GetOutputPrefixPath() storage.DataReference { return placeholderPath }
func (placeholderData) GetRawOutputPrefix() storage.DataReference  { return placeholderPath + "/raw" }
func (placeholderData) GetCheckpointPrefix() storage.DataReference {
	return placeholderPath + "/checkpoint"
}
func (placeholderData) GetPreviousCheckpointsPrefix() storage.DataReference { return "" }
func (placeholderData) GetOutputPath() storage.DataReference                { return placeholderPath + "/outputs.pb" }
func (placeholderData) GetDeckPath() storage.DataReference                  { return placeholderPath + "/deck.html" }
func (placeholderData) GetErrorPath() storage.DataReference                 { return placeholderPath + "/error.pb" }
func (placeholderData) Put(context.Context, io.OutputReader) error {
	return fmt.Errorf("a first attempt's context built ahead of its node has no outputs")
}

// firstAttemptMetadata is the TaskExecutionMetadata of a node's first attempt.
type firstAttemptMetadata struct {
	wf                     *v1alpha1.FlyteWorkflow
	node                   *v1alpha1.NodeSpec
	id                     *firstAttemptID
	interruptible          bool
	interruptibleThreshold int32
	maxAttempts            uint32
	labels                 map[string]string
}

func (m *firstAttemptMetadata) GetOwnerID() types.NamespacedName                { return m.wf.GetK8sWorkflowID() }
func (m *firstAttemptMetadata) GetTaskExecutionID() pluginsCore.TaskExecutionID { return m.id }
func (m *firstAttemptMetadata) GetNamespace() string                            { return m.wf.GetNamespace() }
func (m *firstAttemptMetadata) GetOwnerReference() metav1.OwnerReference {
	return m.wf.GetOwnerReference()
}
func (m *firstAttemptMetadata) GetOverrides() pluginsCore.TaskOverrides { return m.node }
func (m *firstAttemptMetadata) GetLabels() map[string]string            { return m.labels }
func (m *firstAttemptMetadata) GetMaxAttempts() uint32                  { return m.maxAttempts }
func (m *firstAttemptMetadata) GetAnnotations() map[string]string       { return m.wf.GetAnnotations() }
func (m *firstAttemptMetadata) GetK8sServiceAccount() string            { return m.wf.GetServiceAccountName() }
func (m *firstAttemptMetadata) GetSecurityContext() idlcore.SecurityContext {
	return m.wf.GetSecurityContext()
}
func (m *firstAttemptMetadata) IsInterruptible() bool { return m.interruptible }
func (m *firstAttemptMetadata) GetInterruptibleFailureThreshold() int32 {
	return m.interruptibleThreshold
}
func (m *firstAttemptMetadata) GetEnvironmentVariables() map[string]string {
	return m.wf.GetExecutionConfig().EnvironmentVariables
}
func (m *firstAttemptMetadata) GetConsoleURL() string { return m.wf.GetConsoleURL() }

// GetPlatformResources returns the execution's task resource defaults and limits, as propeller's task
// handler converts them.
func (m *firstAttemptMetadata) GetPlatformResources() *corev1.ResourceRequirements {
	r := m.wf.GetExecutionConfig().TaskResources
	return &corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:               r.Requests.CPU,
			corev1.ResourceMemory:            r.Requests.Memory,
			corev1.ResourceEphemeralStorage:  r.Requests.EphemeralStorage,
			propellerutils.ResourceNvidiaGPU: r.Requests.GPU,
		},
		Limits: corev1.ResourceList{
			corev1.ResourceCPU:               r.Limits.CPU,
			corev1.ResourceMemory:            r.Limits.Memory,
			corev1.ResourceEphemeralStorage:  r.Limits.EphemeralStorage,
			propellerutils.ResourceNvidiaGPU: r.Limits.GPU,
		},
	}
}

// firstAttemptID identifies a node's first attempt.
type firstAttemptID struct {
	task *idlcore.Identifier
	node *idlcore.NodeExecutionIdentifier
	name string
}

func (i *firstAttemptID) GetGeneratedName() string { return i.name }
func (i *firstAttemptID) GetGeneratedNameWith(minLength, maxLength int) (string, error) {
	name := i.name
	for len(name) < minLength {
		name += "0"
	}
	if len(name) > maxLength {
		name = name[:maxLength]
	}
	return name, nil
}
func (i *firstAttemptID) GetID() idlcore.TaskExecutionIdentifier {
	return idlcore.TaskExecutionIdentifier{TaskId: i.task, NodeExecutionId: i.node}
}
func (i *firstAttemptID) GetUniqueNodeID() string { return i.node.GetNodeId() }
