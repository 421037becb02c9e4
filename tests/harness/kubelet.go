package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// primaryContainerAnnotation is where Flyte's pod plugin names a pod's primary container.
const primaryContainerAnnotation = "primary_container_name"

// Kubelet plays the kubelet for every pod in the API server, since no real one runs: it runs each
// pod's primary container command as a local process, in the "image" the harness describes (a base
// environment and working directory), restarts it as the pod's restart policy says, and writes the
// pod's status back. Deleting a pod kills its process group.
type Kubelet struct {
	t      T
	client kubernetes.Interface
	image  Image

	mu    sync.Mutex // guards procs, started and logs
	procs map[types.UID]*podProcess
	// started lists the pods the kubelet started, as namespace/name.
	started []string
	// logs holds each pod's output lines, by namespace/name.
	logs map[string][]string
	wg   sync.WaitGroup
}

// Image is what a pod's process runs in: the local stand-in for a container image.
type Image struct {
	// Env is the process environment before the container's own variables (PATH, PYTHONPATH, ...).
	Env []string
	// Dir is the process's working directory.
	Dir string
}

type podProcess struct {
	// key is the pod's namespace/name.
	key     string
	cmd     *exec.Cmd
	deleted bool
	exited  chan struct{}
}

// startKubelet starts playing the kubelet until ctx is done.
func startKubelet(ctx context.Context, t T, client kubernetes.Interface, image Image) (*Kubelet, error) {
	k := &Kubelet{t: t, client: client, image: image, procs: map[types.UID]*podProcess{}, logs: map[string][]string{}}
	factory := informers.NewSharedInformerFactory(client, 0)
	informer := factory.Core().V1().Pods().Informer()
	_, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.observe(ctx, obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { k.observe(ctx, obj.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				k.kill(pod.UID)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return nil, errors.New("kubelet: pod informer did not sync")
	}
	return k, nil
}

// StartedPods returns namespace/name of every pod the kubelet started, in order.
func (k *Kubelet) StartedPods() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.started...)
}

// Logs returns the output lines of pod namespace/name so far.
func (k *Kubelet) Logs(pod string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.logs[pod]...)
}

// stop kills every process and waits for them.
func (k *Kubelet) stop() {
	k.mu.Lock()
	for uid := range k.procs {
		k.killLocked(uid)
	}
	k.mu.Unlock()
	k.wg.Wait()
}

func (k *Kubelet) observe(ctx context.Context, pod *corev1.Pod) {
	if pod.DeletionTimestamp != nil {
		k.kill(pod.UID)
		return
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return
	}
	k.mu.Lock()
	if _, ok := k.procs[pod.UID]; ok || ctx.Err() != nil {
		k.mu.Unlock()
		return
	}
	proc := &podProcess{key: pod.Namespace + "/" + pod.Name, exited: make(chan struct{})}
	k.procs[pod.UID] = proc
	k.started = append(k.started, pod.Namespace+"/"+pod.Name)
	k.wg.Add(1)
	k.mu.Unlock()
	go func() {
		defer k.wg.Done()
		k.run(ctx, pod.DeepCopy(), proc)
	}()
}

func (k *Kubelet) kill(uid types.UID) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.killLocked(uid)
}

func (k *Kubelet) killLocked(uid types.UID) {
	p, ok := k.procs[uid]
	if !ok || p.deleted {
		return
	}
	p.deleted = true
	if p.cmd != nil && p.cmd.Process != nil {
		// The whole group: an executor's Python runtimes die with it, as in a container.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// run runs the pod's primary container and records the outcome in the pod's status. A container that
// exits is started again when the pod's restart policy says so (Always; OnFailure after a failure), as a
// kubelet restarts it in place; otherwise the pod ends.
func (k *Kubelet) run(ctx context.Context, pod *corev1.Pod, proc *podProcess) {
	defer close(proc.exited)
	container := primaryContainer(pod)
	if container == nil {
		k.finish(ctx, pod, nil, time.Now(), 1, "no containers")
		return
	}
	argv := append(append([]string{}, container.Command...), container.Args...)
	if len(argv) == 0 {
		k.finish(ctx, pod, container, time.Now(), 1, "container has no command: a local kubelet cannot know an image's entrypoint")
		return
	}
	env, err := k.containerEnv(ctx, pod, container)
	if err != nil {
		k.finish(ctx, pod, container, time.Now(), 1, err.Error())
		return
	}
	path, err := lookPath(argv[0], env)
	if err != nil {
		k.finish(ctx, pod, container, time.Now(), 127, err.Error())
		return
	}
	for restarts := int32(0); ; restarts++ {
		started, code, ok := k.runOnce(ctx, pod, container, proc, path, argv[1:], env, restarts)
		if !ok {
			return
		}
		if !restartsAfter(pod.Spec.RestartPolicy, code) || ctx.Err() != nil {
			k.finish(ctx, pod, container, started, code, "")
			return
		}
		k.t.Logf("[pod %s/%s] kubelet: container exited with %d, restarting it (policy %s)", pod.Namespace, pod.Name, code, pod.Spec.RestartPolicy)
		k.setRestarted(ctx, pod, container, started, code, restarts+1)
	}
}

// restartsAfter tells whether a container that exited with code is started again under policy.
func restartsAfter(policy corev1.RestartPolicy, code int32) bool {
	return policy == corev1.RestartPolicyAlways || (policy == corev1.RestartPolicyOnFailure && code != 0)
}

// runOnce runs the container's process once and returns when it started and its exit code; ok is false
// when the pod was deleted or the process could not start (the outcome is then recorded).
func (k *Kubelet) runOnce(ctx context.Context, pod *corev1.Pod, container *corev1.Container, proc *podProcess,
	path string, args, env []string, restartCount int32) (started time.Time, code int32, ok bool) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Dir = k.image.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	key := pod.Namespace + "/" + pod.Name
	stdout, stderr := k.logWriter(key), k.logWriter(key)
	cmd.Stdout, cmd.Stderr = stdout, stderr

	k.mu.Lock()
	if proc.deleted {
		k.mu.Unlock()
		return time.Time{}, 0, false
	}
	proc.cmd = cmd
	err := cmd.Start()
	k.mu.Unlock()
	if err != nil {
		k.finish(ctx, pod, container, time.Now(), 126, err.Error())
		return time.Time{}, 0, false
	}
	started = time.Now()
	k.setRunning(ctx, pod, container, started, restartCount)
	waitErr := cmd.Wait()
	_ = stdout.Close()
	_ = stderr.Close()
	k.mu.Lock()
	deleted := proc.deleted
	k.mu.Unlock()
	if deleted {
		return started, 0, false
	}
	var exitErr *exec.ExitError
	switch {
	case errors.As(waitErr, &exitErr):
		code = int32(exitErr.ExitCode())
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int32(ws.Signal())
		}
	case waitErr != nil:
		code = 1
	}
	return started, code, true
}

// Crash kills the processes of pod namespace/name (its container) as a crashing container dies, without
// deleting the pod: the pod's restart policy then decides whether its container starts again.
func (k *Kubelet) Crash(pod string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.procs {
		if p.key == pod && !p.deleted && p.cmd != nil && p.cmd.Process != nil {
			return syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	return fmt.Errorf("no running container for pod %s", pod)
}

// logWriter returns a writer that keeps each line as a log line of pod and sends it to the test log.
func (k *Kubelet) logWriter(pod string) io.WriteCloser {
	r, w := io.Pipe()
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		s := bufio.NewScanner(r)
		s.Buffer(make([]byte, 64*1024), 1024*1024)
		for s.Scan() {
			k.mu.Lock()
			k.logs[pod] = append(k.logs[pod], s.Text())
			k.mu.Unlock()
			k.t.Logf("[pod %s] %s", pod, s.Text())
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	return w
}

func (k *Kubelet) setRunning(ctx context.Context, pod *corev1.Pod, c *corev1.Container, started time.Time, restartCount int32) {
	k.updateStatus(ctx, pod, func(s *corev1.PodStatus) {
		s.Phase = corev1.PodRunning
		s.PodIP, s.HostIP = "127.0.0.1", "127.0.0.1"
		s.StartTime = &metav1.Time{Time: started}
		s.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()},
		}
		var last corev1.ContainerState
		if len(s.ContainerStatuses) == 1 {
			last = s.ContainerStatuses[0].LastTerminationState
		}
		s.ContainerStatuses = []corev1.ContainerStatus{{
			Name: c.Name, Image: c.Image, Ready: true, Started: ptr.To(true), RestartCount: restartCount,
			State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Time{Time: started}}},
			LastTerminationState: last,
		}}
	})
}

// setRestarted records that the container exited with code and is being started again.
func (k *Kubelet) setRestarted(ctx context.Context, pod *corev1.Pod, c *corev1.Container, started time.Time, code, restartCount int32) {
	k.updateStatus(ctx, pod, func(s *corev1.PodStatus) {
		reason := "Completed"
		if code != 0 {
			reason = "Error"
		}
		s.ContainerStatuses = []corev1.ContainerStatus{{
			Name: c.Name, Image: c.Image, RestartCount: restartCount,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: code, Reason: reason, StartedAt: metav1.Time{Time: started}, FinishedAt: metav1.Now(),
			}},
		}}
	})
}

func (k *Kubelet) finish(ctx context.Context, pod *corev1.Pod, c *corev1.Container, started time.Time, code int32, message string) {
	if message != "" {
		k.t.Logf("[pod %s/%s] kubelet: %s", pod.Namespace, pod.Name, message)
	}
	k.updateStatus(ctx, pod, func(s *corev1.PodStatus) {
		s.Phase = corev1.PodSucceeded
		reason := "Completed"
		if code != 0 {
			s.Phase, reason = corev1.PodFailed, "Error"
		}
		s.Message = message
		s.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()},
			{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "PodCompleted", LastTransitionTime: metav1.Now()},
		}
		if c != nil {
			s.ContainerStatuses = []corev1.ContainerStatus{{
				Name: c.Name, Image: c.Image,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: code, Reason: reason, Message: message,
					StartedAt: metav1.Time{Time: started}, FinishedAt: metav1.Now(),
				}},
			}}
		}
	})
}

func (k *Kubelet) updateStatus(ctx context.Context, pod *corev1.Pod, mutate func(*corev1.PodStatus)) {
	pods := k.client.CoreV1().Pods(pod.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		current, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if current.UID != pod.UID {
			return nil
		}
		mutate(&current.Status)
		_, err = pods.UpdateStatus(ctx, current, metav1.UpdateOptions{})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
		k.t.Logf("[pod %s/%s] kubelet: cannot update status: %v", pod.Namespace, pod.Name, err)
	}
}

// containerEnv resolves the container's environment as a kubelet would, on top of the image's.
func (k *Kubelet) containerEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container) ([]string, error) {
	env := append([]string{}, k.image.Env...)
	for _, v := range c.Env {
		value := v.Value
		if src := v.ValueFrom; src != nil {
			var err error
			if value, err = k.resolve(ctx, pod, src); err != nil {
				return nil, fmt.Errorf("env %s: %w", v.Name, err)
			}
		}
		env = append(env, v.Name+"="+expand(value, env))
	}
	return env, nil
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
		}
		return "", fmt.Errorf("field %s is not supported by the local kubelet", src.FieldRef.FieldPath)
	case src.SecretKeyRef != nil:
		s, err := k.client.CoreV1().Secrets(pod.Namespace).Get(ctx, src.SecretKeyRef.Name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		v, ok := s.Data[src.SecretKeyRef.Key]
		if !ok {
			return "", fmt.Errorf("secret %s has no key %s", src.SecretKeyRef.Name, src.SecretKeyRef.Key)
		}
		return string(v), nil
	case src.ConfigMapKeyRef != nil:
		cm, err := k.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, src.ConfigMapKeyRef.Name, metav1.GetOptions{})
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
