package plugin

import (
	"path"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

const (
	// executorVolume is the emptyDir the executor is installed into; executorMount where it is mounted.
	executorVolume = "flyte-actor-executor"
	executorMount  = "/flyte-actor"
	// installContainerName names the init container that installs the executor.
	installContainerName = "install-actor-executor"
	// executorInImage is where the executor image holds the executor binary.
	executorInImage = "/actor-executor"
	// installUser is the user the install container runs as: the executor image's own (nonroot), not
	// root. What it writes is readable and executable by every user, whoever runs the task's image.
	installUser = 65532
)

// injectExecutor makes the executor pod run the executor whatever its image holds, when
// plugins.actor.executor-image is set: an init container from that image copies the static executor
// into an emptyDir shared with the primary container, whose command then runs it (the pattern of
// sidecar and agent injectors). Without an executor image the primary container runs
// plugins.actor.executor-command, which the image must provide. Either way, a primary container that
// fails reports the tail of its log as its termination message, so that why an executor could not
// start reaches the pod's status.
func injectExecutor(pod *corev1.Pod, primary string, cfg *Config) {
	container := containerNamed(pod, primary)
	if container == nil {
		return
	}
	container.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	if cfg.ExecutorImage == "" {
		return
	}
	mount := corev1.VolumeMount{Name: executorVolume, MountPath: executorMount}
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: executorVolume,
		VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{
		Name:            installContainerName,
		Image:           cfg.ExecutorImage,
		ImagePullPolicy: corev1.PullPolicy(cfg.ExecutorImagePullPolicy),
		Command:         []string{executorInImage, "install", executorMount},
		VolumeMounts:    []corev1.VolumeMount{mount},
		// The primary's own resources: an init container runs alone, so this adds nothing to what the
		// pod asks of its node, and it satisfies namespaces whose quota wants limits on every container.
		Resources:                *container.Resources.DeepCopy(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		// It only copies files: it runs as the restricted Pod Security Standard asks everywhere.
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To(int64(installUser)),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	})
	container.Command = []string{path.Join(executorMount, "actor-executor")}
	container.VolumeMounts = append(container.VolumeMounts, mount)
}

// containerNamed returns the pod's container called name, to be changed in place, or nil.
func containerNamed(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}
