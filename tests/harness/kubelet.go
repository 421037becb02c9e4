package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// primaryContainerAnnotation is where Flyte's pod plugin names a pod's primary container.
const primaryContainerAnnotation = "primary_container_name"

// NodeName is the one node the local kubelet plays; it binds every pod it runs to it, so that the API
// server deletes them gracefully, as on a real node.
const NodeName = "local-kubelet"

// Kubelet plays the scheduler and the kubelet of one node for every pod in the API server, since no
// real ones run. It schedules a pod if its requests fit the node's capacity (else the pod stays
// Unschedulable), binds it, pulls its images (Images), resolves its environment (a missing Secret or
// ConfigMap is CreateContainerConfigError until it appears), runs its init containers in order and then
// its primary container, each as a local process group, restarts them as the restart policy says, and
// writes the pod's status back. Volumes are emptyDirs: folders on this machine, whose mount paths the
// containers' commands, arguments and variables are rewritten to. A pod being deleted gets SIGTERM, then
// SIGKILL after its grace period, and is then removed.
type Kubelet struct {
	t        T
	client   kubernetes.Interface
	images   Images
	capacity corev1.ResourceList
	// dir holds the pods' volumes.
	dir string

	mu    sync.Mutex // guards procs, started, runs and logs
	procs map[types.UID]*podProcess
	// started lists the pods the kubelet started, as namespace/name.
	started []string
	// runs lists the container processes that ended, in the order they ended.
	runs []ContainerRun
	// logs holds each pod's output lines, by namespace/name.
	logs map[string][]string
	wg   sync.WaitGroup
}

// podProcess is the kubelet's record of one pod it runs. The Kubelet's mutex guards it.
type podProcess struct {
	// key is the pod's namespace/name.
	key string
	// cmd is the container process running now, if any.
	cmd *containerProcess
	// stopping is set once the pod is being deleted: nothing more is started, and the running process
	// gets SIGTERM; deleted once the pod is gone: the process gets SIGKILL.
	stopping bool
	deleted  bool
	exited   chan struct{}
}

// startKubelet starts playing the node until ctx is done.
func startKubelet(ctx context.Context, t T, client kubernetes.Interface, images Images, dir string) (*Kubelet, error) {
	k := &Kubelet{t: t, client: client, images: images, dir: dir, procs: map[types.UID]*podProcess{}, logs: map[string][]string{},
		capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi")}}
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

// ContainerRun is one container process the kubelet ran to its end.
type ContainerRun struct {
	// Pod is the pod's namespace/name; Container the container's name; Init whether it is an init container.
	Pod, Container string
	Init           bool
	// Start is when the process started, End when it exited.
	Start, End time.Time
	ExitCode   int32
}

// ContainerRuns returns the container processes that ran to their end so far, in the order they ended.
func (k *Kubelet) ContainerRuns() []ContainerRun {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]ContainerRun(nil), k.runs...)
}

func (k *Kubelet) recordRun(run ContainerRun) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.runs = append(k.runs, run)
}

// Logs returns the output lines of pod namespace/name so far.
func (k *Kubelet) Logs(pod string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.logs[pod]...)
}

// Crash kills the processes of pod namespace/name (its container) as a crashing container dies, without
// deleting the pod: the pod's restart policy then decides whether its container starts again.
func (k *Kubelet) Crash(pod string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.procs {
		if p.key == pod && !p.deleted && p.cmd != nil {
			return p.cmd.signal(syscall.SIGKILL)
		}
	}
	return fmt.Errorf("no running container for pod %s", pod)
}

// ContainerPID returns the process id of the container pod (namespace/name) runs now, or 0.
func (k *Kubelet) ContainerPID(pod string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.procs {
		if p.key == pod && !p.deleted && p.cmd != nil && p.cmd.cmd.Process != nil {
			return p.cmd.cmd.Process.Pid
		}
	}
	return 0
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
		k.terminate(ctx, pod)
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
	k.wg.Add(1)
	k.mu.Unlock()
	go func() {
		defer k.wg.Done()
		defer close(proc.exited)
		k.runPod(ctx, pod.DeepCopy(), proc)
	}()
}

// terminate stops a pod being deleted as a kubelet does: SIGTERM to its running container, SIGKILL
// after the grace period, then the pod is removed from the API server.
func (k *Kubelet) terminate(ctx context.Context, pod *corev1.Pod) {
	k.mu.Lock()
	p := k.procs[pod.UID]
	if p == nil {
		p = &podProcess{key: pod.Namespace + "/" + pod.Name, exited: make(chan struct{})}
		close(p.exited)
		k.procs[pod.UID] = p
	}
	if p.stopping {
		k.mu.Unlock()
		return
	}
	p.stopping = true
	if p.cmd != nil {
		_ = p.cmd.signal(syscall.SIGTERM)
	}
	k.wg.Add(1)
	k.mu.Unlock()
	grace := time.Duration(corev1.DefaultTerminationGracePeriodSeconds) * time.Second
	if g := pod.DeletionGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	go func() {
		defer k.wg.Done()
		select {
		case <-p.exited:
		case <-time.After(grace):
			k.kill(pod.UID)
			<-p.exited
		case <-ctx.Done():
			return
		}
		err := k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
			k.t.Logf("[pod %s] kubelet: cannot remove the terminated pod: %v", p.key, err)
		}
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
	p.deleted, p.stopping = true, true
	if p.cmd != nil {
		// The whole group: an executor's Python runtimes die with it, as in a container.
		_ = p.cmd.signal(syscall.SIGKILL)
	}
}

// gone reports whether the pod is being deleted: nothing more may start.
func (k *Kubelet) gone(p *podProcess) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return p.stopping
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

// logTail returns the last lines of pod's log after line from, as a termination message under
// FallbackToLogsOnError: at most 80 lines and 2048 bytes, as the kubelet takes them.
func (k *Kubelet) logTail(pod string, from int) string {
	k.mu.Lock()
	lines := append([]string(nil), k.logs[pod][min(from, len(k.logs[pod])):]...)
	k.mu.Unlock()
	if len(lines) > 80 {
		lines = lines[len(lines)-80:]
	}
	tail := ""
	for _, l := range lines {
		tail += l + "\n"
	}
	if len(tail) > 2048 {
		tail = tail[len(tail)-2048:]
	}
	return tail
}

func (k *Kubelet) logLen(pod string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.logs[pod])
}

// volumesOf makes the pod's emptyDir volumes and returns their folders by name.
func (k *Kubelet) volumesOf(pod *corev1.Pod) (map[string]string, error) {
	dirs := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		if v.EmptyDir == nil {
			continue
		}
		dir := filepath.Join(k.dir, "pods", string(pod.UID), v.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		dirs[v.Name] = dir
	}
	return dirs, nil
}
