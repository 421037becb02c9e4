package harness

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// retryInterval is how often the kubelet tries again to pull an image or resolve a container's
// environment.
const retryInterval = time.Second

// containerProcess is one running container: a process group.
type containerProcess struct{ cmd *exec.Cmd }

func (c *containerProcess) signal(sig syscall.Signal) error {
	if c.cmd.Process == nil {
		return errors.New("not started")
	}
	return syscall.Kill(-c.cmd.Process.Pid, sig)
}

// podRun is one pod as the kubelet runs it, with the status it writes.
type podRun struct {
	k      *Kubelet
	pod    *corev1.Pod
	proc   *podProcess
	status corev1.PodStatus
	// mounts are the pod's volumes' folders, by mount path, for the container running now.
	volumes map[string]string
}

// runPod schedules, binds and runs pod to its end.
func (k *Kubelet) runPod(ctx context.Context, pod *corev1.Pod, proc *podProcess) {
	r := &podRun{k: k, pod: pod, proc: proc}
	r.status.Phase = corev1.PodPending
	if why := k.unschedulable(pod); why != "" {
		r.status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: why, LastTransitionTime: metav1.Now()}}
		r.publish(ctx)
		return // a pod that does not fit stays pending until it is deleted
	}
	if pod.Spec.NodeName == "" {
		err := k.client.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: NodeName},
		}, metav1.CreateOptions{})
		if err != nil {
			if !apierrors.IsNotFound(err) && ctx.Err() == nil {
				k.t.Logf("[pod %s] kubelet: cannot bind: %v", proc.key, err)
			}
			return
		}
	}
	k.mu.Lock()
	k.started = append(k.started, proc.key)
	k.mu.Unlock()
	r.status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	r.status.HostIP, r.status.PodIP = "127.0.0.1", "127.0.0.1"
	r.status.StartTime = ptr.To(metav1.Now())
	for _, c := range pod.Spec.InitContainers {
		r.status.InitContainerStatuses = append(r.status.InitContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}})
	}
	primary := primaryContainer(pod)
	if primary == nil {
		r.end(ctx, "no containers")
		return
	}
	r.status.ContainerStatuses = []corev1.ContainerStatus{{Name: primary.Name, Image: primary.Image,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
	r.publish(ctx)

	volumes, err := k.volumesOf(pod)
	if err != nil {
		r.end(ctx, err.Error())
		return
	}
	r.volumes = volumes
	for i := range pod.Spec.InitContainers {
		code, ok := r.runContainer(ctx, &pod.Spec.InitContainers[i], &r.status.InitContainerStatuses[i], true)
		if !ok {
			return
		}
		if code != 0 {
			r.end(ctx, fmt.Sprintf("init container %s failed with exit code %d", pod.Spec.InitContainers[i].Name, code))
			return
		}
	}
	code, ok := r.runContainer(ctx, primary, &r.status.ContainerStatuses[0], false)
	if !ok {
		return
	}
	if code == 0 {
		r.status.Phase = corev1.PodSucceeded
	} else {
		r.status.Phase = corev1.PodFailed
	}
	r.status.Conditions = append(r.status.Conditions[:1], corev1.PodCondition{Type: corev1.PodReady,
		Status: corev1.ConditionFalse, Reason: "PodCompleted", LastTransitionTime: metav1.Now()})
	r.publish(ctx)
}

// runContainer prepares and runs c until it ends for good (as the restart policy says) and returns
// its last exit code; ok is false when the pod went away meanwhile.
func (r *podRun) runContainer(ctx context.Context, c *corev1.Container, status *corev1.ContainerStatus, init bool) (int32, bool) {
	for restarts := int32(0); ; restarts++ {
		argv, env, dir, ok := r.prepare(ctx, c, status)
		if !ok {
			return 0, false
		}
		logStart := r.k.logLen(r.proc.key)
		started := time.Now()
		code, ok := r.start(ctx, argv, env, dir, func() {
			status.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}}
			status.Ready, status.Started, status.RestartCount = !init, ptr.To(true), restarts
			if !init {
				r.status.Phase = corev1.PodRunning
				r.status.Conditions = append(r.status.Conditions[:1], corev1.PodCondition{Type: corev1.PodReady,
					Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
			}
			r.publish(ctx)
		})
		if !ok {
			return 0, false
		}
		finished := time.Now()
		r.k.recordRun(ContainerRun{Pod: r.proc.key, Container: c.Name, Init: init, Start: started, End: finished, ExitCode: code})
		terminated := &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Completed",
			StartedAt: metav1.NewTime(started), FinishedAt: metav1.NewTime(finished)}
		if code != 0 {
			terminated.Reason = "Error"
			if c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
				terminated.Message = r.k.logTail(r.proc.key, logStart)
			}
		}
		status.Ready = false
		if restartsAfter(r.pod.Spec.RestartPolicy, code) && !init && !r.k.gone(r.proc) && ctx.Err() == nil {
			r.k.t.Logf("[pod %s] kubelet: container %s exited with %d, restarting it (policy %s)", r.proc.key, c.Name, code, r.pod.Spec.RestartPolicy)
			status.LastTerminationState = corev1.ContainerState{Terminated: terminated}
			status.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
			r.publish(ctx)
			continue
		}
		status.State = corev1.ContainerState{Terminated: terminated}
		return code, true
	}
}

// restartsAfter tells whether a container that exited with code is started again under policy.
func restartsAfter(policy corev1.RestartPolicy, code int32) bool {
	return policy == corev1.RestartPolicyAlways || (policy == corev1.RestartPolicyOnFailure && code != 0)
}

// prepare pulls c's image and resolves its command and environment, waiting (and saying why in the
// container's status) while the image cannot be pulled or a Secret or ConfigMap it needs is missing.
func (r *podRun) prepare(ctx context.Context, c *corev1.Container, status *corev1.ContainerStatus) (argv, env []string, dir string, ok bool) {
	for tries := 0; ; tries++ {
		if r.k.gone(r.proc) || ctx.Err() != nil {
			return nil, nil, "", false
		}
		img, pull := r.k.images.resolve(c.Image)
		reason, message := pull.reason, pull.message
		if reason == "ErrImagePull" && tries > 0 {
			reason, message = "ImagePullBackOff", `Back-off pulling image "`+c.Image+`"`
		}
		if reason == "" {
			mounts := map[string]string{}
			for _, m := range c.VolumeMounts {
				if dir, ok := r.volumes[m.Name]; ok {
					mounts[m.MountPath] = dir
				}
			}
			var err error
			argv, env, err = r.k.command(ctx, r.pod, c, img, mounts)
			switch {
			case err == nil:
				return argv, env, img.Dir, true
			case errors.Is(err, errConfig):
				reason, message = "CreateContainerConfigError", strings.TrimPrefix(err.Error(), errConfig.Error()+": ")
			default:
				reason, message = "RunContainerError", err.Error()
			}
		}
		if status.State.Waiting == nil || status.State.Waiting.Reason != reason || status.State.Waiting.Message != message {
			status.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}
			r.publish(ctx)
		}
		select {
		case <-ctx.Done():
		case <-time.After(retryInterval):
		}
	}
}

// start runs one container process to its end; running is called once it runs. ok is false when the
// pod was deleted (SIGKILL) meanwhile or the process could not start (the pod has then ended).
func (r *podRun) start(ctx context.Context, argv, env []string, dir string, running func()) (code int32, ok bool) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, stderr := r.k.logWriter(r.proc.key), r.k.logWriter(r.proc.key)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	r.k.mu.Lock()
	if r.proc.stopping {
		r.k.mu.Unlock()
		_ = stdout.Close()
		_ = stderr.Close()
		return 0, false
	}
	err := cmd.Start()
	if err == nil {
		r.proc.cmd = &containerProcess{cmd: cmd}
	}
	r.k.mu.Unlock()
	if err != nil {
		_ = stdout.Close()
		_ = stderr.Close()
		r.end(ctx, err.Error())
		return 0, false
	}
	running()
	waitErr := cmd.Wait()
	_ = stdout.Close()
	_ = stderr.Close()
	r.k.mu.Lock()
	r.proc.cmd = nil
	deleted := r.proc.deleted
	r.k.mu.Unlock()
	if deleted {
		return 0, false
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
	return code, true
}

// end fails the pod for a reason of the kubelet's own.
func (r *podRun) end(ctx context.Context, message string) {
	r.k.t.Logf("[pod %s] kubelet: %s", r.proc.key, message)
	r.status.Phase, r.status.Message = corev1.PodFailed, message
	r.publish(ctx)
}

// publish writes the pod's status to the API server.
func (r *podRun) publish(ctx context.Context) {
	pods := r.k.client.CoreV1().Pods(r.pod.Namespace)
	status := *r.status.DeepCopy()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		current, err := pods.Get(ctx, r.pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if current.UID != r.pod.UID {
			return nil
		}
		current.Status = status
		_, err = pods.UpdateStatus(ctx, current, metav1.UpdateOptions{})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
		r.k.t.Logf("[pod %s] kubelet: cannot update status: %v", r.proc.key, err)
	}
}

// unschedulable says why pod does not fit on the node, or "" if it does.
func (k *Kubelet) unschedulable(pod *corev1.Pod) string {
	for name, capacity := range k.capacity {
		total := resourceRequest(pod.Spec.Containers, name)
		if init := resourceRequest(pod.Spec.InitContainers, name); init.Cmp(total) > 0 {
			total = init
		}
		if total.Cmp(capacity) > 0 {
			return fmt.Sprintf("0/1 nodes are available: 1 Insufficient %s.", name)
		}
	}
	return ""
}

func resourceRequest(containers []corev1.Container, name corev1.ResourceName) resource.Quantity {
	var total resource.Quantity
	for _, c := range containers {
		if q, ok := c.Resources.Requests[name]; ok {
			total.Add(q)
		} else if q, ok := c.Resources.Limits[name]; ok {
			total.Add(q) // as the API server defaults requests to limits
		}
	}
	return total
}
