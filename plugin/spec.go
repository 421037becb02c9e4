package plugin

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
)

// environmentType is ExecutionEnv.type of actor environments.
const environmentType = "actor"

// maxEnvironmentNameLength bounds an environment's name: Union's SDK asks for a DNS subdomain, which is at
// most this long. (Kubernetes objects do not carry the name as it is: kubepods maps it to valid names.)
const maxEnvironmentNameLength = validation.DNS1123SubdomainMaxLength

// defaultPrimaryContainerName names the primary container of an environment's pod template when
// spec.primary_container_name is not given: flytekit's default for a PodTemplate.
const defaultPrimaryContainerName = "primary"

// flytePrimaryTemplateName is the name Flyte gives the primary container's template in a PodTemplate
// (flytek8s.MergeBasePodSpecOntoTemplate); "default" is the template of every container.
const flytePrimaryTemplateName = "primary"

// actorEnvironment is an actor task's ExecutionEnv, decoded and validated.
type actorEnvironment struct {
	Name    string
	Version string
	Spec    actorSpec
}

// actorSpec is ExecutionEnv.spec of an actor environment, as Union's SDK, Flyte 2's SDK and flyteactors write
// it (docs/architecture.md, python/, gives the shape).
type actorSpec struct {
	ReplicaCount         int
	Parallelism          int
	BacklogLength        int
	TTLSeconds           *int
	MinReplicaCount      *int
	ScaledownTTLSeconds  *int
	ContainerImage       string
	PrimaryContainerName string
	PodTemplateSpec      *corev1.PodTemplateSpec
}

// parseEnvironment decodes and validates the ExecutionEnv in an actor task's custom field. Its errors
// name the field that is wrong and say what is wrong with it.
func parseEnvironment(custom *structpb.Struct) (actorEnvironment, error) {
	if custom == nil || len(custom.GetFields()) == 0 {
		return actorEnvironment{}, fmt.Errorf("task custom: missing; an actor task carries its ExecutionEnv there")
	}
	raw, err := protojson.Marshal(custom)
	if err != nil {
		return actorEnvironment{}, fmt.Errorf("task custom: %w", err)
	}
	var env idlcore.ExecutionEnv
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, &env); err != nil {
		return actorEnvironment{}, fmt.Errorf("task custom: not an ExecutionEnv: %w", err)
	}
	switch {
	case env.GetName() == "":
		return actorEnvironment{}, fmt.Errorf("execution env name: must not be empty")
	case len(env.GetName()) > maxEnvironmentNameLength:
		return actorEnvironment{}, fmt.Errorf("execution env name: must be at most %d characters, got %d",
			maxEnvironmentNameLength, len(env.GetName()))
	case env.GetType() != environmentType:
		return actorEnvironment{}, fmt.Errorf("execution env type: must be %q, got %q", environmentType, env.GetType())
	case env.GetExtant() != nil:
		return actorEnvironment{}, fmt.Errorf("execution env extant: references to existing environments are not supported; define the environment (spec) on the task")
	case env.GetSpec() == nil:
		return actorEnvironment{}, fmt.Errorf("execution env spec: missing")
	}
	spec, err := parseSpec(env.GetSpec().AsMap())
	if err != nil {
		return actorEnvironment{}, err
	}
	return actorEnvironment{Name: env.GetName(), Version: env.GetVersion(), Spec: spec}, nil
}

func parseSpec(fields map[string]any) (actorSpec, error) {
	s := specReader{fields: fields}
	spec := actorSpec{
		ReplicaCount:         s.int("replica_count", "replicaCount", 1, 1),
		Parallelism:          s.int("parallelism", "parallelism", 1, 0),
		BacklogLength:        s.int("backlog_length", "backlogLength", 0, 0),
		TTLSeconds:           s.optionalInt("ttl_seconds", "ttlSeconds", 0),
		MinReplicaCount:      s.optionalInt("min_replica_count", "minReplicaCount", 0),
		ScaledownTTLSeconds:  s.optionalInt("scaledown_ttl_seconds", "scaledownTtlSeconds", 0),
		ContainerImage:       s.string("container_image", "containerImage"),
		PrimaryContainerName: s.string("primary_container_name", "primaryContainerName"),
		PodTemplateSpec:      s.podTemplate("pod_template_spec", "podTemplateSpec"),
	}
	if s.err != nil {
		return actorSpec{}, s.err
	}
	if spec.Parallelism == 0 {
		spec.Parallelism = 1
	}
	if spec.MinReplicaCount != nil && *spec.MinReplicaCount > spec.ReplicaCount {
		return actorSpec{}, fmt.Errorf("execution env spec.min_replica_count: %d is more than replica_count %d",
			*spec.MinReplicaCount, spec.ReplicaCount)
	}
	if spec.PodTemplateSpec != nil {
		if spec.PrimaryContainerName == "" {
			spec.PrimaryContainerName = defaultPrimaryContainerName
		}
		if err := validatePodTemplate(spec.PodTemplateSpec, spec.PrimaryContainerName); err != nil {
			return actorSpec{}, err
		}
	}
	return spec, nil
}

// validatePodTemplate checks what of an environment's pod template the API server would refuse in every
// executor pod (names, labels, annotations), so that the task fails with the reason instead of waiting for
// executors that can never be created, and that the template has its primary container.
func validatePodTemplate(pts *corev1.PodTemplateSpec, primary string) error {
	if errs := validation.IsDNS1123Label(primary); len(errs) > 0 {
		return fmt.Errorf("execution env spec.primary_container_name: %q is not a container name: %s", primary, errs[0])
	}
	names := map[string]bool{}
	for _, c := range slices.Concat(pts.Spec.InitContainers, pts.Spec.Containers) {
		if errs := validation.IsDNS1123Label(c.Name); len(errs) > 0 {
			return fmt.Errorf("execution env spec.pod_template_spec: container name %q: %s", c.Name, errs[0])
		}
		if names[c.Name] {
			return fmt.Errorf("execution env spec.pod_template_spec: two containers are named %q", c.Name)
		}
		names[c.Name] = true
	}
	if !slices.ContainsFunc(pts.Spec.Containers, func(c corev1.Container) bool { return c.Name == primary }) {
		return fmt.Errorf("execution env spec.pod_template_spec: has no container named %q, the primary container "+
			"(spec.primary_container_name)", primary)
	}
	if primary != flytePrimaryTemplateName && names[flytePrimaryTemplateName] {
		return fmt.Errorf("execution env spec.pod_template_spec: a container named %q would be taken for the primary "+
			"container's template, but the primary container is %q (spec.primary_container_name)",
			flytePrimaryTemplateName, primary)
	}
	meta := field.NewPath("execution env spec.pod_template_spec", "metadata")
	errs := append(metavalidation.ValidateLabels(pts.Labels, meta.Child("labels")),
		apivalidation.ValidateAnnotations(pts.Annotations, meta.Child("annotations"))...)
	return errs.ToAggregate()
}

// specReader reads fields of a spec under either protobuf JSON name, keeping the first error.
type specReader struct {
	fields map[string]any
	err    error
}

func (r *specReader) lookup(snake, camel string) (any, bool) {
	if v, ok := r.fields[snake]; ok && v != nil {
		return v, true
	}
	v, ok := r.fields[camel]
	return v, ok && v != nil
}

func (r *specReader) fail(field, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("execution env spec.%s: %s", field, fmt.Sprintf(format, args...))
	}
}

func (r *specReader) int(snake, camel string, def, min int) int {
	v := r.optionalInt(snake, camel, min)
	if v == nil {
		return def
	}
	return *v
}

func (r *specReader) optionalInt(snake, camel string, min int) *int {
	v, ok := r.lookup(snake, camel)
	if !ok {
		return nil
	}
	if wrapper, isWrapper := v.(map[string]any); isWrapper {
		// A wrapper (Int32Value) written as an object.
		v = wrapper["value"]
	}
	var n float64
	switch x := v.(type) {
	case float64:
		n = x
	case string: // protobuf JSON allows integers as strings
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			r.fail(snake, "must be an integer, got %q", x)
			return nil
		}
		n = f
	default:
		r.fail(snake, "must be an integer, got %v (%T)", v, v)
		return nil
	}
	if n != math.Trunc(n) || n > math.MaxInt32 || n < math.MinInt32 {
		r.fail(snake, "must be a 32-bit integer, got %v", n)
		return nil
	}
	if int(n) < min {
		r.fail(snake, "must be at least %d, got %d", min, int(n))
		return nil
	}
	out := int(n)
	return &out
}

func (r *specReader) string(snake, camel string) string {
	v, ok := r.lookup(snake, camel)
	if !ok {
		return ""
	}
	s, isString := v.(string)
	if !isString {
		r.fail(snake, "must be a string, got %v (%T)", v, v)
	}
	return s
}

// podTemplate reads a PodTemplateSpec encoded as JSON and then base64 (protobuf JSON of bytes).
func (r *specReader) podTemplate(snake, camel string) *corev1.PodTemplateSpec {
	encoded := r.string(snake, camel)
	if encoded == "" {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		if raw, err = base64.URLEncoding.DecodeString(encoded); err != nil {
			r.fail(snake, "must be base64, got %d characters that are not: %v", len(encoded), err)
			return nil
		}
	}
	var pts corev1.PodTemplateSpec
	if err := json.Unmarshal(raw, &pts); err != nil {
		r.fail(snake, "must be a Kubernetes PodTemplateSpec in JSON: %v", err)
		return nil
	}
	return &pts
}
