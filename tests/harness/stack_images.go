package harness

import (
	"errors"
	"io/fs"
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
	named := map[string]Image{
		ExecutorImage:           {Env: base, Dir: "/", Files: map[string]string{"/actor-executor": filepath.Join(root, "bin", "actor-executor")}},
		ImageWithoutFlytekit:    {Env: append([]string{"PATH=" + os.Getenv("PATH")}, base...), Dir: s.StorageRoot},
		ImageWhosePythonCrashes: crashes,
	}
	versions, err := FlytekitVersions()
	if err != nil {
		return Images{}, err
	}
	for _, v := range versions {
		named[FlytekitOnlyImage(v)] = Image{Env: append([]string{
			"PATH=" + filepath.Join(root, flytekitVenvs, v, "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
			"PYTHONPATH=" + workflowSrc,
		}, base...), Dir: s.StorageRoot}
	}
	return Images{fallback: task, named: named}, nil
}

// flytekitVenvs holds a virtualenv per flytekit version the project is tested on, with flytekit and
// nothing of this project (make venv-matrix).
const flytekitVenvs = ".venv-flytekit"

// FlytekitOnlyImage names the task image with Python and flytekit version and nothing of this project,
// the flytekit default image's kind: flyteactors comes from the executor image.
func FlytekitOnlyImage(version string) string { return "localhost/flytekit-only:" + version }

// FlytekitVersions returns the flytekit versions there are images of (FlytekitOnlyImage): those of
// the repository's .venv-flytekit, in name order.
func FlytekitVersions() ([]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(root, flytekitVenvs))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var versions []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(root, flytekitVenvs, e.Name(), ".installed")); err == nil {
			versions = append(versions, e.Name())
		}
	}
	return versions, nil
}
