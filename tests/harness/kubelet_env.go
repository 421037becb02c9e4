package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// errConfig marks a container whose environment names a Secret or ConfigMap (or a key) that does not
// exist: the kubelet's CreateContainerConfigError, which heals once it exists.
var errConfig = errors.New("container config")

// command resolves how container c runs in image img: its argv (the executable found on the image's
// PATH, or an image file or volume path named absolutely) and its environment (the image's, then the
// container's, resolved as a kubelet would), with volume mount paths mapped to their folders.
func (k *Kubelet) command(ctx context.Context, pod *corev1.Pod, c *corev1.Container, img Image, mounts map[string]string) ([]string, []string, error) {
	argv := append(append([]string{}, c.Command...), c.Args...)
	if len(argv) == 0 {
		return nil, nil, errors.New("container has no command: a local kubelet cannot know an image's entrypoint")
	}
	env := append([]string{}, img.Env...)
	for _, v := range c.Env {
		value := v.Value
		if src := v.ValueFrom; src != nil {
			var err error
			if value, err = k.resolve(ctx, pod, src); err != nil {
				return nil, nil, fmt.Errorf("%w: env %s: %w", errConfig, v.Name, err)
			}
		}
		env = append(env, v.Name+"="+inMounts(expand(value, env), mounts))
	}
	for i, a := range argv {
		argv[i] = inMounts(a, mounts)
	}
	path, err := lookPath(inImage(argv[0], img, mounts), env)
	if err != nil {
		return nil, nil, err
	}
	argv[0] = path
	return argv, env, nil
}

// inMounts maps the volume mount paths in s (a whole argument or variable that names a path under one)
// to their folders.
func inMounts(s string, mounts map[string]string) string {
	if strings.HasPrefix(s, "/") {
		return inImage(s, Image{}, mounts)
	}
	return s
}

func (k *Kubelet) resolve(ctx context.Context, pod *corev1.Pod, src *corev1.EnvVarSource) (string, error) {
	switch {
	case src.FieldRef != nil:
		switch src.FieldRef.FieldPath {
		case "metadata.name":
			return pod.Name, nil
		case "metadata.namespace":
			return pod.Namespace, nil
		case "metadata.uid":
			return string(pod.UID), nil
		case "status.podIP", "status.hostIP":
			return "127.0.0.1", nil
		case "spec.serviceAccountName":
			return pod.Spec.ServiceAccountName, nil
		case "spec.nodeName":
			return NodeName, nil
		}
		return "", fmt.Errorf("field %s is not supported by the local kubelet", src.FieldRef.FieldPath)
	case src.SecretKeyRef != nil:
		s, err := k.client.CoreV1().Secrets(pod.Namespace).Get(ctx, src.SecretKeyRef.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("secret %q not found", src.SecretKeyRef.Name)
		}
		if err != nil {
			return "", err
		}
		v, ok := s.Data[src.SecretKeyRef.Key]
		if !ok {
			return "", fmt.Errorf("couldn't find key %s in Secret %s/%s", src.SecretKeyRef.Key, pod.Namespace, src.SecretKeyRef.Name)
		}
		return string(v), nil
	case src.ConfigMapKeyRef != nil:
		cm, err := k.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, src.ConfigMapKeyRef.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("configmap %q not found", src.ConfigMapKeyRef.Name)
		}
		if err != nil {
			return "", err
		}
		return cm.Data[src.ConfigMapKeyRef.Key], nil
	}
	return "", errors.New("value source not supported by the local kubelet")
}

func primaryContainer(pod *corev1.Pod) *corev1.Container {
	if name := pod.Annotations[primaryContainerAnnotation]; name != "" {
		for i := range pod.Spec.Containers {
			if pod.Spec.Containers[i].Name == name {
				return &pod.Spec.Containers[i]
			}
		}
	}
	if len(pod.Spec.Containers) == 0 {
		return nil
	}
	return &pod.Spec.Containers[0]
}

// lookPath finds name on the PATH of env, as the container's runtime would.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := ""
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			path = strings.TrimPrefix(kv, "PATH=")
		}
	}
	for _, dir := range filepath.SplitList(path) {
		candidate := filepath.Join(dir, name)
		if info, err := os.Stat(candidate); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("executable %q not found on the image's PATH %q", name, path)
}

// expand replaces $(VAR) references with earlier values, as Kubernetes does.
func expand(value string, env []string) string {
	if !strings.Contains(value, "$(") {
		return value
	}
	for i := len(env) - 1; i >= 0; i-- {
		name, v, _ := strings.Cut(env[i], "=")
		value = strings.ReplaceAll(value, "$("+name+")", v)
	}
	return value
}
