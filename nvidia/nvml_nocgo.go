//go:build !cgo || !linux

package nvidia

type noNVML struct{}

// NVML returns an Inspector that always answers ErrNotBuilt: this binary was
// built without cgo, so it cannot load the NVIDIA driver's library.
func NVML() Inspector { return noNVML{} }

func (noNVML) Inspect() (Info, error) { return Info{}, ErrNotBuilt }
