package fit

import "fmt"

// WriteModel writes m as a native model file that `retinad predict`, `bench` and `run` load.
func (m *LN) WriteModel(path string) error {
	return fmt.Errorf("fit: write %s: the native model format (infer.Save) has not landed yet; the fitted parameters are in the report", path)
}

// WriteModel writes m as a native model file that `retinad predict`, `bench` and `run` load.
func (m *GLM) WriteModel(path string) error {
	return fmt.Errorf("fit: write %s: the native model format (infer.Save) has not landed yet; the fitted parameters are in the report", path)
}
