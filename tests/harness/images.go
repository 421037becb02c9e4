package harness

import (
	"path"
	"regexp"
	"strings"
)

// Image is what a container's process runs in: the local stand-in for a container image.
type Image struct {
	// Env is the process environment before the container's own variables (PATH, PYTHONPATH, ...).
	Env []string
	// Dir is the process's working directory.
	Dir string
	// Files are the image's own files a container may name by absolute path (e.g. the executor image's
	// /actor-executor), with where they are on this machine.
	Files map[string]string
}

// Images are the images the local kubelet can "pull". A name it knows runs in its Image; any other
// valid name runs in the default image (task images, whose names flytekit makes up), except names on
// the reserved registry.invalid host, which fail to pull as from a registry that does not exist; an
// invalid name is InvalidImageName.
type Images struct {
	named    map[string]Image
	fallback Image
}

// UnpullableRegistry is the registry host whose images never pull.
const UnpullableRegistry = "registry.invalid"

// imageReference is the grammar of an image reference (docker's, simplified): an optional registry
// host with port, lowercase path components, an optional tag and digest.
var imageReference = regexp.MustCompile(`^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*` +
	`(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`)

// pullResult is why an image cannot be used: "" when it can.
type pullResult struct {
	reason, message string
}

// resolve returns the image of name, or why it cannot be pulled.
func (im Images) resolve(name string) (Image, pullResult) {
	switch {
	case !imageReference.MatchString(name):
		return Image{}, pullResult{"InvalidImageName", `couldn't parse image name "` + name + `": invalid reference format`}
	case strings.HasPrefix(name, UnpullableRegistry+"/"):
		return Image{}, pullResult{"ErrImagePull", `failed to pull image "` + name + `": dial tcp: lookup ` + UnpullableRegistry + `: no such host`}
	}
	if img, ok := im.named[name]; ok {
		return img, pullResult{}
	}
	return im.fallback, pullResult{}
}

// inImage maps an absolute path the container names to this machine: an image file, a path under a
// volume's mount, or the path itself.
func inImage(p string, img Image, mounts map[string]string) string {
	if host, ok := img.Files[p]; ok {
		return host
	}
	for mountPath, hostDir := range mounts {
		if p == mountPath || strings.HasPrefix(p, mountPath+"/") {
			return path.Join(hostDir, strings.TrimPrefix(p, mountPath))
		}
	}
	return p
}
