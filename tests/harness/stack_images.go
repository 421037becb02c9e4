package harness

import (
	"os"
	"path/filepath"
)

// The stack's images, besides the task image (any other valid name), which holds Python, flytekit,
// flyteactors and the test workflows, and not the executor: executor pods get it injected.
const (
	// ExecutorImage holds the executor, as images/executor/Dockerfile builds it: /actor-executor.
	ExecutorImage = "localhost/flyteactors/actor-executor:dev"
	// ImageWithoutFlytekit has a Python but neither flytekit nor flyteactors.
	ImageWithoutFlytekit = "localhost/python-without-flytekit:3.11"
	// ImageWhosePythonCrashes has everything, but its Python interpreter dies as it starts.
	ImageWhosePythonCrashes = "localhost/python-that-crashes:1"
)

// images describes the stack's images: the task image (the repository's .venv and the test workflows
// on PYTHONPATH, run in the storage root), the executor image (the executor the stack built), and two
// broken task images.
func (s *Stack) images(root, workflowSrc string) (Images, error) {
	base := []string{"HOME=" + s.dir, "PYTHONUNBUFFERED=1", "LANG=C.UTF-8"}
	task := Image{
		Env: append([]string{
			"PATH=" + filepath.Join(root, ".venv", "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
			"PYTHONPATH=" + workflowSrc,
		}, base...),
		Dir: s.StorageRoot,
	}
	crashing := filepath.Join(s.dir, "python-that-crashes")
	script := "#!/bin/sh\necho 'Fatal Python error: Segmentation fault' >&2\nkill -SEGV $$\n"
	if err := os.WriteFile(crashing, []byte(script), 0o755); err != nil {
		return Images{}, err
	}
	crashes := task
	crashes.Env = append(append([]string{}, task.Env...), "FLYTE_ACTOR_PYTHON="+crashing)
	return Images{
		fallback: task,
		named: map[string]Image{
			ExecutorImage:           {Env: base, Dir: "/", Files: map[string]string{"/actor-executor": filepath.Join(root, "bin", "actor-executor")}},
			ImageWithoutFlytekit:    {Env: append([]string{"PATH=" + os.Getenv("PATH")}, base...), Dir: s.StorageRoot},
			ImageWhosePythonCrashes: crashes,
		},
	}, nil
}
