package chart

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/kubepods"
	"github.com/flyteactors/flyteactors/tests/harness"
)

// TestPoolRBACIsEnoughAndNoMore runs the pool's Kubernetes side (kubepods, the code propeller runs) as
// propeller's ServiceAccount against a kube-apiserver that authorizes by RBAC and enforces Pod Security,
// with the chart's ClusterRole and Role bound to it: one environment's whole life (TLS Secret, the
// pool's published endpoint, anchor, executor pods in a namespace that enforces the restricted
// standard, their watch, events, discovery after a restart, deletion) must work. Then, for every verb
// of every rule, roles without that one verb must make that life fail: the rules are the smallest that
// work. Watch is the one verb checked on its own: without it client-go's informer lists again and
// again, so the pool still sees its pods, late and at the price of a LIST of executor pods every few
// seconds.
func TestPoolRBACIsEnoughAndNoMore(t *testing.T) {
	cfg, err := harness.StartAPIServer(t)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// The admin polls for events and access reviews: lift client-go's default 5 requests a second.
	adminConfig := rest.CopyConfig(cfg)
	adminConfig.QPS, adminConfig.Burst = 100, 200
	admin := kubernetes.NewForConfigOrDie(adminConfig)
	r := render(t, defaultRelease, requiredValues())
	var chartRoles poolRoles
	for _, o := range []struct {
		kind, name string
		into       any
	}{{"ClusterRole", "flyte-actors-pool", &chartRoles.cluster}, {"Role", "flyte-actors-pool-endpoint", &chartRoles.endpoint}} {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(r.Object(o.kind, o.name).Object, o.into); err != nil {
			t.Fatal(err)
		}
	}
	createNamespace(ctx, t, admin, defaultRelease.Namespace)

	t.Run("the chart's roles", func(t *testing.T) {
		account := "flytepropeller"
		createNamespace(ctx, t, admin, "tasks-full-role", "pod-security.kubernetes.io/enforce", "restricted")
		bindRoles(ctx, t, admin, account, chartRoles)
		if err := poolLife(ctx, admin, impersonating(t, cfg, defaultRelease.Namespace, account), "tasks-full-role", 20*time.Second); err != nil {
			t.Fatalf("the pool cannot work under the chart's roles: %v", err)
		}
	})
	if t.Failed() {
		return
	}

	for _, which := range []string{"ClusterRole", "Role"} {
		role := &chartRoles.cluster.Rules
		if which == "Role" {
			role = &chartRoles.endpoint.Rules
		}
		for i, rule := range *role {
			for _, verb := range rule.Verbs {
				name := fmt.Sprintf("without %s %s", verb, strings.Join(rule.Resources, ","))
				t.Run(name, func(t *testing.T) {
					account := fmt.Sprintf("propeller-%s-%d-%s", strings.ToLower(which), i, verb)
					namespace := "tasks-" + account
					createNamespace(ctx, t, admin, namespace, "pod-security.kubernetes.io/enforce", "restricted")
					smaller := chartRoles.deepCopy()
					rules := &smaller.cluster.Rules
					if which == "Role" {
						rules = &smaller.endpoint.Rules
					}
					(*rules)[i].Verbs = slices.DeleteFunc((*rules)[i].Verbs, func(v string) bool { return v == verb })
					if len((*rules)[i].Verbs) == 0 {
						*rules = slices.Delete(*rules, i, i+1)
					}
					bindRoles(ctx, t, admin, account, smaller)
					client := impersonating(t, cfg, defaultRelease.Namespace, account)
					if verb == "watch" {
						_, err := client.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{LabelSelector: kubepods.LabelRole + "=" + kubepods.RoleExecutor})
						if !apierrors.IsForbidden(err) {
							t.Fatalf("watch of executor pods without the watch verb: %v, want forbidden", err)
						}
						return
					}
					err := poolLife(ctx, admin, client, namespace, 5*time.Second)
					if err == nil {
						t.Fatalf("the pool works without %s on %v: the chart's %s grants more than it needs", verb, rule.Resources, which)
					}
					// A refusal must be of the verb taken away (the background work, events and the
					// watch, shows as a wait that timed out instead).
					if strings.Contains(err.Error(), "forbidden") &&
						!strings.Contains(err.Error(), fmt.Sprintf("cannot %s resource %q", verb, rule.Resources[0])) {
						t.Fatalf("the pool failed on something else than %s %v: %v", verb, rule.Resources, err)
					}
					t.Logf("as expected: %v", err)
				})
			}
		}
	}
}

// poolRoles are the chart's two roles: cluster-wide, and in propeller's namespace for its endpoint.
type poolRoles struct {
	cluster  rbacv1.ClusterRole
	endpoint rbacv1.Role
}

func (r poolRoles) deepCopy() poolRoles {
	return poolRoles{cluster: *r.cluster.DeepCopy(), endpoint: *r.endpoint.DeepCopy()}
}

// bindRoles creates roles under account's name and binds them to the ServiceAccount account in the
// release's namespace, then waits until the API server grants what they say.
func bindRoles(ctx context.Context, t *testing.T, admin kubernetes.Interface, account string, roles poolRoles) {
	t.Helper()
	ns := defaultRelease.Namespace
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: account, Namespace: ns}}
	cluster := roles.cluster.DeepCopy()
	cluster.ObjectMeta = metav1.ObjectMeta{Name: account}
	endpoint := roles.endpoint.DeepCopy()
	endpoint.ObjectMeta = metav1.ObjectMeta{Name: account, Namespace: ns}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, cluster, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: account},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: account},
		Subjects:   subjects,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, endpoint, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: account, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: account},
		Subjects:   subjects,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntilAuthorized(ctx, t, admin, ns, account, cluster.Rules, "")
	waitUntilAuthorized(ctx, t, admin, ns, account, endpoint.Rules, ns)
}

// poolLife runs one environment's life through kubepods with client (propeller's identity) in
// namespace, with admin playing the kubelet; it returns the first step that failed. waitFor bounds
// each wait for something the pool does in the background (the watch, events).
func poolLife(ctx context.Context, admin, client kubernetes.Interface, namespace string, waitFor time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Auto TLS: the Secret is made, then re-issued for a new address.
	tlsSecret := "tls-" + namespace
	bundle, err := kubepods.EnsureServerCertificate(ctx, client, defaultRelease.Namespace, tlsSecret, "flyte-actors.flyte.svc.cluster.local")
	if err != nil {
		return fmt.Errorf("TLS secret: %w", err)
	}
	if _, err := kubepods.EnsureServerCertificate(ctx, client, defaultRelease.Namespace, tlsSecret, "actors.flyte.svc.cluster.local"); err != nil {
		return fmt.Errorf("TLS secret re-issued: %w", err)
	}

	// The leader's pool publishes itself on the Service executors dial; a shard's makes the Service too.
	endpoint := kubepods.Endpoint{Namespace: defaultRelease.Namespace, Service: "flyte-actors-" + namespace, Address: "10.0.0.7",
		Ports: []kubepods.EndpointPort{{Name: "grpc-executor", Port: 8089}}}
	if err := kubepods.PublishEndpoint(ctx, client, endpoint); err != nil {
		return err
	}
	endpoint.Address = "10.0.0.8" // the next leader
	if err := kubepods.PublishEndpoint(ctx, client, endpoint); err != nil {
		return fmt.Errorf("publish again: %w", err)
	}

	cluster := kubepods.New(client, kubepods.Options{PoolAddress: "flyte-actors.flyte.svc.cluster.local:8089", CA: bundle.CACert})
	defer cluster.Close()
	states := make(chan actorpool.ExecutorPodState, 64)
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- cluster.WatchExecutorPods(ctx, func(s actorpool.ExecutorPodState) { states <- s })
	}()

	spec := environmentSpec(namespace)
	if _, err := cluster.EnsureEnvironment(ctx, spec, spec.Replicas); err != nil {
		return fmt.Errorf("ensure environment: %w", err)
	}
	pod, err := waitForState(states, waitFor, func(s actorpool.ExecutorPodState) bool { return s.Namespace == namespace && !s.Ended })
	if err != nil {
		return fmt.Errorf("watch executor pods (list): %w", err)
	}

	// The kubelet reports the executor failed, twice: the watch sees it and records it on the anchor,
	// the second time by patching the same event.
	for attempt := 1; attempt <= 2; attempt++ {
		if err := failPod(ctx, admin, namespace, pod.Pod, attempt); err != nil {
			return err
		}
		if _, err := waitForState(states, waitFor, func(s actorpool.ExecutorPodState) bool { return s.Pod == pod.Pod && s.Ended }); err != nil {
			return fmt.Errorf("watch executor pods (watch): %w", err)
		}
		if err := waitForEvent(ctx, admin, namespace, kubepods.EventExecutorPodProblem, int32(attempt), waitFor); err != nil {
			return err
		}
	}

	// A restarted pool finds the environment, replaces the ended pod, and deletes it all when idle.
	found, err := cluster.DiscoverEnvironments(ctx)
	if err != nil {
		return fmt.Errorf("discover environments: %w", err)
	}
	if !slices.ContainsFunc(found, func(d actorpool.DiscoveredEnvironment) bool { return d.ID == spec.Key.ID() && d.Secret != "" }) {
		return fmt.Errorf("discover environments: %s not found in %+v", spec.Key.ID(), found)
	}
	// It grows by one executor for a burst, and removes it again when idle (scaled down).
	if _, err := cluster.EnsureEnvironment(ctx, spec, spec.Replicas+1); err != nil {
		return fmt.Errorf("ensure environment after its pod ended: %w", err)
	}
	pods, err := admin.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	if len(pods.Items) == 0 {
		return fmt.Errorf("ensure environment made no pods")
	}
	if err := cluster.RemoveExecutor(ctx, namespace, pods.Items[0].Name); err != nil {
		return fmt.Errorf("remove an idle executor: %w", err)
	}
	if err := cluster.DeleteEnvironment(ctx, namespace, spec.Key.ID()); err != nil {
		return fmt.Errorf("delete environment: %w", err)
	}
	left, err := admin.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	if len(left.Items) != 0 {
		return fmt.Errorf("delete environment left %d pods", len(left.Items))
	}
	cancel()
	return <-watchDone
}

func environmentSpec(namespace string) actorpool.EnvironmentSpec {
	return actorpool.EnvironmentSpec{
		Key:      actorpool.EnvironmentKey{Namespace: namespace, Project: "p", Domain: "d", Name: "rbac", Version: "v1", PodHash: "h"},
		Replicas: 1, Slots: 1, TTL: time.Minute,
		Pod: &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "actor", Image: "python:3.11", Command: []string{"actor-executor"}},
		}}},
		PrimaryContainer: "actor",
	}
}

// failPod writes the status a kubelet writes when the pod's container exits with an error.
func failPod(ctx context.Context, admin kubernetes.Interface, namespace, name string, attempt int) error {
	pod, err := admin.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	pod.Status.Phase = corev1.PodFailed
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "actor", Image: "python:3.11",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}},
	}}
	// A new condition time makes a second update differ from the first, as a kubelet's would.
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse,
		LastTransitionTime: metav1.NewTime(time.Now().Add(time.Duration(attempt) * time.Second))}}
	_, err = admin.CoreV1().Pods(namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	return err
}

var errTimeout = errors.New("timed out")

func waitForState(states <-chan actorpool.ExecutorPodState, timeout time.Duration, match func(actorpool.ExecutorPodState) bool) (actorpool.ExecutorPodState, error) {
	deadline := time.After(timeout)
	for {
		select {
		case s := <-states:
			if match(s) {
				return s, nil
			}
		case <-deadline:
			return actorpool.ExecutorPodState{}, fmt.Errorf("no matching executor pod state in %s: %w", timeout, errTimeout)
		}
	}
}

// waitForEvent waits until an event with reason in namespace has been seen count times.
func waitForEvent(ctx context.Context, admin kubernetes.Interface, namespace, reason string, count int32, timeout time.Duration) error {
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		events, err := admin.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range events.Items {
			if e.Reason == reason && e.Count >= count {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("event %s seen %d times: %w", reason, count, err)
	}
	return nil
}

// waitUntilAuthorized waits until the API server's RBAC authorizer, which learns of roles and bindings
// from its own informers a moment after they are created, grants the ServiceAccount every verb of rules
// (in namespace, or cluster-wide for "").
func waitUntilAuthorized(ctx context.Context, t *testing.T, admin kubernetes.Interface, saNamespace, name string, rules []rbacv1.PolicyRule, namespace string) {
	t.Helper()
	user := fmt.Sprintf("system:serviceaccount:%s:%s", saNamespace, name)
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, rule := range rules {
			for _, verb := range rule.Verbs {
				review, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
					Spec: authorizationv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: &authorizationv1.ResourceAttributes{
						Namespace: namespace, Verb: verb, Resource: rule.Resources[0], Group: rule.APIGroups[0]}},
				}, metav1.CreateOptions{})
				if err != nil || !review.Status.Allowed {
					return false, err
				}
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("%s is not granted its roles in time: %v", user, err)
	}
}
