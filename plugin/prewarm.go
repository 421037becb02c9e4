package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/admin"
	"github.com/flyteorg/flyte/flytepropeller/pkg/apis/flyteworkflow/v1alpha1"
	flyteclient "github.com/flyteorg/flyte/flytepropeller/pkg/client/clientset/versioned"
	"github.com/flyteorg/flyte/flytepropeller/pkg/compiler/transformers/k8s"
	propellerconfig "github.com/flyteorg/flyte/flytepropeller/pkg/controller/config"
	taskconfig "github.com/flyteorg/flyte/flytepropeller/pkg/controller/nodes/task/config"
	"github.com/flyteorg/flyte/flytestdlib/logger"
	"github.com/flyteorg/flyte/flytestdlib/promutils"
	"github.com/flyteorg/flyte/flytestdlib/storage"

	"github.com/flyteactors/flyteactors/actorpool"
)

// environmentPrewarmer is what lookahead prewarm needs from the actor pool.
type environmentPrewarmer interface {
	// Prewarm starts an environment's executors before any of its tasks comes; it reports whether it
	// started one (false: the pool already runs it).
	Prewarm(ctx context.Context, spec actorpool.EnvironmentSpec) (bool, error)
}

// prewarmer starts the executors of the actor environments a workflow will use as soon as the workflow
// starts (lookahead), so that the executors start while the workflow's first nodes run: a first step
// that outlasts an executor's start (a data download, a pod task) leaves them warm when its actor tasks
// come. It watches the FlyteWorkflows this FlytePropeller runs (its namespace and shard selection, as
// propeller's own informer selects them) for new ones, builds each actor task node's environment exactly
// as the node's first attempt will (the same pod, so the same key), and asks the pool to start it.
//
// It is bounded: only environments the workflow's own task nodes use (its subworkflows' and map tasks'
// included; a dynamic workflow's are not known yet), at most prewarm.max-environments per workflow; an
// environment nobody then uses goes after its TTL, as any idle one does. Workflows created while its watch
// reconnects are not prewarmed: their tasks start their environments as they come, as without prewarm.
type prewarmer struct {
	pool      environmentPrewarmer
	cfg       *Config
	shard     string
	workflows flyteclient.Interface
	// starts watches the FlyteWorkflows' metadata only: a workflow's status changes many times a second,
	// and only its creation matters here, when the whole workflow is read once.
	starts    metadata.Interface
	propeller *propellerconfig.Config
	// store reads workflow closures flyteadmin offloaded to the blob store; opened on first use.
	store   func() (*storage.DataStore, error)
	metrics prewarmMetrics
}

// prewarmMetrics count what lookahead prewarm does.
type prewarmMetrics struct {
	workflows    prometheus.Counter
	environments prometheus.Counter
	failures     prometheus.Counter
}

func newPrewarmer(pool environmentPrewarmer, cfg *Config, shard string, workflows flyteclient.Interface,
	starts metadata.Interface, propeller *propellerconfig.Config, scope promutils.Scope) *prewarmer {
	openStore := sync.OnceValues(func() (*storage.DataStore, error) {
		return storage.NewDataStore(storage.GetConfig(), scope.NewSubScope("store"))
	})
	return &prewarmer{pool: pool, cfg: cfg, shard: shard, workflows: workflows, starts: starts, propeller: propeller, store: openStore,
		metrics: newPrewarmMetrics(scope)}
}

// Lookahead prewarm's metric names, under the plugin's "prewarm" scope.
const (
	metricPrewarmWorkflows    = "workflows"
	metricPrewarmEnvironments = "environments"
	metricPrewarmFailures     = "failures"
)

// PrewarmMetricNames returns the names of lookahead prewarm's metrics (without their scope's prefix).
func PrewarmMetricNames() []string {
	return []string{metricPrewarmWorkflows, metricPrewarmEnvironments, metricPrewarmFailures}
}

func newPrewarmMetrics(scope promutils.Scope) prewarmMetrics {
	return prewarmMetrics{
		workflows:    scope.MustNewCounter(metricPrewarmWorkflows, "Workflows lookahead prewarm looked at as they started"),
		environments: scope.MustNewCounter(metricPrewarmEnvironments, "Environments started ahead of their first task"),
		failures:     scope.MustNewCounter(metricPrewarmFailures, "Environments of starting workflows that could not be read or started ahead"),
	}
}

// run watches for new workflows until ctx ends, starting the watch again after a failure.
func (w *prewarmer) run(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		started := time.Now()
		err := w.watchNewWorkflows(ctx)
		if ctx.Err() != nil {
			return
		}
		// A watch that held for a while failed on its own, not in a row with the ones before it.
		if time.Since(started) > w.cfg.MaxRetryInterval.Duration {
			backoff = time.Second
		}
		logger.Warnf(ctx, "actor prewarm: watching workflows failed (%v); again in %s", err, backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, w.cfg.MaxRetryInterval.Duration)
	}
}

// watchNewWorkflows prewarms for each workflow created from now on, until the watch fails.
func (w *prewarmer) watchNewWorkflows(ctx context.Context) error {
	namespace := watchedNamespace(w.propeller.LimitNamespace)
	selector := workflowSelector(w.propeller)
	starts := w.starts.Resource(v1alpha1.SchemeGroupVersion.WithResource("flyteworkflows")).Namespace(namespace)
	// Only workflows created from now on: the list is only for its resource version.
	list, err := starts.List(ctx, metav1.ListOptions{LabelSelector: selector, Limit: 1})
	if err != nil {
		return err
	}
	watcher, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.LabelSelector = selector
			return starts.Watch(ctx, opts)
		},
	})
	if err != nil {
		return err
	}
	defer watcher.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-watcher.ResultChan():
			if !ok {
				return errors.New("the watch ended")
			}
			switch ev.Type {
			case watch.Added:
				if meta, isMeta := ev.Object.(*metav1.PartialObjectMetadata); isMeta {
					w.workflowCreated(ctx, meta.Namespace, meta.Name)
				}
			case watch.Error:
				return apierrors.FromObject(ev.Object)
			}
		}
	}
}

// workflowCreated reads a workflow just created and prewarms for it.
func (w *prewarmer) workflowCreated(ctx context.Context, namespace, name string) {
	wf, err := w.workflows.FlyteworkflowV1alpha1().FlyteWorkflows(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if !apierrors.IsNotFound(err) {
			w.metrics.failures.Inc()
			logger.Warnf(ctx, "actor prewarm: read workflow %s/%s: %v", namespace, name, err)
		}
		return
	}
	w.workflowStarted(ctx, wf)
}

// workflowStarted starts the environments wf will use, if it has not begun running yet.
func (w *prewarmer) workflowStarted(ctx context.Context, wf *v1alpha1.FlyteWorkflow) {
	if wf.GetExecutionStatus().GetPhase() != v1alpha1.WorkflowPhaseReady {
		return
	}
	w.metrics.workflows.Inc()
	if len(wf.WorkflowClosureReference) > 0 {
		withClosure, err := w.withOffloadedClosure(ctx, wf)
		if err != nil {
			w.metrics.failures.Inc()
			logger.Warnf(ctx, "actor prewarm: workflow %s: %v", wf.GetK8sWorkflowID(), err)
			return
		}
		wf = withClosure
	}
	for _, spec := range environmentsOf(ctx, wf, w.cfg, w.shard, w.cfg.Prewarm.MaxEnvironments) {
		started, err := w.pool.Prewarm(ctx, spec)
		if err != nil {
			w.metrics.failures.Inc()
			logger.Warnf(ctx, "actor prewarm: workflow %s: environment %s: %v", wf.GetK8sWorkflowID(), spec.Key.Name, err)
			continue
		}
		if started {
			w.metrics.environments.Inc()
		}
	}
}

// withOffloadedClosure returns wf with the nodes and tasks flyteadmin offloaded to the blob store.
func (w *prewarmer) withOffloadedClosure(ctx context.Context, wf *v1alpha1.FlyteWorkflow) (*v1alpha1.FlyteWorkflow, error) {
	store, err := w.store()
	if err != nil {
		return nil, fmt.Errorf("open the blob store: %w", err)
	}
	closure := &admin.WorkflowClosure{}
	if err := store.ReadProtobuf(ctx, wf.WorkflowClosureReference, closure); err != nil {
		return nil, fmt.Errorf("read its closure %s: %w", wf.WorkflowClosureReference, err)
	}
	fields, err := k8s.BuildWfClosureCrdFields(closure.GetCompiledWorkflow())
	if err != nil {
		return nil, fmt.Errorf("its closure %s: %w", wf.WorkflowClosureReference, err)
	}
	wf = wf.DeepCopy()
	wf.WorkflowSpec, wf.Tasks, wf.SubWorkflows = fields.WorkflowSpec, fields.Tasks, fields.SubWorkflows
	return wf, nil
}

// environmentsOf returns the environments of wf's actor task nodes (its subworkflows' and its map tasks'
// too), each once, as the nodes' first attempts will build them, at most limit of them, in node order. A
// node whose environment cannot be built is skipped: its own attempt reports why.
func environmentsOf(ctx context.Context, wf *v1alpha1.FlyteWorkflow, cfg *Config, shard string, limit int) []actorpool.EnvironmentSpec {
	actorTypes := actorTaskTypes(taskconfig.GetConfig().TaskPlugins.DefaultForTaskTypes)
	var specs []actorpool.EnvironmentSpec
	seen := map[string]bool{}
	// A map task or a fan-out names one task from many nodes; building the same task again per node
	// would cost the watch its speed, so each task and the overrides that shape it is read once.
	read := map[string]bool{}
	for _, node := range taskNodesOf(wf) {
		if len(specs) >= limit {
			break
		}
		task, ok := wf.Tasks[*node.GetTaskID()]
		if !ok || task.CoreTask() == nil || !slices.Contains(actorTypes, task.CoreTask().GetType()) {
			continue
		}
		variant := taskVariantOf(wf, node)
		if read[variant] {
			continue
		}
		read[variant] = true
		t, err := newTask(ctx, newFirstAttemptContext(wf, node, task.CoreTask()), cfg, shard)
		if err != nil {
			logger.Debugf(ctx, "actor prewarm: workflow %s, node %s: %v", wf.GetK8sWorkflowID(), node.GetID(), err)
			continue
		}
		if id := t.Environment.Key.ID(); !seen[id] {
			seen[id] = true
			specs = append(specs, t.Environment)
		}
	}
	return specs
}

// taskVariantOf names what decides a node's environment besides its workflow: its task and the
// node's overrides. Nodes with the same variant land in the same environment.
func taskVariantOf(wf *v1alpha1.FlyteWorkflow, node *v1alpha1.NodeSpec) string {
	interruptible := wf.IsInterruptible()
	if node.IsInterruptible() != nil {
		interruptible = *node.IsInterruptible()
	}
	shape, err := json.Marshal(struct {
		Task              string
		Interruptible     bool
		Resources         any
		ExtendedResources any
		ContainerImage    string
		Config            any
		PodTemplate       any
	}{*node.GetTaskID(), interruptible, node.GetResources(), node.GetExtendedResources(),
		node.GetContainerImage(), node.GetConfig(), node.GetPodTemplate()})
	if err != nil {
		return node.GetID() // cannot be compared with another node: read it on its own
	}
	return string(shape)
}

// taskNodesOf returns the task nodes of wf, its subworkflows and its map tasks (array nodes' sub-node),
// the workflow's own first, each group in node id order.
func taskNodesOf(wf *v1alpha1.FlyteWorkflow) []*v1alpha1.NodeSpec {
	var nodes []*v1alpha1.NodeSpec
	add := func(spec *v1alpha1.WorkflowSpec) {
		if spec == nil {
			return
		}
		for _, id := range slices.Sorted(maps.Keys(spec.Nodes)) {
			node := spec.Nodes[id]
			if node.GetKind() == v1alpha1.NodeKindArray && node.ArrayNode != nil {
				node = node.ArrayNode.SubNodeSpec
			}
			if node != nil && node.GetKind() == v1alpha1.NodeKindTask && node.GetTaskID() != nil {
				nodes = append(nodes, node)
			}
		}
	}
	add(wf.WorkflowSpec)
	for _, id := range slices.Sorted(maps.Keys(wf.SubWorkflows)) {
		add(wf.SubWorkflows[id])
	}
	return nodes
}

// actorTaskTypes returns the task types FlytePropeller hands this plugin: those
// tasks.task-plugins.default-for-task-types maps to it, and those it registers that are not mapped to
// another plugin.
func actorTaskTypes(defaults map[string]string) []string {
	var types []string
	for taskType, plugin := range defaults {
		if plugin == pluginID {
			types = append(types, taskType)
		}
	}
	for _, taskType := range []string{taskTypeActor, taskTypeFastTask} {
		if plugin, mapped := defaults[taskType]; !mapped || plugin == pluginID {
			if !slices.Contains(types, taskType) {
				types = append(types, taskType)
			}
		}
	}
	return types
}

// workflowSelector selects the FlyteWorkflows this FlytePropeller runs, as its own informer does
// (controller.SharedInformerOptions): not completed, and in its shard (propeller.include- and exclude-
// shard-key, project and domain labels).
func workflowSelector(cfg *propellerconfig.Config) string {
	// controller.IgnoreCompletedWorkflowsLabelSelector, whose package would bring all of propeller's
	// controller into the plugin's dependencies.
	selector := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "termination-status", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"terminated"}},
	}}
	for _, s := range []struct {
		label  string
		op     metav1.LabelSelectorOperator
		values []string
	}{
		{k8s.ShardKeyLabel, metav1.LabelSelectorOpIn, cfg.IncludeShardKeyLabel},
		{k8s.ShardKeyLabel, metav1.LabelSelectorOpNotIn, cfg.ExcludeShardKeyLabel},
		{k8s.ProjectLabel, metav1.LabelSelectorOpIn, cfg.IncludeProjectLabel},
		{k8s.ProjectLabel, metav1.LabelSelectorOpNotIn, cfg.ExcludeProjectLabel},
		{k8s.DomainLabel, metav1.LabelSelectorOpIn, cfg.IncludeDomainLabel},
		{k8s.DomainLabel, metav1.LabelSelectorOpNotIn, cfg.ExcludeDomainLabel},
	} {
		if len(s.values) > 0 {
			selector.MatchExpressions = append(selector.MatchExpressions,
				metav1.LabelSelectorRequirement{Key: s.label, Operator: s.op, Values: s.values})
		}
	}
	return metav1.FormatLabelSelector(selector)
}
