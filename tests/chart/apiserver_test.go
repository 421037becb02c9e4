package chart

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"

	"github.com/flyteactors/flyteactors/tests/harness"
)

// TestManifestsAcceptedByAPIServer creates everything the chart renders, with default values and with
// the full values file, in a real kube-apiserver that validates strictly (an unknown or misplaced
// field is an error, not silently dropped). The ServiceMonitor needs prometheus-operator's CRD, which
// this test installs as a schemaless CRD and compensates by decoding the ServiceMonitor strictly into
// prometheus-operator's own Go type.
func TestManifestsAcceptedByAPIServer(t *testing.T) {
	cfg, err := harness.StartAPIServer(t)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	kube := kubernetes.NewForConfigOrDie(cfg)
	installServiceMonitorCRD(ctx, t, cfg)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(kube.Discovery()))
	client := dynamic.NewForConfigOrDie(cfg)

	for _, c := range []struct {
		release Release
		values  map[string]any
	}{{defaultRelease, requiredValues()}, {Release{Name: "actors", Namespace: "flyte-system"}, fullValues(t)}} {
		createNamespace(ctx, t, kube, c.release.Namespace)
		// The dashboard goes where Grafana's sidecar looks, which may be another namespace.
		dashboardNamespace, _, _ := unstructured.NestedString(c.values, "dashboard", "namespace")
		if dashboardNamespace != "" {
			createNamespace(ctx, t, kube, dashboardNamespace)
		}
		r := render(t, c.release, c.values)
		for _, obj := range r.Objects {
			gvk := obj.GroupVersionKind()
			mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				t.Fatalf("%s: %v", gvk, err)
			}
			resource := client.Resource(mapping.Resource)
			var target dynamic.ResourceInterface = resource
			if mapping.Scope.Name() == "namespace" {
				if want := c.release.Namespace; obj.GetNamespace() != want && !(strings.HasSuffix(obj.GetName(), "-dashboard") && obj.GetNamespace() == dashboardNamespace) {
					t.Errorf("%s/%s: namespace %q, want the release's %q", obj.GetKind(), obj.GetName(), obj.GetNamespace(), c.release.Namespace)
				}
				target = resource.Namespace(obj.GetNamespace())
			}
			if _, err := target.Create(ctx, obj, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil {
				t.Errorf("create %s/%s: %v", obj.GetKind(), obj.GetName(), err)
			}
			if gvk.Kind == "ServiceMonitor" {
				decodeServiceMonitorStrictly(t, obj)
			}
		}
	}
}

func createNamespace(ctx context.Context, t *testing.T, kube kubernetes.Interface, name string, labels ...string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	for i := 0; i+1 < len(labels); i += 2 {
		ns.Labels[labels[i]] = labels[i+1]
	}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// installServiceMonitorCRD serves monitoring.coreos.com/v1 ServiceMonitors, as a cluster with
// prometheus-operator does, without their schema (see decodeServiceMonitorStrictly).
func installServiceMonitorCRD(ctx context.Context, t *testing.T, cfg *rest.Config) {
	t.Helper()
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "servicemonitors.monitoring.coreos.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "monitoring.coreos.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "servicemonitors", Singular: "servicemonitor", Kind: "ServiceMonitor", ListKind: "ServiceMonitorList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", XPreserveUnknownFields: ptr.To(true)},
					},
				}},
			}},
		},
	}
	if err := harness.InstallCRD(ctx, cfg, crd); err != nil {
		t.Fatalf("ServiceMonitor CRD: %v", err)
	}
}

// decodeServiceMonitorStrictly decodes obj into prometheus-operator's ServiceMonitor type, refusing
// fields the type does not have.
func decodeServiceMonitorStrictly(t *testing.T, obj *unstructured.Unstructured) {
	t.Helper()
	raw, err := json.Marshal(obj.Object)
	if err != nil {
		t.Fatal(err)
	}
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.DisallowUnknownFields()
	var monitor monitoringv1.ServiceMonitor
	if err := decoder.Decode(&monitor); err != nil {
		t.Fatalf("ServiceMonitor does not match prometheus-operator's type: %v", err)
	}
	if len(monitor.Spec.Endpoints) != 1 || monitor.Spec.Endpoints[0].Port != "http-metrics" {
		t.Fatalf("ServiceMonitor endpoints = %+v, want one on port http-metrics", monitor.Spec.Endpoints)
	}
}

// impersonating returns a client that acts as the ServiceAccount namespace/name.
func impersonating(t *testing.T, cfg *rest.Config, namespace, name string) kubernetes.Interface {
	t.Helper()
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: fmt.Sprintf("system:serviceaccount:%s:%s", namespace, name)}
	return kubernetes.NewForConfigOrDie(c)
}
