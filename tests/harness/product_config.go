package harness

import (
	"os"
	"path/filepath"
)

// writeProductConfig lays out propeller's configuration as a cluster does when a product adds a file to
// flyte-core's (the flyte-actors chart's ConfigMap, mounted beside flyte-core's): the harness's own file
// first, the product's after it, in one folder. It returns the --config pattern propeller loads them
// by; propeller merges the files in name order, maps key by key, with later files winning.
func writeProductConfig(dir, harnessConfig, productConfig string) (string, error) {
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
	if err := os.WriteFile(filepath.Join(folder, "2-product.yaml"), []byte(productConfig), 0o644); err != nil {
		return "", err
	}
	return filepath.Join(folder, "*.yaml"), nil
}
