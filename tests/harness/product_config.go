package harness

import (
	"fmt"
	"os"
	"path/filepath"
)

// writeConfigLayers lays out propeller's configuration as a cluster does when a product adds a file to
// flyte-core's (the flyte-actors chart's ConfigMap, mounted beside flyte-core's): the harness's own file
// first, the product's after it (if any), an operator's tuning last (if any), in one folder. It returns
// the --config pattern propeller loads them by; propeller merges the files in name order, maps key by
// key, with later files winning.
func writeConfigLayers(dir, harnessConfig, productConfig string, tuning []string) (string, error) {
	folder := filepath.Join(dir, "propeller-config")
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return "", err
	}
	own, err := os.ReadFile(harnessConfig)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(folder, "1-harness.yaml"), own, 0o644); err != nil {
		return "", err
	}
	// Earlier runs' files go: a layer that is not set again must not stay.
	stale, err := filepath.Glob(filepath.Join(folder, "[23]-*.yaml"))
	if err != nil {
		return "", err
	}
	for _, path := range stale {
		if err := os.Remove(path); err != nil {
			return "", err
		}
	}
	layers := map[string]string{}
	if productConfig != "" {
		layers["2-product.yaml"] = productConfig
	}
	for i, t := range tuning {
		layers[fmt.Sprintf("3-tuning-%02d.yaml", i)] = t
	}
	for name, layer := range layers {
		if err := os.WriteFile(filepath.Join(folder, name), []byte(layer), 0o644); err != nil {
			return "", err
		}
	}
	return filepath.Join(folder, "*.yaml"), nil
}
